package photodiode_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/photodiode"
	"retinad/calib/simdevice"
	"retinad/clock"
	"retinad/configs"
	"retinad/internal/testwait"
	"retinad/stimulus/present"
)

// TestMeasureGamma streams levels from the fake device over a real pty in real time, its
// display's gamma known (2.2, and 1.8 to show nothing is assumed), with 0.2% of full scale
// noise on every sample: the fitted exponent must be within 0.02 of the truth, the measured
// table within 0.01 of the power law everywhere, and the table file must be one the
// presenter's inverse-gamma LUT accepts.
func TestMeasureGamma(t *testing.T) {
	for _, want := range []float64{2.2, 1.8} {
		l := startLevelLink(t, want)
		g, err := photodiode.MeasureGamma(l.ctx, l.p, &l.meter, photodiode.GammaOptions{Steps: 33, Hold: 40 * time.Millisecond, Show: l.show})
		l.stop()
		if err != nil {
			t.Fatal(err)
		}
		table := g.Table(present.LUTSize / 4)
		var worst float64
		for k, v := range table {
			worst = max(worst, math.Abs(v-math.Pow(float64(k)/float64(len(table)-1), want)))
		}
		t.Logf("display gamma %.1f: fitted %.4f (error %+.4f), rms %.4f; table off the power law by at most %.4f; black %.4f white %.4f",
			want, g.Exponent, g.Exponent-want, g.RMS, worst, g.Black, g.White)
		if math.Abs(g.Exponent-want) > 0.02 {
			t.Errorf("display gamma %.1f: fitted %.4f, want within 0.02", want, g.Exponent)
		}
		if worst > 0.01 {
			t.Errorf("display gamma %.1f: table off the power law by %.4f, want < 0.01", want, worst)
		}

		path := filepath.Join(t.TempDir(), "gamma.lut")
		if err := photodiode.WriteGammaTable(path, table, "test table\nsecond comment line"); err != nil {
			t.Fatal(err)
		}
		lut, err := present.InverseGamma(configs.Gamma{LUT: path})
		if err != nil {
			t.Fatalf("the presenter rejects the table: %v", err)
		}
		// The inverse LUT undoes the display: drive lut[k] lights k/(LUTSize-1).
		for _, k := range []int{100, 512, 900} {
			l := math.Pow(float64(lut[k]), want)
			if math.Abs(l-float64(k)/(present.LUTSize-1)) > 0.01 {
				t.Errorf("inverse LUT entry %d: drive %.4f lights %.4f, want %.4f", k, lut[k], l, float64(k)/(present.LUTSize-1))
			}
		}
	}
}

// TestWriteGammaKeepsLatency: the gamma block joins the calibration file beside the latency.
func TestWriteGammaKeepsLatency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rig.calibration.json")
	if err := photodiode.WriteLatency(path, photodiode.Latency{MeanMs: 8, Frames: 10}); err != nil {
		t.Fatal(err)
	}
	if err := photodiode.WriteGamma(path, photodiode.GammaCal{Exponent: 2.2, Steps: 33, LUT: "x.lut"}); err != nil {
		t.Fatal(err)
	}
	c, err := photodiode.ReadCalibration(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Latency == nil || c.Latency.MeanMs != 8 || c.Gamma == nil || c.Gamma.Exponent != 2.2 || c.Gamma.LUT != "x.lut" {
		b, _ := os.ReadFile(path)
		t.Errorf("calibration file lost a block:\n%s", b)
	}
}

// levelLink is the fake device (8 ms latency, 0.2% of full scale noise on every level sample)
// over a real pty in real time, and a Photodiode on it that streams the levels into meter: the
// set-up of the level measurements' tests.
type levelLink struct {
	p     *calib.Photodiode
	meter calib.GammaMeter
	ctx   context.Context
	stop  func() // ends both Runs and waits for them; also done when the test ends
}

// startLevelLink starts the device, its display's gamma set (0: the device's default, 2.2), and
// the Photodiode, and returns once their clocks are synced.
func startLevelLink(t *testing.T, gamma float64) *levelLink {
	t.Helper()
	dev, err := simdevice.NewDevice(simdevice.DeviceConfig{Latency: 8 * time.Millisecond, Jitter: 500 * time.Microsecond,
		DriftPPM: 50, Gamma: gamma, LevelNoise: 0.002, Seed: 7}, clock.System{})
	if err != nil {
		t.Fatal(err)
	}
	l := &levelLink{}
	l.p = calib.New(calib.Options{
		Dial:     func() (calib.Link, error) { return calib.OpenSerial(dev.Path(), 115200, 100*time.Millisecond) },
		OnOnset:  func(calib.Onset) {},
		OnLevels: l.meter.Levels,
		Light:    dev,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); dev.Run(ctx) }()
	go func() { defer wg.Done(); l.p.Run(ctx) }()
	l.ctx, l.stop = ctx, sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(l.stop)
	testwait.Must(t, 5*time.Second, "clock sync", func() bool { return l.p.Stats().Pongs.Load() >= 16 })
	return l
}

// show flips frame now with the patch at level: the measurements' Show.
func (l *levelLink) show(frame uint64, level float64) int64 {
	ns := clock.System{}.Now()
	l.p.Flip(frame, ns, level)
	return ns
}
