package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDenseOp holds the blocked dense layer, with the kernels in use (wide slabs where the
// CPU has them), with the 64-wide slabs alone, and with the pure-Go ones (narrow slabs only,
// as -tags purego builds), on one core and split across two and three (fewer nonzero inputs
// than cores too), to the plain row-by-row sum, for output counts around the slabs of 16, 64
// and 128 and inputs with no, some and only zeros (a ReLU's output).
func TestDenseOp(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 4))
	type kernels struct {
		narrow func(acc, w []float32, idx []int32, val []float32, in, nob int)
		wide   map[int]func(acc, w []float32, idx []int32, val []float32, in, nob int)
	}
	cases := map[string]kernels{"inuse": {denseBlocks, denseWideBlocks}, "go": {denseBlocksGo, nil}}
	if k := denseWideBlocks[denseWide64]; k != nil {
		cases["wide64"] = kernels{denseBlocks, map[int]func(acc, w []float32, idx []int32, val []float32, in, nob int){denseWide64: k}}
	}
	for name, k := range cases {
		for _, out := range []int{1, 15, 16, 17, 63, 64, 100, 127, 128, 300, 512} {
			for _, in := range []int{1, 3, 37, 700} {
				for _, zeros := range []float64{0, 0.5, 1} {
					for _, parts := range []int{1, 2, 3} {
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
						saved, savedWide := denseBlocks, denseWideBlocks
						denseBlocks, denseWideBlocks = k.narrow, k.wide
						p := newPool(parts)
						got := newDenseOp(w, bias, out, in, p).apply(x)
						p.close()
						denseBlocks, denseWideBlocks = saved, savedWide
						for c := 0; c < out; c++ {
							var want float64
							if bias != nil {
								want = float64(bias[c])
							}
							for i, v := range x {
								want += float64(w[c*in+i]) * float64(v)
							}
							if d := math.Abs(float64(got[c]) - want); d > 1e-5*math.Sqrt(float64(in))*(1+math.Abs(want)) {
								t.Fatalf("%s: out=%d in=%d zeros=%g, %d cores: output %d is %v, want %v", name, out, in, zeros, parts, c, got[c], want)
							}
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
	const in, nob = 301, 16 // two wide slabs' worth
	w, absw := make([]float32, nob*in*denseBlock), make([]float32, nob*in*denseBlock)
	for i := range w {
		w[i] = float32(r.NormFloat64())
		absw[i] = float32(math.Abs(float64(w[i])))
	}
	for _, nnz := range []int{0, 1, 2, 3, 4, 5, 7, 150, 301} {
		idx, val, absv := make([]int32, nnz), make([]float32, nnz), make([]float32, nnz)
		for k := range idx {
			idx[k], val[k] = int32(r.IntN(in)), float32(r.NormFloat64())
			absv[k] = float32(math.Abs(float64(val[k])))
		}
		widths := map[int]map[string]func(acc, w []float32, idx []int32, val []float32, in, nob int){denseBlock: denseKernels()}
		for width, k := range denseWideKernels() {
			widths[width] = map[string]func(acc, w []float32, idx []int32, val []float32, in, nob int){fmt.Sprintf("avx512-wide%d", width): k}
		}
		for width, ks := range widths {
			nb := nob * denseBlock / width
			if nb == 0 {
				nb = 1
			}
			want, bound := make([]float32, nb*width), make([]float32, nb*width)
			slabsGo(want, w[:nb*in*width], idx, val, in, nb, width)
			slabsGo(bound, absw[:nb*in*width], idx, absv, in, nb, width) // sum of |terms|: the rounding's scale
			for name, k := range ks {
				got := make([]float32, nb*width)
				for i := range got {
					got[i] = float32(math.NaN()) // every sum must be written
				}
				k(got, w[:nb*in*width], idx, val, in, nb)
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-6*(1+float64(bound[i]))) {
						t.Fatalf("%s: nnz=%d: sum %d is %v, want %v", name, nnz, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkDenseOp is the dense layers of the two memory-bound models of issue #24's sweep:
// 512 cells on 80x80 frames (8 x 56 x 56 inputs: 51 MB of weights) and 64 cells on 100x100
// (8 x 76 x 76: 12 MB), with none, half or all of the inputs zero (half: as after a ReLU;
// all: the layer's fixed cost. If half costs nearly what none does, the weights of the zero
// inputs are being fetched all the same). The layer in
// use (wide slabs where the CPU has AVX-512) on one core and split across two, narrow slabs
// only with each narrow kernel this CPU has, and plain row-by-row dot products for
// comparison.
func BenchmarkDenseOp(b *testing.B) {
	for _, shape := range []struct{ out, in int }{{512, 8 * 56 * 56}, {64, 8 * 76 * 76}} {
		b.Run(fmt.Sprintf("%dx%d", shape.out, shape.in), func(b *testing.B) { benchDenseOp(b, shape.out, shape.in) })
	}
}

func benchDenseOp(b *testing.B, out, in int) {
	r := rand.New(rand.NewPCG(1, 1))
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	inuse := newDenseOp(w, nil, out, in, nil)
	two := newPool(2)
	defer two.close()
	inuse2 := newDenseOp(w, nil, out, in, two)
	savedWide := denseWideBlocks
	denseWideBlocks = nil
	narrow := newDenseOp(w, nil, out, in, nil)
	denseWideBlocks = savedWide
	kernels := denseKernels()
	kernels["go"] = denseBlocksGo
	for _, zeros := range []int{0, 50, 100} {
		x := make([]float32, in)
		for i := range x {
			if r.IntN(100) >= zeros {
				x[i] = float32(r.NormFloat64())
			}
		}
		rate := func(b *testing.B) {
			b.ReportMetric(float64(len(w))*4*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s-of-weights")
		}
		for name, o := range map[string]*denseOp{"inuse": inuse, "inuse-2cores": inuse2} {
			b.Run(fmt.Sprintf("%s/zeros=%d%%", name, zeros), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					o.apply(x)
				}
				rate(b)
			})
		}
		for name, k := range kernels {
			b.Run(fmt.Sprintf("narrow-%s/zeros=%d%%", name, zeros), func(b *testing.B) {
				saved := denseBlocks
				denseBlocks = k
				defer func() { denseBlocks = saved }()
				for b.Loop() {
					narrow.apply(x)
				}
				rate(b)
			})
		}
		b.Run(fmt.Sprintf("rows/zeros=%d%%", zeros), func(b *testing.B) {
			y := make([]float32, out)
			for b.Loop() {
				for c := range y {
					y[c] = dot(w[c*in:(c+1)*in], x)
				}
			}
			rate(b)
		})
	}
}

// TestGatherNonzero holds the gather in use (AVX-512 where the CPU has it) to the Go loop on
// inputs around the kernel's blocks of 16, with no, some and only zeros, negative zeros (zero)
// and NaNs (nonzero, as the Go loop's x != 0 says), into buffers longer than the input whose
// tail must stay untouched.
func TestGatherNonzero(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 7))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 25088} {
		for _, zeros := range []float64{0, 0.5, 0.9, 1} {
			x := make([]float32, n)
			for i := range x {
				switch u := r.Float64(); {
				case u < zeros:
					if r.IntN(2) == 0 {
						x[i] = float32(math.Copysign(0, -1))
					}
				case u < zeros+0.02:
					x[i] = float32(math.NaN())
				default:
					x[i] = float32(r.NormFloat64())
				}
			}
			wantIdx, wantVal := make([]int32, n), make([]float32, n)
			want := gatherNonzeroGo(wantIdx, wantVal, x)
			idx, val := make([]int32, n+5), make([]float32, n+5)
			for i := n; i < n+5; i++ {
				idx[i], val[i] = -7, -7
			}
			got := gatherNonzero(idx, val, x)
			if got != want {
				t.Fatalf("n=%d zeros=%g: %d nonzero, want %d", n, zeros, got, want)
			}
			for k := 0; k < want; k++ {
				if idx[k] != wantIdx[k] || math.Float32bits(val[k]) != math.Float32bits(wantVal[k]) {
					t.Fatalf("n=%d zeros=%g: entry %d is input %d = %v, want %d = %v", n, zeros, k, idx[k], val[k], wantIdx[k], wantVal[k])
				}
			}
			for i := n; i < n+5; i++ {
				if idx[i] != -7 || val[i] != -7 {
					t.Fatalf("n=%d zeros=%g: wrote past the input, at %d", n, zeros, i)
				}
			}
		}
	}
}

// BenchmarkGatherNonzero is the dense layer's gather of the 80x80 x 512-cell model's 25088
// inputs, half of them zero at random: the Go loop and the one in use.
func BenchmarkGatherNonzero(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 8*56*56)
	for i := range x {
		if r.IntN(2) == 0 {
			x[i] = float32(r.NormFloat64())
		}
	}
	idx, val := make([]int32, len(x)), make([]float32, len(x))
	for name, g := range map[string]func(idx []int32, val []float32, x []float32) int{"go": gatherNonzeroGo, "inuse": gatherNonzero} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g(idx, val, x)
			}
		})
	}
}
