package photodiode_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/calibtest"
	"retinad/calib/photodiode"
	"retinad/clock"
)

// TestMeasureThreshold measures the threshold on the fake device over a real pty: with the
// patch under the diode, midway between dark (0) and bright (1) with 20% hysteresis; with the
// diode off the patch (it sees the same light whatever is shown), a clear error.
func TestMeasureThreshold(t *testing.T) {
	for _, onPatch := range []bool{true, false} {
		dev, err := calibtest.NewDevice(calibtest.DeviceConfig{Latency: 8 * time.Millisecond, Jitter: 500 * time.Microsecond,
			DriftPPM: 50, LevelNoise: 0.002, Seed: 7}, clock.System{})
		if err != nil {
			t.Fatal(err)
		}
		var meter calib.GammaMeter
		p := calib.New(calib.Options{
			Dial:     func() (calib.Link, error) { return calib.OpenSerial(dev.Path(), 115200, 100*time.Millisecond) },
			OnOnset:  func(calib.Onset) {},
			OnLevels: meter.Levels,
			Light:    dev,
		})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); dev.Run(ctx) }()
		go func() { defer wg.Done(); p.Run(ctx) }()
		waitFor(t, "clock sync", func() bool { return p.Stats().Pongs.Load() >= 16 })
		clk := clock.System{}
		th, err := photodiode.MeasureThreshold(ctx, p, &meter, photodiode.ThresholdOptions{Hold: 60 * time.Millisecond,
			Show: func(f uint64, level float64) int64 {
				if !onPatch {
					level = 0.3 // the diode sees the room, not the patch
				}
				ns := clk.Now()
				p.Flip(f, ns, level)
				return ns
			}})
		cancel()
		wg.Wait()
		if !onPatch {
			if err == nil || !strings.Contains(err.Error(), "is the photodiode on the patch") {
				t.Errorf("diode off the patch: got %+v, %v; want the error saying the levels are too close", th, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("dark %.4f bright %.4f: threshold %.4f hysteresis %.4f", th.Dark, th.Bright, th.Threshold, th.Hysteresis)
		if math.Abs(th.Threshold-0.5) > 0.01 || math.Abs(th.Hysteresis-0.2) > 0.01 {
			t.Errorf("threshold %.4f hysteresis %.4f: want 0.5 and 0.2 within 0.01", th.Threshold, th.Hysteresis)
		}
	}
}
