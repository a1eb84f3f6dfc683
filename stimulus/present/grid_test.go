package present

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestGridHoldsTheRate runs 100,000 frames of clock pacing on the virtual clock, with each
// frame's drawing and its swap and finish taking times drawn from a distribution (mean 0.3 ms,
// tail to 3 ms), and some frames made ready late by a known number of refreshes. Every frame must
// be shown exactly on its refresh of the grid, the mean interval must be the hold, each late
// frame must count the refreshes it missed and no other frame any.
func TestGridHoldsTheRate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		refresh   int64 // Hz
		ratio     int64
		lateEvery int // a frame in every lateEvery is made late (0: none)
	}{
		{"100Hz/steady", 100, 1, 0},
		{"100Hz/late", 100, 1, 997},
		{"120Hz-60fps/late", 120, 2, 499},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const frames = 100_000
			period := int64(time.Second) / tc.refresh
			hold := tc.ratio * period
			g := grid{period: period, ratio: tc.ratio}
			clk := fakeClock(5_000_000_000)
			rng := rand.New(rand.NewPCG(23, uint64(tc.refresh)))
			cost := func() int64 { // exponential, mean 0.3 ms, cut at 3 ms
				return int64(min(rng.ExpFloat64()*0.3e6, 3e6))
			}
			var first, last, t0, refreshes int64
			var firstRet, lastRet int64 // when the swaps returned, as the old pacing slept from
			var missed, injected int
			for i := 0; i < frames; i++ {
				clk.Advance(time.Duration(cost())) // upload, draw, finish
				want := 0
				if tc.lateEvery > 0 && i > 0 && i%tc.lateEvery == 0 {
					// ready half a refresh after the want-th refresh past the due one
					want = 1 + rng.IntN(3)
					clk.AdvanceTo(t0 + (refreshes+tc.ratio+int64(want-1))*period + period/2)
					injected += want
				}
				got := 0
				if g.started() {
					var at int64
					at, got = g.wait(clk)
					refreshes += tc.ratio + int64(want)
					if shown := t0 + refreshes*period; clk.Now() != shown || at != shown {
						t.Fatalf("frame %d shown at %d ns (woke at %d), want the grid's refresh %d at %d ns", i, at-t0, clk.Now()-t0, refreshes, shown-t0)
					}
				}
				if got != want {
					t.Fatalf("frame %d: missed %d refreshes, want %d", i, got, want)
				}
				missed += got
				at := clk.Now()
				clk.Advance(time.Duration(cost())) // swap and finish, which the grid must keep out of the schedule
				if !g.started() {
					g.start(at)
					t0, first, firstRet = at, at, clk.Now()
				}
				last, lastRet = at, clk.Now()
			}
			if missed != injected {
				t.Errorf("missed %d refreshes in all, injected %d", missed, injected)
			}
			mean := float64(last-first-int64(missed)*period) / (frames - 1)
			meanRet := float64(lastRet-firstRet-int64(missed)*period) / (frames - 1)
			for _, m := range []struct {
				what string
				ns   float64
			}{{"flip", mean}, {"swap return", meanRet}} {
				if rel := math.Abs(m.ns-float64(hold)) / float64(hold); rel > 1e-4 {
					t.Errorf("mean %s interval (late refreshes taken out) %.1f ns, want the hold %d ns within 0.01%% (off by %.4f%%)", m.what, m.ns, hold, 100*rel)
				}
			}
			t.Logf("%d frames, %d refreshes missed, mean interval %.3f ns, of the swap returns %.3f ns (hold %d)", frames, missed, mean, meanRet, hold)
		})
	}
}

// TestMissedSwaps: with vsync the swaps are the monitor's refreshes; an interval over ratio+0.5
// refreshes missed the refreshes past the hold, a shorter one none.
func TestMissedSwaps(t *testing.T) {
	p := int64(10 * time.Millisecond)
	for _, c := range []struct {
		dt, ratio int64
		want      int
	}{
		{p, 1, 0}, {p * 149 / 100, 1, 0}, {p * 151 / 100, 1, 1}, {2 * p, 1, 1}, {3 * p, 1, 2},
		{p / 2, 1, 0}, {2 * p, 2, 0}, {p * 249 / 100, 2, 0}, {3 * p, 2, 1}, {5 * p, 2, 3},
	} {
		if got := missedSwaps(c.dt, p, c.ratio); got != c.want {
			t.Errorf("missedSwaps(%v, %v, ratio %d) = %d, want %d", time.Duration(c.dt), time.Duration(p), c.ratio, got, c.want)
		}
	}
}
