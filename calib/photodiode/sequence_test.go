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

// ticker is a ShowFunc for the fake device: each flip at the next tick of a 100 Hz ticker (the
// link's Flip lights the fake device itself).
func ticker(t *testing.T) photodiode.ShowFunc {
	tk := time.NewTicker(10 * time.Millisecond)
	t.Cleanup(tk.Stop)
	return func(float64) (int64, error) { <-tk.C; return clock.System{}.Now(), nil }
}

// MeasureLatency on the fake device (8 ms +/- 0.5 ms over a real pty) recovers its latency, and
// VerifyEdges passes with its threshold: the sequence shared by every device's calibration.
func TestMeasureLatencyAndVerifySim(t *testing.T) {
	cfg := configs.Default().Photodiode
	ctx := context.Background()
	l, err := photodiode.MeasureLatency(ctx, cfg, 10*time.Millisecond, 200, ticker(t), calib.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", l)
	if math.Abs(l.MeanMs-8) > 0.3 || math.Abs(l.SdMs-0.5) > 0.2 || l.Frames < 198 || l.Dropped != 0 {
		t.Errorf("latency %+v: want 8 ms mean, 0.5 ms sd (within 0.3 and 0.2 ms), at least 198 frames timed, none dropped", l)
	}
	if err := photodiode.VerifyEdges(ctx, cfg, 40, ticker(t), calib.Options{}); err != nil {
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
