package calib

import "math"

// syncWindow is how many ping/pong samples the clock sync keeps; at the default 100 ms ping
// period that is the last 102 s: long enough to average the USB's one-way jitter out of the
// drift (1 ppm over 25.6 s windows, 0.1 ppm over 102 s in the simulated rig), short enough to
// follow a crystal warming up over hours.
const syncWindow = 1024

// ClockSync maps device microseconds to host nanoseconds from ping/pong samples: it keeps the
// last syncWindow samples, fits a line (offset and drift) through the eighth with the lowest
// round trips, whose midpoints are closest to the device's stamp, and reports the fit's
// residual. The zero value is ready. Not safe for concurrent use.
type ClockSync struct {
	s    [syncWindow]syncSample
	n    int // samples held
	next int // ring position of the next sample
	rtt  [syncWindow]int64

	ready    bool
	refDev   float64 // device us of the fit's origin
	refHost  float64 // host ns at refDev
	slope    float64 // host ns per device us (1000 when the clocks agree)
	residual float64 // RMS of the fit, ns
	used     int
}

type syncSample struct {
	sent, recv int64  // host ns: ping written, pong read
	dev        uint64 // device us when the ping arrived
}

// minSyncSamples is how many low-round-trip samples make a fit; minDriftSpanUS is the device
// time the samples must span before drift is fitted (before that it is taken as zero).
const (
	minSyncSamples = 4
	minDriftSpanUS = 1e6
)

// Add takes one ping/pong: the ping left at host time sent, the device stamped it dev, the
// pong was read at host time recv. Samples with recv < sent are ignored.
func (c *ClockSync) Add(sent, recv int64, dev uint64) {
	if recv < sent {
		return
	}
	c.s[c.next] = syncSample{sent, recv, dev}
	c.next = (c.next + 1) % syncWindow
	if c.n < syncWindow {
		c.n++
	}
	c.fit()
}

// Reset forgets every sample (a new device session: its clock may have restarted).
func (c *ClockSync) Reset() { *c = ClockSync{} }

// Ready reports whether ToHost can map device times.
func (c *ClockSync) Ready() bool { return c.ready }

// Residual is the RMS distance, in ns, of the used samples from the fitted line: how far apart
// the device's stamps and the round trips' midpoints are, a bound on the sync's own error.
func (c *ClockSync) Residual() float64 { return c.residual }

// DriftPPM is the fitted device clock rate error, parts per million (device fast > 0).
func (c *ClockSync) DriftPPM() float64 {
	if !c.ready || c.slope == 0 {
		return 0
	}
	return (1000/c.slope - 1) * 1e6
}

// ToHost maps a device time to host nanoseconds.
func (c *ClockSync) ToHost(dev uint64) (int64, bool) {
	if !c.ready {
		return 0, false
	}
	return int64(math.Round(c.refHost + c.slope*(float64(dev)-c.refDev))), true
}

func (c *ClockSync) fit() {
	k := c.n / 8
	if k < minSyncSamples {
		k = min(c.n, minSyncSamples)
	}
	if k < minSyncSamples {
		return
	}
	for i := 0; i < c.n; i++ {
		c.rtt[i] = c.s[i].recv - c.s[i].sent
	}
	limit := kth(c.rtt[:c.n], k-1)
	// The origin is the oldest sample, so that the numbers stay small.
	oldest := c.s[0]
	if c.n == syncWindow {
		oldest = c.s[c.next]
	}
	x0, y0 := float64(oldest.dev), float64(oldest.sent)
	var n, sx, sy float64
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for i := 0; i < c.n; i++ {
		s := c.s[i]
		if s.recv-s.sent > limit {
			continue
		}
		x := float64(s.dev) - x0
		y := float64(s.sent)/2 + float64(s.recv)/2 - y0
		n, sx, sy = n+1, sx+x, sy+y
		xmin, xmax = min(xmin, x), max(xmax, x)
	}
	mx, my := sx/n, sy/n
	slope := 1000.0
	if xmax-xmin >= minDriftSpanUS {
		var sxx, sxy float64
		for i := 0; i < c.n; i++ {
			s := c.s[i]
			if s.recv-s.sent > limit {
				continue
			}
			dx := float64(s.dev) - x0 - mx
			sxy += dx * (float64(s.sent)/2 + float64(s.recv)/2 - y0 - my)
			sxx += dx * dx
		}
		slope = sxy / sxx
	}
	var ss float64
	for i := 0; i < c.n; i++ {
		s := c.s[i]
		if s.recv-s.sent > limit {
			continue
		}
		r := float64(s.sent)/2 + float64(s.recv)/2 - y0 - (my + slope*(float64(s.dev)-x0-mx))
		ss += r * r
	}
	c.refDev, c.refHost, c.slope = x0+mx, y0+my, slope
	c.residual, c.used, c.ready = math.Sqrt(ss/n), int(n), true
}

// kth returns the k-th smallest of x (from 0), reordering x: Hoare's selection, linear on
// average, so that a fit over the whole window stays cheap.
func kth(x []int64, k int) int64 {
	lo, hi := 0, len(x)-1
	for lo < hi {
		pivot := x[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for x[i] < pivot {
				i++
			}
			for x[j] > pivot {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i, j = i+1, j-1
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return x[k]
		}
	}
	return x[k]
}
