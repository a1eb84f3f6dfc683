package infer

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

func TestSpectralMatchesDFT(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{1, 1}, {2, 3}, {5, 4}, {16, 16}, {50, 50}, {36, 36}, {7, 11}, {9, 14}, {12, 20}, {26, 19}, {20, 9}} {
		h, w := sz[0], sz[1]
		img := make([]float32, h*w)
		for i := range img {
			img[i] = float32(r.NormFloat64())
		}
		sp := newSpectral(h, w)
		spec := make([]complex64, h*sp.hf)
		sp.forward(img, spec)
		var worst float64
		for ky := 0; ky < h; ky++ {
			for fx := 0; fx < sp.hf; fx++ {
				var s complex128
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						s += complex(float64(img[y*w+x]), 0) * cmplx.Exp(complex(0, -2*math.Pi*(float64(ky*y)/float64(h)+float64(fx*x)/float64(w))))
					}
				}
				worst = max(worst, cmplx.Abs(s-complex128(spec[ky*sp.hf+fx])))
			}
		}
		if worst > 1e-4*float64(h*w) {
			t.Errorf("%dx%d: forward differs from the DFT by %g", h, w, worst)
		}
		for _, o := range [][2]int{{h, w}, {(h + 1) / 2, w - 1}} {
			if o[1] < 1 {
				continue
			}
			back := make([]float32, o[0]*o[1])
			s2 := append([]complex64{}, spec...)
			sp.inverse(s2, back, o[0], o[1], 0)
			for y := 0; y < o[0]; y++ {
				for x := 0; x < o[1]; x++ {
					if d := math.Abs(float64(back[y*o[1]+x])/float64(h*w) - float64(img[y*w+x])); d > 1e-5 {
						t.Fatalf("%dx%d: inverse to %v at (%d,%d) differs by %g", h, w, o, y, x, d)
					}
				}
			}
		}
	}
}

// TestFFTStages holds every transform, with the assembly stages where the CPU has them, to
// the pure-Go stages, forward and inverse, for lengths of every radix and numbers of
// sequences s on both sides of the vector width (tails included).
func TestFFTStages(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 16, 25, 26, 36, 50, 64, 100} {
		pl := newFFTPlan(n)
		for _, s := range []int{1, 3, 4, 5, 7, 8, 9, 13, 18, 19, 25, 26, 28} {
			for _, inv := range []bool{false, true} {
				x := make([]complex64, n*s)
				for i := range x {
					x[i] = complex(float32(r.NormFloat64()), float32(r.NormFloat64()))
				}
				x2 := append([]complex64{}, x...)
				got := pl.transform(x, make([]complex64, n*s), s, inv)
				want := pl.transformGo(x2, make([]complex64, n*s), s, inv)
				for i := range want {
					d := got[i] - want[i]
					if real(d)*real(d)+imag(d)*imag(d) > 1e-8*float32(n*n) {
						t.Fatalf("n=%d s=%d inv=%v: value %d is %v, want %v", n, s, inv, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func BenchmarkSpectral(b *testing.B) {
	for _, n := range []int{50, 36} {
		sp := newSpectral(n, n)
		img := make([]float32, n*n)
		for i := range img {
			img[i] = float32(i%7) - 3
		}
		spec := make([]complex64, n*sp.hf)
		out := make([]float32, n*n)
		b.Run(fmt.Sprintf("forward%d", n), func(b *testing.B) {
			for b.Loop() {
				sp.forward(img, spec)
			}
		})
		b.Run(fmt.Sprintf("inverse%d", n), func(b *testing.B) {
			for b.Loop() {
				sp.inverse(spec, out, n*18/25, n*18/25, 0)
			}
		})
	}
}

func (pl *fftPlan) transformGo(x, y []complex64, s int, inv bool) []complex64 {
	return pl.run(x, y, s, inv, false)
}

// TestSmoothSize: transform sizes are even products of 2, 3 and 5, the least at or above the
// image's size (86 = 2 x 43 would take a radix-43 stage).
func TestSmoothSize(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 7: 8, 14: 16, 15: 16, 36: 36, 43: 48, 50: 50, 66: 72, 86: 90, 100: 100} {
		if got := smoothSize(n); got != want {
			t.Errorf("smoothSize(%d) = %d, want %d", n, got, want)
		}
	}
}
