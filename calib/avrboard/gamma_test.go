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
	"retinad/internal/testwait"
)

// TestGammaOnBoard runs the gamma measurement `retinad calibrate gamma` uses
// (photodiode.MeasureGamma) against the real firmware's level streaming: the simulated display
// has gamma 2.2, noise on A0 and the 10-bit ADC's steps, and the fit must recover the exponent
// within 0.02.
func TestGammaOnBoard(t *testing.T) {
	const gamma = 2.2
	l := startLevels(t, &avrboard.Display{Latency: 8 * time.Millisecond, Gamma: gamma, DarkMV: 200, LightMV: 4500})
	disp := l.disp
	g, err := photodiode.MeasureGamma(l.ctx, l.p, &l.m, photodiode.GammaOptions{Steps: 9, Hold: 400 * time.Millisecond, Show: l.show})
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

// levels is a board lit by a simulated display, read through calib's serial port by a
// Photodiode that streams the board's levels into m: the set-up of the level measurements'
// tests on the real firmware.
type levels struct {
	p    *calib.Photodiode
	m    calib.GammaMeter
	disp *avrboard.Display
	ctx  context.Context
}

// startLevels boots a board with noise on A0 (10 mV), lit by disp (its Board is set here), starts
// the Photodiode on it, and returns once their clocks are synced. Both stop when the test ends.
func startLevels(t *testing.T, disp *avrboard.Display) *levels {
	t.Helper()
	b := start(t) // the Photodiode below opens the port
	if err := b.SetNoise(10); err != nil {
		t.Fatal(err)
	}
	disp.Board = b
	l := &levels{disp: disp}
	l.p = calib.New(calib.Options{
		Dial:     func() (calib.Link, error) { return calib.OpenSerial(b.PTY, 115200, 50*time.Millisecond) },
		Name:     "avrboard",
		Baud:     115200,
		OnOnset:  func(calib.Onset) {},
		OnLevels: l.m.Levels,
		Light:    l.disp,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done }) // before the board's own clean-up closes it
	l.ctx = ctx
	testwait.Must(t, 10*time.Second, "20 pongs (clock sync)", func() bool { return l.p.Stats().Pongs.Load() >= 20 })
	return l
}

// show flips frame now with the patch at level (the display lights it through Options.Light):
// the measurements' Show.
func (l *levels) show(frame uint64, level float64) int64 {
	ns := clock.System{}.Now()
	l.p.Flip(frame, ns, level)
	return ns
}
