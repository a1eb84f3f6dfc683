package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestGRUConvKernels holds every direct conv-GRU kernel (the Go one and each assembly one this
// CPU has) to the plain float64 sum of its definition, for tap counts from one to a 5x5 kernel
// over nine planes, one to three blocks, output planes further apart than the blocks, and
// random tap offsets (the kernel does not care where its inputs are).
func TestGRUConvKernels(t *testing.T) {
	ks := map[string]func(dst, src, w, bias []float32, offs []int32, nblk, oplane int){"go": gruConvGo}
	for name, k := range gruConvKernels() {
		ks[name] = k
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, taps := range []int{1, 2, 9, 27, 225} {
		for _, nblk := range []int{1, 2, 3} {
			oplane := nblk*gruConvBlock + r.IntN(3)
			src := make([]float32, 500+nblk*gruConvBlock)
			for i := range src {
				src[i] = float32(r.NormFloat64())
			}
			w, bias, offs := make([]float32, taps*gruConvGroup), make([]float32, gruConvGroup), make([]int32, taps)
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			for i := range bias {
				bias[i] = float32(r.NormFloat64())
			}
			for i := range offs {
				offs[i] = int32(r.IntN(501))
			}
			for name, k := range ks {
				dst := make([]float32, gruConvGroup*oplane)
				k(dst, src, w, bias, offs, nblk, oplane)
				for c := 0; c < gruConvGroup; c++ {
					for j := 0; j < nblk*gruConvBlock; j++ {
						want, mag := float64(bias[c]), math.Abs(float64(bias[c]))
						for i, o := range offs {
							p := float64(w[i*gruConvGroup+c]) * float64(src[int(o)+j])
							want, mag = want+p, mag+math.Abs(p)
						}
						if got := float64(dst[c*oplane+j]); math.Abs(got-want) > 3e-7*mag {
							t.Fatalf("%s, %d taps, %d blocks: channel %d output %d = %g, want %g", name, taps, nblk, c, j, got, want)
						}
					}
				}
				if oplane > nblk*gruConvBlock && dst[oplane-1] != 0 {
					t.Fatalf("%s wrote past its blocks: %g", name, dst[oplane-1])
				}
			}
		}
	}
	for name, k := range ks {
		if !panics(func() {
			k(make([]float32, 8*48), make([]float32, 60), make([]float32, 8), make([]float32, 8), []int32{13}, 1, 48)
		}) {
			t.Errorf("%s: no panic for inputs read past the end", name)
		}
	}
}

func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}

// TestGRUOpForms steps a conv-GRU op in its direct form (with each kernel) and in the other
// layers' convolutions' form over 60 random inputs: the states agree to 1e-5 at every step (8.7e-7 at most seen)
// (both forms match the goldens; this finds a difference in sizes and kernels they do not
// have: hidden sizes not a multiple of eight, kernels of 1 to 5, planes narrower than a block).
func TestGRUOpForms(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	kernels := map[string]func(dst, src, w, bias []float32, offs []int32, nblk, oplane int){"go": gruConvGo}
	for name, k := range gruConvKernels() {
		kernels[name] = k
	}
	saved := gruConvKernel
	defer func() { gruConvKernel = saved }()
	for _, sz := range []struct{ ci, hc, h, w, k int }{{8, 8, 26, 26, 3}, {3, 5, 7, 9, 3}, {2, 9, 11, 4, 5}, {4, 3, 6, 6, 1}, {1, 16, 30, 17, 3}} {
		t.Run(fmt.Sprintf("%d->%d@%dx%d_k%d", sz.ci, sz.hc, sz.h, sz.w, sz.k), func(t *testing.T) {
			tensor := func(s float64, shape ...int) *Tensor {
				d := make([]float32, numel(shape))
				for i := range d {
					d[i] = float32(r.NormFloat64() * s)
				}
				return &Tensor{Shape: shape, Data: d}
			}
			// Weights of torch's initial scale (1/sqrt(fan-in)), as infertest.RecurrentCNN's: much
			// larger recurrent ones make the update chaotic, and any two roundings part.
			fan := func(c int) float64 { return 1 / math.Sqrt(float64(c*sz.k*sz.k)) }
			l := &Layer{Type: ConvGRU, Weight: tensor(fan(sz.ci), 3*sz.hc, sz.ci, sz.k, sz.k), Bias: tensor(0.2, 3*sz.hc),
				WeightHH: tensor(fan(sz.hc), 3*sz.hc, sz.hc, sz.k, sz.k), BiasHH: tensor(0.2, 3*sz.hc)}
			xs := make([][]float32, 60)
			for i := range xs {
				xs[i] = tensor(1, sz.ci*sz.h*sz.w).Data
			}
			in := []int{sz.ci, sz.h, sz.w}
			gruConvKernel = nil
			ref := newGRUOp(l, in, nil)
			ops := map[string]*gruOp{}
			for name, k := range kernels {
				gruConvKernel = k
				ops[name] = newGRUOp(l, in, nil)
				if ops[name].direct == nil {
					t.Fatalf("%s: not the direct form", name)
				}
			}
			worst := map[string]float64{}
			for step, x := range xs {
				want := ref.apply(x)
				for name, o := range ops {
					got := o.apply(x)
					for i := range want {
						d := math.Abs(float64(got[i] - want[i]))
						if d > 1e-5 {
							t.Fatalf("%s, step %d: state[%d] = %g, want %g", name, step, i, got[i], want[i])
						}
						worst[name] = max(worst[name], d)
					}
				}
			}
			t.Logf("worst differences: %v", worst)
		})
	}
}

// BenchmarkGRUOp is the paper-size conv-GRU alone (8 channels in, 8 of state, 3x3 on 26x26)
// in each form: its two convolutions, the gates and the copies, one core.
func BenchmarkGRUOp(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	tensor := func(s float64, shape ...int) *Tensor {
		d := make([]float32, numel(shape))
		for i := range d {
			d[i] = float32(r.NormFloat64() * s)
		}
		return &Tensor{Shape: shape, Data: d}
	}
	l := &Layer{Type: ConvGRU, Weight: tensor(0.1, 24, 8, 3, 3), Bias: tensor(0.2, 24), WeightHH: tensor(0.1, 24, 8, 3, 3), BiasHH: tensor(0.2, 24)}
	x := tensor(1, 8*26*26).Data
	forms := map[string]func(dst, src, w, bias []float32, offs []int32, nblk, oplane int){"spectral": nil}
	for name, k := range gruConvKernels() {
		forms["direct-"+name] = k
	}
	saved := gruConvKernel
	defer func() { gruConvKernel = saved }()
	for name, k := range forms {
		b.Run(name, func(b *testing.B) {
			gruConvKernel = k
			o := newGRUOp(l, []int{8, 26, 26}, nil)
			times := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				o.apply(x)
				if len(times) < cap(times) {
					times = append(times, time.Since(t0))
				}
			}
			slices.Sort(times) // the median: on a shared machine the mean follows the scheduler
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "p50-us")
		})
	}
}
