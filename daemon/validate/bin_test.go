package validate

import (
	"math"
	"slices"
	"testing"
)

// TestValidatorBin: a closed bin gives back its counts and each model's expected counts (NaN
// where a model predicted none); a bin still open, one never reported and one that left the ring
// give nothing.
func TestValidatorBin(t *testing.T) {
	const binNs = int64(10e6)
	v, err := New(Config{CellIDs: []int32{4, 9}, Models: []string{"a", "b"}, BinNs: binNs, Window: 4, History: 16})
	if err != nil {
		t.Fatal(err)
	}
	for f := int64(0); f < 10; f++ {
		if f == 6 {
			continue // never reported: a gap
		}
		v.Frame(f, f*binNs)
		v.Sync(f, f*binNs) // the acquisition clock is the host's
		v.Prediction(0, f, []float32{float32(100 * f), 50})
		if f%2 == 0 {
			v.Prediction(1, f, []float32{10, 20})
		}
	}
	// One spike of cell 9 in bin 3, two of cell 4 in bin 5; the batch covers bins up to 7.
	v.Spikes([]int32{9, 4, 4}, []int64{3*binNs + 1e6, 5*binNs + 2e6, 5*binNs + 3e6}, 8*binNs)
	if v.Closed() != 8 {
		t.Fatalf("closed up to frame %d, want 8", v.Closed())
	}
	for _, c := range []struct {
		frame     int64
		counts, a []float64
		bNaN      bool
	}{
		{3, []float64{0, 1}, []float64{3, 0.5}, true},
		{5, []float64{2, 0}, []float64{5, 0.5}, true},
		{4, []float64{0, 0}, []float64{4, 0.5}, false},
	} {
		counts, a, ok := v.Bin(c.frame, 0)
		_, b, _ := v.Bin(c.frame, 1)
		if !ok || !slices.Equal(counts, c.counts) || !close(a[0], c.a[0], 1e-6) || !close(a[1], c.a[1], 1e-6) || math.IsNaN(b[0]) != c.bNaN {
			t.Errorf("bin %d: counts %v, model a %v, model b %v (%v); want counts %v, a %v, b NaN %v", c.frame, counts, a, b, ok, c.counts, c.a, c.bNaN)
		}
	}
	for _, f := range []int64{6, 8, 9, -1} {
		if _, _, ok := v.Bin(f, 0); ok {
			t.Errorf("bin %d (a gap, still open or never held) is given", f)
		}
	}
	for f := int64(10); f < 40; f++ { // the ring (16 bins) moves past bin 3
		v.Frame(f, f*binNs)
	}
	if _, _, ok := v.Bin(3, 0); ok {
		t.Error("bin 3 is given after it left the ring")
	}
}
