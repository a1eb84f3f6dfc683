package validate

import (
	"math"
	"math/rand/v2"
	"testing"
)

// pairs feeds c n honest pairs every 10 ms from host, on an acquisition clock offset by off
// with 20 ppm of drift and 2 us of jitter; it returns the next host time.
func pairs(t *testing.T, c *Clock, rng *rand.Rand, host int64, n int, off int64) int64 {
	t.Helper()
	for i := 0; i < n; i++ {
		host += 10e6
		if !c.Add(acqOf(host, off)+int64(rng.NormFloat64()*2000), host) {
			t.Fatalf("honest pair at host %d refused", host)
		}
	}
	return host
}

func acqOf(host, off int64) int64 { return int64(float64(host)*(1+20e-6)) + off }

func checkFit(t *testing.T, c *Clock, host, off int64, what string) {
	t.Helper()
	got, ok := c.ToHost(acqOf(host, off))
	if !ok || math.Abs(float64(got-host)) > 10_000 {
		t.Errorf("%s: ToHost(acq(%d)) = %d (ok %v), off by %d ns", what, host, got, ok, got-host)
	}
}

// TestClockRefusesABurst: 50 sync edges with time_acq_ns = MaxInt64/2 (and 50 more, each
// consistent with the others but 3 s off, within half a second) are refused and counted; the
// fit does not move.
func TestClockRefusesABurst(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := NewClock(1000)
	const off = int64(-3e9)
	host := pairs(t, c, rng, 1e12, 300, off)
	for i := 0; i < 50; i++ {
		host += 1e6
		if c.Add(math.MaxInt64/2, host) {
			t.Fatal("a pair at MaxInt64/2 joined the fit")
		}
	}
	checkFit(t, c, host, off, "after the MaxInt64/2 burst")
	for i := 0; i < 50; i++ {
		host += 10e6
		if c.Add(acqOf(host, off)+3e9, host) {
			t.Fatal("a pair 3 s off joined the fit")
		}
	}
	checkFit(t, c, host, off, "after a consistent burst of 0.5 s")
	if c.Refused != 100 || c.Resets != 0 {
		t.Errorf("refused %d, resets %d; want 100 and 0", c.Refused, c.Resets)
	}
	host = pairs(t, c, rng, host, 10, off)
	checkFit(t, c, host, off, "honest pairs after the bursts")
}

// TestClockOutliersAmongTheFirstPairs: before gating starts the fit is trimmed around the
// median, so a minority of wild pairs among the first ones does not move it.
func TestClockOutliersAmongTheFirstPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	c := NewClock(1000)
	const off = int64(7e9)
	host := int64(5e11)
	host = pairs(t, c, rng, host, 3, off)
	c.Add(math.MaxInt64/2, host+1)
	c.Add(-math.MaxInt64/2, host+2)
	host = pairs(t, c, rng, host, 2, off)
	checkFit(t, c, host, off, "two wild pairs among the first seven")
}

// TestClockResetsOnEvidence: the acquisition system restarts with a clock 42 s off; after
// ResetSpan of consistent pairs the fit follows it (and only then).
func TestClockResetsOnEvidence(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := NewClock(1000)
	const off, jumped = int64(1e9), int64(43e9)
	host := pairs(t, c, rng, 1e12, 500, off)
	start := host
	for c.Resets == 0 {
		host += 10e6
		c.Add(acqOf(host, jumped), host)
		if host-start > 10*ResetSpan {
			t.Fatalf("no reset after %d s of consistent pairs", (host-start)/1e9)
		}
	}
	if host-start < ResetSpan {
		t.Errorf("reset after %d ms, before ResetSpan", (host-start)/1e6)
	}
	checkFit(t, c, host, jumped, "after the reset")
	host = pairs(t, c, rng, host, 50, jumped)
	checkFit(t, c, host, jumped, "pairs after the reset")
}

