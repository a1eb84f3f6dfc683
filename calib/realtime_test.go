package calib_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/simdevice"
	"retinad/clock"
	"retinad/internal/testwait"
)

// TestRealtimeOnsetBias runs the fake device in real time over a real pty, as the daemon does
// in simulation, and checks that onsets carry no bias against the device's truth: the device
// answers pings as firmware does, from its receive path, so that the way back is no longer
// than the way out. (It once answered through a timer: on a loaded machine the timer's
// lateness lengthened every way back and put onsets 30-280 us late, in every run.)
//
// A run shares this machine's two cores with the rest of the suite, and a run where the host's
// reader is starved for the whole sync can be off by a scheduling delay (67 us once in CI). A
// biased sync is biased in every run, so the test fails only when three runs in a row are.
func TestRealtimeOnsetBias(t *testing.T) {
	if testing.Short() {
		t.Skip("real time: 4 s per run")
	}
	var runs []string
	for attempt := 1; attempt <= 3; attempt++ {
		median, summary := onsetBiasRun(t)
		t.Logf("run %d: %s", attempt, summary)
		if median <= 50 && median >= -50 {
			return
		}
		runs = append(runs, fmt.Sprintf("%.1f us", median))
	}
	t.Errorf("median onset error %v in three runs: want within +/- 50 us in at least one (a biased clock sync)", runs)
}

// onsetBiasRun shows 300 frames at 100 Hz against a fresh fake device and returns the median
// signed onset error (onset - truth) in us, and a summary line.
func onsetBiasRun(t *testing.T) (float64, string) {
	clk := clock.System{}
	dev, err := simdevice.NewDevice(simCfg(), clk)
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
		// Pings 20 times as often as the daemon's default, so that these 4 s hold as many
		// round trips to choose the quickest from as the daemon has after 80 s.
		PingEvery: 5 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); dev.Run(ctx) }()
	go func() { defer wg.Done(); p.Run(ctx) }()
	st := p.Stats()
	if !testwait.Until(5*time.Second, func() bool { return st.Pongs.Load() >= 100 }) {
		cancel()
		wg.Wait()
		t.Fatalf("no clock sync in 5 s: %d pongs", st.Pongs.Load())
	}
	tick := time.NewTicker(10 * time.Millisecond)
	for f := uint64(0); f < 300; f++ {
		<-tick.C
		p.Flip(f, clk.Now(), float64(f%2))
	}
	tick.Stop()
	testwait.Must(t, 5*time.Second, "every frame's onset", func() bool { mu.Lock(); defer mu.Unlock(); return len(onsets) == 300 })
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
	return q(0.5), fmt.Sprintf("signed onset error (onset - truth) over %d frames: p1 %.1f us, p50 %.1f us, p99 %.1f us; %d pongs, sync residual %d ns",
		len(signed), q(0.01), q(0.5), q(0.99), st.Pongs.Load(), st.SyncResidualNs.Load())
}
