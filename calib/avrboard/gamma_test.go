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

// TestGammaOnBoard runs the gamma measurement `retinad calibrate gamma` uses
// (photodiode.MeasureGamma) against the real firmware's level streaming: the simulated display
// has gamma 2.2, noise on A0 and the 10-bit ADC's steps, and the fit must recover the exponent
// within 0.02.
func TestGammaOnBoard(t *testing.T) {
	b := start(t) // the Photodiode below opens the port
	clk := clock.System{}
	const gamma = 2.2
	disp := &avrboard.Display{Board: b, Latency: 8 * time.Millisecond, Gamma: gamma, DarkMV: 200, LightMV: 4500}
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

	g, err := photodiode.MeasureGamma(ctx, p, m, photodiode.GammaOptions{
		Steps: 9, Hold: 400 * time.Millisecond,
		Show: func(frame uint64, level float64) int64 {
			ns := clk.Now()
			p.Flip(frame, ns, level) // the display lights it through Options.Light
			return ns
		},
	})
	if err != nil {
		t.Fatalf("%v (%s)", err, lags(disp, 9))
	}
	if errs := disp.Errs(); len(errs) > 0 {
		t.Fatal(errs)
	}
	t.Logf("fitted exponent %.4f (display %.1f), RMS %.4f, black %.4f, white %.4f", g.Exponent, gamma, g.RMS, g.Black, g.White)
	if math.Abs(g.Exponent-gamma) > 0.02 {
		t.Errorf("fitted gamma %.4f, want %.1f within 0.02 (%s)", g.Exponent, gamma, lags(disp, 9))
	}
}