// TestClockInterleavedOutliersNeverReset: hostile pairs between honest ones (a second
// publisher) are refused forever; the honest ones keep the fit.
func TestClockInterleavedOutliersNeverReset(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	c := NewClock(1000)
	const off = int64(2e9)
	host := pairs(t, c, rng, 1e12, 100, off)
	for i := 0; i < 1000; i++ {
		host = pairs(t, c, rng, host, 1, off)
		c.Add(acqOf(host, off)+5e9, host)
	}
	if c.Resets != 0 || c.Refused != 1000 {
		t.Errorf("resets %d, refused %d; want 0 and 1000", c.Resets, c.Refused)
	}
	checkFit(t, c, host, off, "interleaved")
}

// TestClockAllocs: Add and ToHost allocate nothing (they run per sync edge and spike batch).
func TestClockAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	c := NewClock(1000)
	host := pairs(t, c, rng, 1e12, 1000, 0)
	allocs := testing.AllocsPerRun(200, func() {
		host += 10e6
		c.Add(acqOf(host, 0), host)
		c.Add(acqOf(host, 0)+9e9, host)
		c.ToHost(acqOf(host, 0))
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Add, Add, ToHost", allocs)
	}
}

// FuzzClock offers a fitted clock fewer than ResetPairs arbitrary pairs among honest ones: it
// never panics, stays ready, and its fit of the honest clock moves by less than its Gate (no
// pair beyond the Gate joins it, and too few to restart it).
func FuzzClock(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(make([]byte, 16*19))
	f.Fuzz(func(t *testing.T, data []byte) {
		rng := rand.New(rand.NewPCG(11, 12))
		c := NewClock(200)
		const off = int64(4e9)
		host := pairs(t, c, rng, 1e12, 100, off)
		for i := 0; i+16 <= len(data) && i < 16*(ResetPairs-1); i += 16 {
			acq, h := int64(le64(data[i:])), int64(le64(data[i+8:]))
			c.Add(acq, h)
			if !c.Ready() {
				t.Fatal("a fitted clock is no longer ready")
			}
		}
		got, ok := c.ToHost(acqOf(host, off))
		if !ok || math.Abs(float64(got-host)) > float64(c.Gate) {
			t.Fatalf("after %d arbitrary pairs the fit is off by %d ns (ok %v)", len(data)/16, got-host, ok)
		}
		if c.Resets != 0 {
			t.Fatalf("fewer than ResetPairs pairs restarted the fit")
		}
	})
}

func le64(b []byte) uint64 {
	var x uint64
	for i := 7; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x
}

// TestClockLine: the straight line Line returns maps like ToHost (an export maps with it),
// with one pair it is that pair's offset, and with none it says so.
func TestClockLine(t *testing.T) {
	c := NewClock(500)
	if a, b, ok := c.Line(); ok || a != 0 || b != 1 {
		t.Errorf("Line of no pairs = %v, %v, %v; want 0, 1, false", a, b, ok)
	}
	c.Add(5e9, 2e9)
	if a, b, ok := c.Line(); !ok || a != -3e9 || b != 1 {
		t.Errorf("Line of one pair = %v, %v, %v; want -3e9, 1, true", a, b, ok)
	}
	c = NewClock(500)
	rng := rand.New(rand.NewPCG(1, 2))
	const off = 7e9
	host := pairs(t, c, rng, 1e12, 400, off)
	a, b, ok := c.Line()
	if !ok || math.Abs(b-1/(1+20e-6)) > 1e-7 {
		t.Fatalf("Line = %v, %v, %v; want the drift of 20 ppm", a, b, ok)
	}
	for _, h := range []int64{1e12, host - 2e9, host, host + 1e9} {
		acq := acqOf(h, off)
		want, _ := c.ToHost(acq)
		if got := a + b*float64(acq); math.Abs(got-float64(want)) > 1000 {
			t.Errorf("host %d: the line maps to %.0f, ToHost to %d", h, got, want)
		}
	}
}
