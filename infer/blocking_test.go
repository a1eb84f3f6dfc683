package infer

import (
	"fmt"
	"math"
	"testing"
)

// TestConvBlocking: the first layer's temporal blocking gives the rates of the unblocked ring
// (the same sums in another order) for every factor from 2 to beyond the window, on one core
// and on three, through a Reset and past it; and a ring with weight spectra above
// convBlockingMin blocks by convBlocking, one below does not.
func TestConvBlocking(t *testing.T) {
	m := cnn1x1()                            // History 4: factors 5 and 9 clamp to it
	for i := range m.Layers[0].Weight.Data { // every frame of the window weighed differently
		m.Layers[0].Weight.Data[i] = float32(0.1 * math.Cos(float64(i)*0.7))
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	frames := make([][]float32, 23)
	for i := range frames {
		frames[i] = make([]float32, m.Input.Height*m.Input.Width)
		for j := range frames[i] {
			frames[i][j] = float32(math.Sin(float64(i*131 + j*17))) // varied, reproducible
		}
	}
	rates := func(blocking, threads int) [][]float32 {
		s, err := NewStream(m, Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.first.(*convRing).setBlocking(blocking)
		var out [][]float32
		for i, f := range frames {
			if i == 11 {
				s.Reset()
			}
			r := make([]float32, len(m.Cells))
			if s.Step(f, r) {
				out = append(out, r)
			}
		}
		return out
	}
	want := rates(1, 1)
	if len(want) != (11-m.Input.History+1)+(len(frames)-11-m.Input.History+1) {
		t.Fatalf("%d steps gave rates", len(want))
	}
	for _, blocking := range []int{2, 3, 4, 5, 9} {
		for _, threads := range []int{1, 3} {
			t.Run(fmt.Sprintf("m=%d/threads=%d", blocking, threads), func(t *testing.T) {
				got := rates(blocking, threads)
				for i := range want {
					for c := range want[i] {
						if d := math.Abs(float64(got[i][c] - want[i][c])); d > 1e-5*(1+math.Abs(float64(want[i][c]))) {
							t.Fatalf("rates %d, cell %d: %v, want %v", i, c, got[i][c], want[i][c])
						}
					}
				}
			})
		}
	}
	small, big := cnn1x1(), cnn1x1()
	big.Input.Height, big.Input.Width = 300, 300 // one group of 4 channels x 4 frames x 300 x 151 values: 5.8 MB
	big.Layers[4].Weight = &Tensor{Shape: []int{2, 2 * 296 * 296}, Data: make([]float32, 2*2*296*296)}
	for name, c := range map[string]struct {
		m    *Model
		want int
	}{"small": {small, 1}, "big": {big, min(convBlocking, 4)}} {
		if err := c.m.Validate(); err != nil {
			t.Fatal(err)
		}
		s, err := NewStream(c.m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r := s.first.(*convRing); r.m != c.want {
			t.Errorf("%s (%d bytes of weight spectra): blocking %d, want %d", name, 4*len(r.mac.w), r.m, c.want)
		}
	}
}

// BenchmarkFirstLayerSums times a step of the blocked first layer of issue #24's 80x80 row (8
// channels x 40 frames, 15x15 kernels, blocking 4) with each set of spectral kernels this CPU
// has: "avx2" (both through the AVX2 kernel), "avx512" (the AVX-512 kernel, a pass per output)
// and "avx512-pair" (a pass over the weights per two outputs); "inuse" is what the engine picks.
func BenchmarkFirstLayerSums(b *testing.B) {
	l := &Layer{Type: Conv2D, Weight: &Tensor{Shape: []int{8, 40, 15, 15}, Data: make([]float32, 8*40*15*15)}}
	for i := range l.Weight.Data {
		l.Weight.Data[i] = float32(math.Sin(float64(i)))
	}
	type kernelSet struct {
		one cmacPlanarFunc
		two func(out0, out1 []complex64, cstride int, w, x []float32, xoff0, xoff1 []int, xstride, nk, nb, wskip int)
	}
	sets := map[string]kernelSet{"inuse": {cmacPlanar, cmacPlanar2}}
	ks := cmacKernels()
	if k := ks["avx2"]; k != nil {
		sets["avx2"] = kernelSet{k, cmacPlanarPair}
	}
	if k := ks["avx512"]; k != nil {
		sets["avx512"] = kernelSet{k, cmacPlanarPair}
		sets["avx512-pair"] = kernelSet{k, cmacPlanar2}
	}
	frame := make([]float32, 80*80)
	for i := range frame {
		frame[i] = float32(math.Cos(float64(i)))
	}
	for name, set := range sets {
		b.Run(name, func(b *testing.B) {
			one, two := cmacPlanar, cmacPlanar2
			cmacPlanar, cmacPlanar2 = set.one, set.two
			defer func() { cmacPlanar, cmacPlanar2 = one, two }()
			r := newConvRing(l, []int{40, 80, 80}, newPool(1))
			for range 40 {
				r.push(frame)
			}
			for b.Loop() {
				r.push(frame)
			}
			b.ReportMetric(float64(r.sumFLOPs())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
