package infer

import (
	"math"
	"testing"
)

// TestFMAPeakKernels: every peak kernel runs exactly n iterations (its accumulator counts
// them), so that the FLOPs MeasureRoofline credits it with are the ones it did.
func TestFMAPeakKernels(t *testing.T) {
	ks := peakKernels()
	if ks == nil {
		ks = map[string]func(int) float32{}
	}
	ks["go"], ks["inuse"] = fmaPeakGo, fmaPeak
	for name, k := range ks {
		for _, n := range []int{1, 2, 7, 1000, 1 << 20} {
			if got := k(n); got != float32(n) {
				t.Errorf("%s: %d iterations counted %v", name, n, got)
			}
		}
	}
}

// TestMeasureRoofline: both figures are finite and at least what any core running this
// engine does (a gigabyte and a gigaflop a second), and the kernel named is the one in use.
func TestMeasureRoofline(t *testing.T) {
	r := MeasureRoofline(16 << 20)
	for name, v := range map[string]float64{"read bytes/s": r.ReadBytesPerSec, "cache read bytes/s": r.CacheReadBytesPerSec, "FLOP/s": r.FLOPsPerSec} {
		if math.IsInf(v, 0) || math.IsNaN(v) || v < 1e9 {
			t.Errorf("%s: %v", name, v)
		}
	}
	if r.Kernel != fmaPeakKernel {
		t.Errorf("kernel %q, want %q", r.Kernel, fmaPeakKernel)
	}
}

// TestBytesRead: the last step's bytes leave out exactly the weights of the dense layer's
// zero inputs, which its kernels skip; with no zero input they are BytesPerStep.
func TestBytesRead(t *testing.T) {
	m, err := Load("testdata/bncnn_paper.retinad")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStream(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var d *denseOp
	for _, o := range s.tail {
		if o, ok := o.(*denseOp); ok {
			d = o
		}
	}
	if d == nil {
		t.Fatal("the paper's model has no dense layer after its first")
	}
	width := int64(d.width()) // outputs rounded up to whole slabs
	x := make([]float32, d.in)
	for _, zeros := range []int{0, 1, d.in / 2, d.in} {
		for i := range x {
			x[i] = 0
			if i >= zeros {
				x[i] = float32(i%7) + 1
			}
		}
		d.apply(x)
		if got, want := s.BytesRead(), s.BytesPerStep()-4*int64(zeros)*width; got != want {
			t.Errorf("%d of %d inputs zero: %d bytes read, want %d", zeros, d.in, got, want)
		}
	}
}
