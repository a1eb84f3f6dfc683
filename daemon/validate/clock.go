package validate

import (
	"math"
	"slices"
)

// Robustness of the clock fit. An acquisition system's sync edges agree with the daemon's
// onsets to about a millisecond; a pair further than Gate from the fit is not the same event
// (a hostile or broken message), and one such burst must not move the fit.
const (
	// DefaultGate is how far (host ns) a pair may be from the fit and still join it.
	DefaultGate = 50_000_000
	// gateAfter is the number of pairs from which new pairs are gated against the fit (before,
	// the fit itself is median-based, so a minority of outliers among the first pairs is
	// ignored all the same).
	gateAfter = 8
	// ResetPairs and ResetSpan are the evidence that the acquisition clock really jumped (a
	// restarted acquisition system): pairs off the fit in a row for at least ResetSpan of host
	// time, no pair agreeing with the old fit among them, the newest ResetPairs of them
	// consistent with each other (one offset and a drift under MaxDrift, within Gate). Then
	// the fit restarts from those.
	ResetPairs = 20
	ResetSpan  = 2_000_000_000
	// MaxDrift bounds a plausible drift between two quartz clocks (1000 ppm).
	MaxDrift = 1e-3
)

// Clock maps the acquisition clock to host time from pairs (acquisition time, host time) of the
// same events, fitting host = acq + offset + drift*(acq - ref) over the last Cap pairs: least
// squares over the pairs within Gate of the pairs' median offset, then again over those within
// Gate of that line (a trimmed, iterated fit: outliers among the pairs do not move it). Once it
// has a few pairs, a new pair further than Gate from the fit is refused (Add reports false) and
// held as evidence; the fit restarts from such pairs only when they are many, span seconds and
// agree with each other. The zero value is not usable; use NewClock.
type Clock struct {
	Gate int64 // host ns; DefaultGate unless set before the first Add

	acq, host []int64 // ring of pairs
	n, next   int
	dirty     bool
	ref       int64   // acquisition time of the fit's origin
	offset    float64 // host - acq at ref, ns
	drift     float64 // d(host-acq)/d(acq), dimensionless

	cacq, chost []int64 // the newest pairs refused in a row, oldest first (the evidence of a jump)
	cn          int
	runFrom     int64 // host time of the first pair of the run refused in a row
	runN        int   // pairs in that run

	xs, ys, sorted []float64 // scratch, Cap long
	use            []bool

	// Refused counts pairs refused for being off the fit; Resets the times the fit restarted
	// on evidence.
	Refused, Resets uint64
}

// NewClock returns a clock fitting over the last capacity pairs (at least 2).
func NewClock(capacity int) *Clock {
	if capacity < 2 {
		panic("validate: NewClock capacity < 2")
	}
	return &Clock{
		Gate: DefaultGate,
		acq:  make([]int64, capacity), host: make([]int64, capacity),
		cacq: make([]int64, ResetPairs), chost: make([]int64, ResetPairs),
		xs: make([]float64, max(capacity, ResetPairs)), ys: make([]float64, max(capacity, ResetPairs)),
		sorted: make([]float64, capacity), use: make([]bool, max(capacity, ResetPairs)),
	}
}

// Add offers the pair: the event at acqNs on the acquisition clock happened at hostNs on the
// host. It reports whether the pair joined the fit; a pair off the fit is refused (and may,
// with others like it, restart the fit: see Clock).
func (c *Clock) Add(acqNs, hostNs int64) bool {
	if c.n >= gateAfter {
		want, ok := c.ToHost(acqNs)
		if !ok || math.Abs(float64(hostNs)-float64(want)) > float64(c.Gate) {
			c.Refused++
			c.evidence(acqNs, hostNs)
			return false
		}
	}
	c.cn, c.runN = 0, 0 // the fit holds: what was refused before was not a jump
	c.acq[c.next], c.host[c.next] = acqNs, hostNs
	c.next = (c.next + 1) % len(c.acq)
	if c.n < len(c.acq) {
		c.n++
	}
	c.dirty = true
	return true
}

