package validate

// Clock maps the acquisition clock to host time from pairs (acquisition time, host time) of the
// same events, fitting host = acq + offset + drift*(acq - ref) by least squares over the last
// Cap pairs. The zero value is not usable; use NewClock.
type Clock struct {
	acq, host []int64 // ring of pairs
	n, next   int
	dirty     bool
	ref       int64   // acquisition time of the fit's origin
	offset    float64 // host - acq at ref, ns
	drift     float64 // d(host-acq)/d(acq), dimensionless
}

// NewClock returns a clock fitting over the last capacity pairs (at least 2).
func NewClock(capacity int) *Clock {
	if capacity < 2 {
		panic("validate: NewClock capacity < 2")
	}
	return &Clock{acq: make([]int64, capacity), host: make([]int64, capacity)}
}

// Add records that the event at acqNs on the acquisition clock happened at hostNs on the host.
func (c *Clock) Add(acqNs, hostNs int64) {
	c.acq[c.next], c.host[c.next] = acqNs, hostNs
	c.next = (c.next + 1) % len(c.acq)
	if c.n < len(c.acq) {
		c.n++
	}
	c.dirty = true
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
	var sx, sy, sxx, sxy float64
	for i := 0; i < c.n; i++ {
		x := float64(c.acq[i]-c.ref) * 1e-9 // seconds
		y := float64(c.host[i]-c.acq[i]) - d0
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	n := float64(c.n)
	den := n*sxx - sx*sx
	slope := 0.0
	if c.n >= 2 && den > 1e-18 {
		slope = (n*sxy - sx*sy) / den // ns per second
	}
	c.drift = slope * 1e-9
	c.offset = d0 + (sy-slope*sx)/n
}

// ToHost maps an acquisition time to host time; ok is false until Ready.
func (c *Clock) ToHost(acqNs int64) (hostNs int64, ok bool) {
	if !c.Ready() {
		return 0, false
	}
	c.fit()
	dx := float64(acqNs - c.ref)
	return acqNs + int64(c.offset+c.drift*dx), true
}

// OffsetNs returns the fitted host-minus-acquisition offset at the newest pair.
func (c *Clock) OffsetNs() float64 { c.fit(); return c.offset }

// DriftPPM returns the fitted drift of the acquisition clock against the host, parts per million
// (positive: host time runs faster).
func (c *Clock) DriftPPM() float64 { c.fit(); return c.drift * 1e6 }
