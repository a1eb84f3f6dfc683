package acquisition

import (
	"fmt"
	"sync/atomic"
)

// Histogram counts durations (or any int64 nanoseconds, negative ones too) into fixed buckets.
// Observe is lock-free and allocates nothing, so the stamper and the publisher's goroutine can
// feed it per message; Snapshot, for /metrics and the dashboard, may be called from any
// goroutine. A snapshot taken while Observe runs may be off by the one observation in flight.
type Histogram struct {
	upper  []int64         // upper bounds, ns, ascending: bucket i holds x <= upper[i] (and > upper[i-1])
	counts []atomic.Uint64 // len(upper)+1: the last holds x > upper[len-1]
	sum    atomic.Int64    // ns
}

// NewHistogram returns a histogram with the given ascending upper bounds (ns). Unsorted or no
// bounds are a programmer's error (a panic).
func NewHistogram(upper ...int64) *Histogram {
	if len(upper) == 0 {
		panic("acquisition: NewHistogram with no bounds")
	}
	for i := 1; i < len(upper); i++ {
		if upper[i] <= upper[i-1] {
			panic(fmt.Sprintf("acquisition: NewHistogram bounds not ascending at %d", i))
		}
	}
	return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

// ExponentialNs returns n bounds: first, first*factor, ... (ns), for NewHistogram.
func ExponentialNs(first int64, factor float64, n int) []int64 {
	out := make([]int64, n)
	x := float64(first)
	for i := range out {
		out[i] = int64(x)
		x *= factor
	}
	return out
}

// Observe counts x (ns).
func (h *Histogram) Observe(x int64) {
	lo, hi := 0, len(h.upper) // the first bound >= x, by bisection (no closure: no allocation)
	for lo < hi {
		mid := (lo + hi) / 2
		if h.upper[mid] < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	h.counts[lo].Add(1)
	h.sum.Add(x)
}

// HistogramSnapshot is a histogram's counts at one moment, in Prometheus's shape: Cumulative[i]
// is how many observations were <= UpperNs[i]; Count includes those above the last bound.
type HistogramSnapshot struct {
	UpperNs    []int64
	Cumulative []uint64
	Count      uint64
	SumNs      int64
}

// Snapshot returns the counts now.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{UpperNs: h.upper, Cumulative: make([]uint64, len(h.upper)), SumNs: h.sum.Load()}
	var c uint64
	for i := range h.upper {
		c += h.counts[i].Load()
		s.Cumulative[i] = c
	}
	s.Count = c + h.counts[len(h.upper)].Load()
	return s
}

// Quantile estimates the q quantile (0..1) as the upper bound of the bucket that holds it (the
// last bound when it lies above them all); ok is false with no observations.
func (s HistogramSnapshot) Quantile(q float64) (ns int64, ok bool) {
	if s.Count == 0 {
		return 0, false
	}
	rank := uint64(q * float64(s.Count))
	for i, c := range s.Cumulative {
		if c > rank || (c == s.Count && c > 0) {
			return s.UpperNs[i], true
		}
	}
	return s.UpperNs[len(s.UpperNs)-1], true
}
