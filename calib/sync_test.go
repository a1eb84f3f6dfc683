package calib

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The sync follows a drifting, offset device clock for hours from noisy, asymmetric round
// trips, keeping its error well under the round trips' spread.
func TestClockSyncTracksDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const ppm = 50.0
	dev := func(host int64) uint64 { return uint64((float64(host)*(1+ppm*1e-6) + 3.6e12) / 1000) }
	var c ClockSync
	var worst float64
	host := int64(1e12)
	for i := 0; i < 3*3600*10; i++ { // 3 h of pings every 100 ms
		host += 100e6
		up := 50e3 + rng.Int64N(450e3)
		down := 50e3 + rng.Int64N(450e3)
		if rng.IntN(10) == 0 {
			down += rng.Int64N(5e6) // a scheduling hiccup
		}
		c.Add(host, host+up+down, dev(host+up))
		if i > 300 {
			probe := host + 50e6
			got, ok := c.ToHost(dev(probe))
			if !ok {
				t.Fatal("not ready after 300 samples")
			}
			worst = max(worst, math.Abs(float64(got-probe)))
		}
	}
	t.Logf("worst error %.1f us, residual %.1f us, drift %.3f ppm", worst/1e3, c.Residual()/1e3, c.DriftPPM())
	if worst > 100e3 {
		t.Errorf("worst mapping error %.1f us, want < 100 us", worst/1e3)
	}
	if math.Abs(c.DriftPPM()-ppm) > 2 {
		t.Errorf("drift %.3f ppm, want %v +/- 2", c.DriftPPM(), ppm)
	}
}

func TestKth(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 1; n < 60; n++ {
		x := make([]int64, n)
		for i := range x {
			x[i] = rng.Int64N(10) // many ties
		}
		sorted := slices.Clone(x)
		slices.Sort(sorted)
		for k := range n {
			if got := kth(slices.Clone(x), k); got != sorted[k] {
				t.Fatalf("kth(%v, %d) = %d, want %d", x, k, got, sorted[k])
			}
		}
	}
}