// evidence keeps a refused pair and restarts the fit from the refused pairs when they prove a
// jump of the acquisition clock.
func (c *Clock) evidence(acqNs, hostNs int64) {
	if c.cn == len(c.cacq) {
		copy(c.cacq, c.cacq[1:])
		copy(c.chost, c.chost[1:])
		c.cn--
	}
	c.cacq[c.cn], c.chost[c.cn] = acqNs, hostNs
	c.cn++
	if c.runN == 0 {
		c.runFrom = hostNs
	}
	c.runN++
	if c.runN < ResetPairs || hostNs-c.runFrom < ResetSpan {
		return
	}
	ref, d0 := c.cacq[c.cn-1], float64(c.chost[c.cn-1]-c.cacq[c.cn-1])
	for i := 0; i < c.cn; i++ {
		c.xs[i], c.ys[i], c.use[i] = float64(c.cacq[i]-ref)*1e-9, float64(c.chost[i]-c.cacq[i])-d0, true
	}
	off, slope, ok := lsq(c.xs[:c.cn], c.ys[:c.cn], c.use[:c.cn])
	if !ok || math.Abs(slope*1e-9) > MaxDrift {
		return
	}
	for i := 0; i < c.cn; i++ {
		if math.Abs(c.ys[i]-(off+slope*c.xs[i])) > float64(c.Gate) {
			return
		}
	}
	copy(c.acq, c.cacq[:c.cn])
	copy(c.host, c.chost[:c.cn])
	c.n, c.next, c.cn, c.runN, c.dirty = c.cn, c.cn%len(c.acq), 0, 0, true
	c.Resets++
}

// Ready reports whether the clock has at least two pairs to fit.
func (c *Clock) Ready() bool { return c.n >= 2 }

// Pairs returns the number of pairs in the fit.
func (c *Clock) Pairs() int { return c.n }

func (c *Clock) fit() {
	if !c.dirty || c.n == 0 {
		return
	}
	c.dirty = false
	// Origin at the newest pair keeps the numbers small and the extrapolation short.
	newest := (c.next - 1 + len(c.acq)) % len(c.acq)
	c.ref = c.acq[newest]
	d0 := float64(c.host[newest] - c.acq[newest])
	xs, ys, use := c.xs[:c.n], c.ys[:c.n], c.use[:c.n]
	for i := range xs {
		xs[i] = float64(c.acq[i]-c.ref) * 1e-9 // seconds
		ys[i] = float64(c.host[i]-c.acq[i]) - d0
	}
	// Pass 1: the pairs near the median offset (outliers cannot move a median).
	sorted := append(c.sorted[:0], ys...)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	gate := float64(c.Gate)
	for i := range ys {
		use[i] = math.Abs(ys[i]-med) <= gate
	}
	off, slope, ok := lsq(xs, ys, use)
	if !ok {
		c.offset, c.drift = d0+med, 0
		return
	}
	// Pass 2: the pairs near that line.
	for i := range ys {
		use[i] = math.Abs(ys[i]-(off+slope*xs[i])) <= gate
	}
	if o2, s2, ok := lsq(xs, ys, use); ok {
		off, slope = o2, s2
	}
	c.drift = slope * 1e-9
	c.offset = d0 + off
}

// lsq fits y = off + slope*x by least squares over the points in use. With one point (or all
// at one x) the slope is 0; ok is false with none.
func lsq(xs, ys []float64, use []bool) (off, slope float64, ok bool) {
	var n, sx, sy, sxx, sxy float64
	for i, u := range use {
		if !u {
			continue
		}
		x, y := xs[i], ys[i]
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	if n == 0 {
		return 0, 0, false
	}
	if den := n*sxx - sx*sx; n >= 2 && den > 1e-18 {
		slope = (n*sxy - sx*sy) / den // ns per second
	}
	return (sy - slope*sx) / n, slope, true
}

// ToHost maps an acquisition time to host time; ok is false until Ready.
func (c *Clock) ToHost(acqNs int64) (hostNs int64, ok bool) {
	if !c.Ready() {
		return 0, false
	}
	c.fit()
	corr := c.offset + c.drift*(float64(acqNs)-float64(c.ref))
	if !(math.Abs(corr) < 1<<62) {
		return 0, false // far outside anything the fit knows
	}
	h := acqNs + int64(corr)
	if (corr > 0 && h < acqNs) || (corr < 0 && h > acqNs) {
		return 0, false // beyond the int64 range
	}
	return h, true
}

// Line returns the fit as one straight line, host = a + b*acq (b = 1 + drift), for code that
// maps many times at once in floating point (a session's export). With one pair it is that
// pair's offset (b = 1); with none, ok is false and the line is (0, 1).
func (c *Clock) Line() (a, b float64, ok bool) {
	if c.n == 0 {
		return 0, 1, false
	}
	c.fit()
	return c.offset - c.drift*float64(c.ref), 1 + c.drift, true
}

// OffsetNs returns the fitted host-minus-acquisition offset at the newest pair.
func (c *Clock) OffsetNs() float64 { c.fit(); return c.offset }

// DriftPPM returns the fitted drift of the acquisition clock against the host, parts per million
// (positive: host time runs faster).
func (c *Clock) DriftPPM() float64 { c.fit(); return c.drift * 1e6 }
