package calib_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/calibtest"
)

// TestRealtimeOnsetBias runs the fake device in real time over a real pty, as the daemon does
// in simulation, and checks that onsets carry no bias against the device's truth: the device
// answers pings as firmware does, from its receive path, so that the way back is no longer
// than the way out. (It once answered through a timer: on a loaded machine the timer's
// lateness lengthened every way back and put onsets 30-280 us late.)
func TestRealtimeOnsetBias(t *testing.T) {
	if testing.Short() {
		t.Skip("real time: 4 s")
	}
	clk := calib.SystemClock{}
	dev, err := calibtest.NewDevice(simCfg(), clk)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var onsets []calib.Onset
	p := calib.New(calib.Options{
		Dial:    func() (calib.Link, error) { return calib.OpenSerial(dev.Path(), 115200, 100*time.Millisecond) },
		Name:    dev.Path(),
		OnOnset: func(o calib.Onset) { mu.Lock(); onsets = append(onsets, o); mu.Unlock() },
		Light:   dev, Refresh: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); dev.Run(ctx) }()
	go func() { defer wg.Done(); p.Run(ctx) }()
	st := p.Stats()
	for deadline := time.Now().Add(5 * time.Second); st.Pongs.Load() < 32; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no clock sync in 5 s: %d pongs", st.Pongs.Load())
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	for f := uint64(0); f < 300; f++ {
		<-tick.C
		p.Flip(f, clk.Now(), float64(f%2))
	}
	tick.Stop()
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()

	var signed []float64
	for _, o := range onsets {
		if tr := dev.Truth(o.Frame); o.Status == calib.Timed && tr.Valid {
			signed = append(signed, float64(o.OnsetNs-tr.LightNs)/1e3)
		}
	}
	if len(signed) < 200 {
		t.Fatalf("%d of 300 frames timed (untimed %d, dropped %d, spurious %d), want 200 or more to measure a bias",
			len(signed), st.Untimed.Load(), st.Dropped.Load(), st.Spurious.Load())
	}
	slices.Sort(signed)
	q := func(f float64) float64 { return signed[int(f*float64(len(signed)-1))] }
	t.Logf("signed onset error (onset - truth) over %d frames: p1 %.1f us, p50 %.1f us, p99 %.1f us; sync residual %d ns",
		len(signed), q(0.01), q(0.5), q(0.99), st.SyncResidualNs.Load())
	if m := q(0.5); m > 50 || m < -50 {
		t.Errorf("median onset error %.1f us: want within +/- 50 us (a biased clock sync)", m)
	}
}
