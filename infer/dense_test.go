package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDenseOp holds the blocked dense layer, with the kernel in use and with the pure-Go one,
// to the plain row-by-row sum, for output counts around the block of 16 and inputs with no,
// some and only zeros (a ReLU's output).
func TestDenseOp(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 4))
	kernels := map[string]func(acc, w []float32, idx []int32, val []float32, in, nob int){"inuse": denseBlocks, "go": denseBlocksGo}
	for name, k := range kernels {
		for _, out := range []int{1, 15, 16, 17, 64, 100} {
			for _, in := range []int{1, 3, 37, 1000} {
				for _, zeros := range []float64{0, 0.5, 1} {
					w := make([]float32, out*in)
					for i := range w {
						w[i] = float32(r.NormFloat64())
					}
					var bias []float32
					if out%2 == 1 {
						bias = make([]float32, out)
						for i := range bias {
							bias[i] = float32(r.NormFloat64())
						}
					}
					x := make([]float32, in)
					for i := range x {
						if r.Float64() >= zeros {
							x[i] = float32(r.NormFloat64())
						}
					}
					o := newDenseOp(w, bias, out, in, nil)
					saved := denseBlocks
					denseBlocks = k
					got := o.apply(x)
					denseBlocks = saved
					for c := 0; c < out; c++ {
						var want float64
						if bias != nil {
							want = float64(bias[c])
						}
						for i, v := range x {
							want += float64(w[c*in+i]) * float64(v)
						}
						if d := math.Abs(float64(got[c]) - want); d > 1e-5*math.Sqrt(float64(in))*(1+math.Abs(want)) {
							t.Fatalf("%s: out=%d in=%d zeros=%g: output %d is %v, want %v", name, out, in, zeros, c, got[c], want)
						}
					}
				}
			}
		}
	}
}

// TestDenseKernelsAgree runs every kernel this CPU has on the same blocks: the assembly (AVX2,
// AVX-512) is held to the pure-Go kernel that -tags purego builds use.
func TestDenseKernelsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	const in, nob = 301, 3
	w := make([]float32, nob*in*denseBlock)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	for _, nnz := range []int{0, 1, 2, 3, 4, 5, 7, 150, 301} {
		idx, val := make([]int32, nnz), make([]float32, nnz)
		for k := range idx {
			idx[k], val[k] = int32(r.IntN(in)), float32(r.NormFloat64())
		}
		want := make([]float32, nob*denseBlock)
		denseBlocksGo(want, w, idx, val, in, nob)
		for name, k := range denseKernels() {
			got := make([]float32, nob*denseBlock)
			for i := range got {
				got[i] = float32(math.NaN()) // every sum must be written
			}
			k(got, w, idx, val, in, nob)
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5*(1+math.Abs(float64(want[i])))) {
					t.Fatalf("%s: nnz=%d: sum %d is %v, want %v", name, nnz, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkDenseOp is the dense layer of a 512-cell model on 80x80 frames (8 x 56 x 56
// inputs; none or half of them zero, as after a ReLU): 51 MB of weights; each kernel this CPU
// has, and the plain row-by-row dot products for comparison.
func BenchmarkDenseOp(b *testing.B) {
	const out, in = 512, 8 * 56 * 56
	r := rand.New(rand.NewPCG(1, 1))
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	o := newDenseOp(w, nil, out, in, nil)
	kernels := denseKernels()
	kernels["go"] = denseBlocksGo
	for _, zeros := range []int{0, 50} {
		x := make([]float32, in)
		for i := range x {
			if r.IntN(100) >= zeros {
				x[i] = float32(r.NormFloat64())
			}
		}
		for name, k := range kernels {
			b.Run(fmt.Sprintf("%s/zeros=%d%%", name, zeros), func(b *testing.B) {
				saved := denseBlocks
				denseBlocks = k
				defer func() { denseBlocks = saved }()
				b.ReportAllocs()
				for b.Loop() {
					o.apply(x)
				}
				b.ReportMetric(float64(len(w))*4*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s-of-weights")
			})
		}
		b.Run(fmt.Sprintf("rows/zeros=%d%%", zeros), func(b *testing.B) {
			y := make([]float32, out)
			for b.Loop() {
				for c := range y {
					y[c] = dot(w[c*in:(c+1)*in], x)
				}
			}
			b.ReportMetric(float64(len(w))*4*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s-of-weights")
		})
	}
}
