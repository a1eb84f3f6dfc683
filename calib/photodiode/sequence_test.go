package photodiode_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/photodiode"
	"retinad/clock"
	"retinad/configs"
)

// monitor shows frames as a display does: a refresh apart at least, each stamped when handed
// over, so that its light is still to come. A goroutine woken late on a loaded machine shows
// fewer frames; it never shows two within one refresh, which no monitor can. (A time.Ticker
// read late does: its buffered tick and the next come a fraction of a millisecond apart, the
// fake device's jitter puts their edges out of order, and the earlier frame is judged dropped,
// its edge spurious.)
type monitor struct {
	refresh time.Duration
	last    int64 // host time of the last flip, 0 before the first
}

// flip waits until a refresh after the last flip and returns the new flip's time.
func (m *monitor) flip() int64 {
	clk := clock.System{}
	if m.last != 0 {
		time.Sleep(time.Duration(m.last + int64(m.refresh) - clk.Now()))
	}
	m.last = clk.Now()
	return m.last
}

// show is m as a ShowFunc for the fake device (the link's Flip lights it itself).
func (m *monitor) show(float64) (int64, error) { return m.flip(), nil }

// MeasureLatency on the fake device (8 ms +/- 0.5 ms over a real pty) recovers its latency, and
// VerifyEdges passes with its threshold: the sequence shared by every device's calibration.
func TestMeasureLatencyAndVerifySim(t *testing.T) {
	cfg := configs.Default().Photodiode
	ctx := context.Background()
	l, err := photodiode.MeasureLatency(ctx, cfg, 10*time.Millisecond, 200, (&monitor{refresh: 10 * time.Millisecond}).show, calib.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", l)
	if math.Abs(l.MeanMs-8) > 0.3 || math.Abs(l.SdMs-0.5) > 0.2 || l.Frames < 198 || l.Dropped != 0 {
		t.Errorf("latency %+v: want 8 ms mean, 0.5 ms sd (within 0.3 and 0.2 ms), at least 198 frames timed, none dropped", l)
	}
	if err := photodiode.VerifyEdges(ctx, cfg, 40, (&monitor{refresh: 10 * time.Millisecond}).show, calib.Options{}); err != nil {
		t.Errorf("VerifyEdges: %v", err)
	}
}

// A display that fails mid-sequence ends the measurement with its error, and a device that
// does not answer is named.
func TestSequenceErrors(t *testing.T) {
	cfg := configs.Default().Photodiode
	ctx := context.Background()
	broken := errors.New("present: SwapBuffers: GL_OUT_OF_MEMORY")
	n := 0
	show := func(float64) (int64, error) {
		if n++; n > 5 {
			return 0, broken
		}
		return clock.System{}.Now(), nil
	}
	if _, err := photodiode.MeasureLatency(ctx, cfg, 10*time.Millisecond, 100, show, calib.Options{}); !errors.Is(err, broken) {
		t.Errorf("MeasureLatency with a display failing at frame 5: %v, want its error", err)
	}
	quiet := cfg
	quiet.Device = "none"
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, _, err := photodiode.OpenSynced(short, quiet, 0, calib.Options{OnOnset: func(calib.Onset) {}})
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "photodiode: none: waiting for the clock sync: context deadline exceeded" {
		t.Errorf("OpenSynced with no device, given 200 ms: %v, want the device named and the deadline", err)
	}
}
