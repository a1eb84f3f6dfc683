package avrboard_test

import (
	"context"
	"math"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/avrboard"
	"retinad/calib/photodiode"
	"retinad/clock"
)

// TestThresholdOnBoard measures the threshold (photodiode.MeasureThreshold) on the real
// firmware's level streaming: dark at 400 mV and bright at 3600 mV of the 5 V full scale must
// give a threshold of 0.4 and a hysteresis of 0.2 x 0.64, within 2 ADC steps.
func TestThresholdOnBoard(t *testing.T) {
	b := start(t) // the Photodiode below opens the port
	clk := clock.System{}
	disp := &avrboard.Display{Board: b, Latency: 8 * time.Millisecond, DarkMV: 400, LightMV: 3600}
	if err := b.SetNoise(10); err != nil {
		t.Fatal(err)
	}
	m := &calib.GammaMeter{}
	p := calib.New(calib.Options{
		Dial:     func() (calib.Link, error) { return calib.OpenSerial(b.PTY, 115200, 50*time.Millisecond) },
		Name:     "avrboard",
		Baud:     115200,
		OnOnset:  func(calib.Onset) {},
		OnLevels: m.Levels,
		Light:    disp,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "20 pongs (clock sync)", func() bool { return p.Stats().Pongs.Load() >= 20 })

	th, err := photodiode.MeasureThreshold(ctx, p, m, photodiode.ThresholdOptions{Hold: 400 * time.Millisecond,
		Show: func(frame uint64, level float64) int64 {
			ns := clk.Now()
			p.Flip(frame, ns, level)
			return ns
		}})
	if err != nil {
		t.Fatalf("%v (%s)", err, lags(disp, 2))
	}
	t.Logf("dark %.4f bright %.4f: threshold %.4f hysteresis %.4f", th.Dark, th.Bright, th.Threshold, th.Hysteresis)
	const step = 64.0 / 65535 // one 10-bit ADC step
	if math.Abs(th.Threshold-0.4) > 2*step || math.Abs(th.Hysteresis-0.2*0.64) > 2*step {
		t.Errorf("threshold %.4f hysteresis %.4f: want 0.4 and %.4f within 2 ADC steps (%s)",
			th.Threshold, th.Hysteresis, 0.2*0.64, lags(disp, 2))
	}
}
