package present

import "retinad/clock"

// grid is the simulated monitor's refresh grid for clock pacing: refreshes at t0 + k*period,
// t0 the first flip. A frame is shown at its due refresh (the previous frame's plus the hold),
// or, when it is ready only after that, at the first refresh after it is ready: the refreshes in
// between are missed, as on a vsync'd monitor. Sleeping to the grid instead of to the previous
// flip plus the hold keeps the swap and finish times out of the schedule, so it does not drift.
type grid struct {
	period, ratio int64 // ns per refresh; refreshes per stimulus frame
	t0            int64 // the grid's origin, the first flip; 0 before it
	k             int64 // the last frame's refresh, counted from t0
}

// start puts the grid's origin at the flip t (the first, or the first paced from the clock).
func (g *grid) start(t int64) { g.t0, g.k = t, 0 }

// started reports whether the grid has an origin.
func (g *grid) started() bool { return g.t0 != 0 }

// wait sleeps on c until the refresh that shows a frame ready now, and returns that refresh's
// time (the simulated monitor's flip) and the refreshes missed before it (0 when the frame was
// ready by its due refresh).
func (g *grid) wait(c clock.Clock) (at int64, missed int) {
	due := g.k + g.ratio
	k := due
	if late := c.Now() - (g.t0 + due*g.period); late > 0 {
		k += (late + g.period - 1) / g.period
	}
	g.k = k
	at = g.t0 + k*g.period
	clock.SleepUntil(c, at)
	return at, int(k - due)
}

// missedSwaps is the refreshes missed before a flip dt after the previous one when the swaps
// themselves wait for the monitor (vsync): an interval over ratio+0.5 refreshes came late by
// round(dt/period) - ratio refreshes.
func missedSwaps(dt, period, ratio int64) int {
	if n := (dt + period/2) / period; n > ratio {
		return int(n - ratio)
	}
	return 0
}
