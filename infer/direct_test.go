package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvForms holds the direct convolution (kernel in use, and pure Go) to the frequency
// domain's on the same layer and input, for kernels from 1x1 to wider than the transform's
// padding, odd and even sizes, one and several output channels, with and without a pool.
func TestConvForms(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ ci, co, h, w, kh, kw int }{
		{1, 1, 5, 5, 1, 1}, {2, 3, 9, 8, 3, 3}, {3, 5, 14, 14, 5, 5}, {4, 8, 36, 36, 11, 11}, {2, 4, 17, 23, 3, 7}, {8, 8, 86, 86, 3, 3},
	} {
		l := &Layer{Type: Conv2D, Weight: &Tensor{Shape: []int{c.co, c.ci, c.kh, c.kw}, Data: make([]float32, c.co*c.ci*c.kh*c.kw)},
			Bias: &Tensor{Shape: []int{c.co}, Data: make([]float32, c.co)}}
		for i := range l.Weight.Data {
			l.Weight.Data[i] = float32(r.NormFloat64())
		}
		for i := range l.Bias.Data {
			l.Bias.Data[i] = float32(r.NormFloat64())
		}
		x := make([]float32, c.ci*c.h*c.w)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		in := []int{c.ci, c.h, c.w}
		want := newConvOp(l, in, nil).apply(x)
		for name, k := range map[string]func([]float32, []float32, float32, int, int, int){"inuse": rowsFMA, "go": rowsFMAGo} {
			for _, parts := range []int{1, 3} {
				p := newPool(parts)
				saved := rowsFMA
				rowsFMA = k
				got := newDirectConvOp(l, in, p).apply(x)
				rowsFMA = saved
				p.close()
				tol := 1e-5 * math.Sqrt(float64(c.ci*c.kh*c.kw))
				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("%+v %s, %d cores: output %d is %v, frequency domain %v", c, name, parts, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestConvChoice: the frequency domain for the paper's 11x11 kernels and for 8 channels of
// 3x3 (the transforms are shared by 64 channel pairs), the direct form for 1x1 kernels and for
// a single channel pair of 2x2.
func TestConvChoice(t *testing.T) {
	for _, c := range []struct {
		ci, co, h, w, kh, kw int
		direct               bool
	}{{8, 8, 36, 36, 11, 11, false}, {8, 8, 86, 86, 11, 11, false}, {8, 8, 36, 36, 3, 3, false}, {8, 8, 86, 86, 3, 3, false},
		{8, 8, 36, 36, 1, 1, true}, {1, 1, 20, 20, 2, 2, true}} {
		d, f := convCost(c.ci, c.co, c.h, c.w, c.kh, c.kw)
		if (d <= f) != c.direct {
			t.Errorf("%+v: direct %d, frequency %d operations: want direct %v", c, d, f, c.direct)
		}
	}
}

// BenchmarkConvForms times both forms of a layer, for the choice's cost model.
func BenchmarkConvForms(b *testing.B) {
	for _, c := range []struct{ ci, co, h, kh int }{{8, 8, 36, 3}, {8, 8, 86, 3}, {8, 8, 36, 5}, {8, 8, 36, 11}, {4, 2, 14, 5}} {
		l := &Layer{Type: Conv2D, Weight: &Tensor{Shape: []int{c.co, c.ci, c.kh, c.kh}, Data: make([]float32, c.co*c.ci*c.kh*c.kh)}}
		in := []int{c.ci, c.h, c.h}
		x := make([]float32, c.ci*c.h*c.h)
		d, f := convCost(c.ci, c.co, c.h, c.h, c.kh, c.kh)
		for name, o := range map[string]op{"direct": newDirectConvOp(l, in, nil), "freq": newConvOp(l, in, nil)} {
			b.Run(fmt.Sprintf("%dx%d_%dx%d_k%d/%s(d%d,f%d)", c.ci, c.co, c.h, c.h, c.kh, name, d, f), func(b *testing.B) {
				for b.Loop() {
					o.apply(x)
				}
			})
		}
	}
}

// TestStreamPicksDirect: the engine suite's cnn-1x1 model runs its second layer in the direct
// form (so the suite covers it), the paper's in the frequency domain.
func TestStreamPicksDirect(t *testing.T) {
	paper, err := Load("testdata/bncnn_paper.retinad")
	if err != nil {
		t.Fatal(err)
	}
	for path, c := range map[string]struct {
		m    *Model
		want bool
	}{"paper": {paper, false}, "cnn-1x1": {cnn1x1(), true}} {
		m, want := c.m, c.want
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		s, err := NewStream(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := hasDirect(s); got != want {
			t.Errorf("%s: direct form %v, want %v", path, got, want)
		}
	}
}

func hasDirect(s *Stream) bool {
	for _, o := range s.tail {
		if _, ok := o.(*directConvOp); ok {
			return true
		}
	}
	return false
}

// cnn1x1 is the geometry of the engine suite's cnn-1x1 model (enginetest, which this package's
// own tests cannot import): 4x12x12, 3@5x5, 2@1x1, 2 cells.
func cnn1x1() *Model {
	t := func(shape ...int) *Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = 0.1
		}
		return &Tensor{Shape: shape, Data: d}
	}
	return &Model{Kind: CNN, Input: Input{History: 4, Height: 12, Width: 12, FrameRate: 100, Std: 1}, OutputScale: 1, Cells: []int64{1, 2},
		Layers: []Layer{{Type: Conv2D, Weight: t(3, 4, 5, 5)}, {Type: ReLU}, {Type: Conv2D, Weight: t(2, 3, 1, 1)}, {Type: ReLU},
			{Type: Dense, Weight: t(2, 2*8*8)}, {Type: Softplus}}}
}
