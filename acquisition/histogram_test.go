package acquisition

import (
	"slices"
	"testing"
)

// TestHistogram: each value lands in the first bucket whose bound holds it (bounds inclusive,
// negative values too, above the last bound only in Count), the snapshot is cumulative, and the
// quantile is the bound of the bucket that holds it.
func TestHistogram(t *testing.T) {
	h := NewHistogram(-10, 0, 10, 100)
	for _, x := range []int64{-50, -10, -9, 0, 1, 10, 11, 100, 1000} {
		h.Observe(x)
	}
	s := h.Snapshot()
	if want := []uint64{2, 4, 6, 8}; !slices.Equal(s.Cumulative, want) || s.Count != 9 || s.SumNs != 1053 {
		t.Fatalf("cumulative %v count %d sum %d, want %v, 9, 1053", s.Cumulative, s.Count, s.SumNs, want)
	}
	for q, want := range map[float64]int64{0: -10, 0.5: 10, 0.99: 100} {
		if got, ok := s.Quantile(q); !ok || got != want {
			t.Errorf("quantile %v = %d (%v), want %d", q, got, ok, want)
		}
	}
	if _, ok := NewHistogram(1).Snapshot().Quantile(0.5); ok {
		t.Error("quantile of an empty histogram is known")
	}
}

func TestHistogramObserveAllocatesNothing(t *testing.T) {
	h := NewHistogram(ExponentialNs(1000, 2, 21)...)
	x := int64(0)
	if n := testing.AllocsPerRun(1000, func() { x += 777; h.Observe(x) }); n != 0 {
		t.Errorf("Observe allocates %v times", n)
	}
}

func TestHistogramBoundsMustAscend(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewHistogram(2, 1) did not panic")
		}
	}()
	NewHistogram(2, 1)
}
