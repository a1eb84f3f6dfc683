package avrboard_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/avrboard"
	"retinad/calib/photodiode"
	"retinad/clock"
	"retinad/configs"
	"retinad/internal/testwait"
)

// lagTolUS is how far from its run's median lag the emulator may be at a light and the frame
// still be judged. Lights are set at their time on the emulator's own clock, and the host's
// bytes reach the firmware at their real time (the emulator holds them while it is behind), so
// a starved emulator delays the edges' arrival but not their stamps: up to a few milliseconds
// late, a frame's onset is as good as any (p50 14-15 us for such frames at load 15, as for the
// others). Later, its edge may miss the matcher's 50 ms window.
const lagTolUS = 5000

// maxResidualUS bounds the clock sync's residual in a run whose onsets are judged: when the
// emulator held the host's bytes for its lag, pings were answered late, which the sync's choice
// of the quickest round trips leaves out; a larger residual means it did not.
const maxResidualUS = 200

// lags sums up the emulator's lag behind real time at the display's first n lights.
func lags(d *avrboard.Display, n uint64) string {
	var l []float64
	for f := uint64(0); f < n; f++ {
		if s, ok := d.Truth(f); ok {
			l = append(l, s.LagUS)
		}
	}
	if len(l) == 0 {
		return "no light was set"
	}
	slices.Sort(l)
	return fmt.Sprintf("the emulator's lag behind real time at %d lights: min %.0f us, median %.0f us, max %.0f us; over %d us beyond the median it was starved by the machine's load, see `uptime`",
		len(l), l[0], l[len(l)/2], l[len(l)-1], lagTolUS)
}

// TestPhotodiodeOnBoard opens the photodiode as the daemon does (photodiode.Open with
// photodiode.device: avr): the real firmware on an emulated board, its pty opened as a serial
// port at 115200 baud like any other, clocks synced by ping/pong, 60 Hz flips lit by the
// simulated display, which drops two pairs of frames. Every dropped frame must be found
// Dropped, every other frame Timed (no drop invented), and the onsets must agree with the
// emulator's ground truth (when it set the light on A0, on the host's clock).
// Frames lit while the emulator was starved (its lag more than lagTolUS off its median) are
// not judged, only counted; the test fails if they are more than a quarter, or if the clock
// sync's residual shows it was fed distorted samples.
func TestPhotodiodeOnBoard(t *testing.T) {
	if err := avrboard.Build(); err != nil {
		t.Fatal(err)
	}
	clk := clock.System{}
	cfg := configs.Default().Photodiode
	cfg.Device, cfg.Threshold, cfg.Hysteresis = "avr", 0.5, 0.1
	var mu sync.Mutex
	var onsets []calib.Onset
	const refresh = time.Second / 60
	p, err := photodiode.Open(cfg, refresh, calib.Options{
		OnOnset: func(o calib.Onset) { mu.Lock(); onsets = append(onsets, o); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	disp := p.Display
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testwait.Must(t, 10*time.Second, "20 pongs (clock sync)", func() bool { return p.Stats().Pongs.Load() >= 20 })

	const frames = 240
	drops := map[uint64]bool{60: true, 61: true, 150: true, 151: true} // in pairs: see Display.Drop
	for f := range drops {
		disp.Drop(f)
	}
	next := time.Now()
	var last int64
	for f := uint64(0); f < frames; {
		next = next.Add(refresh)
		// A flip less than half a refresh after the last (this loop woke late) would light
		// the patch too briefly for any photodiode: that refresh is let go, as calibrate does.
		if now := clk.Now(); last == 0 || now-last >= int64(refresh/2) {
			p.Flip(f, now, float64((f+1)%2)) // the board boots dark: frame 0 lights
			last = now
			f++
		}
		time.Sleep(time.Until(next)) // the frame loop's own pace
	}
	testwait.Must(t, 5*time.Second, "every frame's onset", func() bool { mu.Lock(); defer mu.Unlock(); return len(onsets) == frames })
	if errs := disp.Errs(); len(errs) > 0 {
		t.Fatal(errs)
	}
	mu.Lock()
	defer mu.Unlock()
	var lag []float64
	for f := uint64(0); f < frames; f++ {
		if s, ok := disp.Truth(f); ok {
			lag = append(lag, s.LagUS)
		}
	}
	if len(lag) != frames-len(drops) {
		t.Fatalf("the display lit %d of %d frames, %d dropped", len(lag), frames, len(drops))
	}
	slices.Sort(lag)
	medLag := lag[len(lag)/2]
	var errUS, starvedUS []float64
	var starved, late, short int
	var bad []string
	flipNs := make(map[uint64]int64, frames)
	for _, o := range onsets {
		flipNs[o.Frame] = o.FlipNs
	}
	// shown is whether frame f's light stayed on A0 for at least a millisecond: a frame loop
	// late on a busy host flips the next frame at once, and a light microseconds long is one
	// no photodiode sees (the matcher then rightly calls both it and the next frame dropped).
	shown := func(f uint64) bool {
		next, ok := flipNs[f+1]
		return !ok || next-flipNs[f] >= int64(time.Millisecond)
	}
	found := 0
	for _, o := range onsets {
		if drops[o.Frame] {
			if o.Status == calib.Dropped {
				found++
			} else {
				bad = append(bad, fmt.Sprintf("frame %d: dropped by the display, reported %v", o.Frame, o.Status))
			}
			continue
		}
		if !shown(o.Frame) || o.Frame > 0 && !shown(o.Frame-1) {
			short++
			continue
		}
		truth, _ := disp.Truth(o.Frame)
		if disp.LateNs(o.Frame) > int64(time.Millisecond) || o.Frame > 0 && disp.LateNs(o.Frame-1) > int64(time.Millisecond) {
			late++ // the test's own display goroutine was late: the light, or the one before it, moved
			continue
		}
		if abs(truth.LagUS-medLag) > lagTolUS {
			starved++
			if o.Status == calib.Timed {
				starvedUS = append(starvedUS, float64(o.OnsetNs-truth.HostNs)/1e3)
			}
			continue
		}
		if o.Status != calib.Timed {
			bad = append(bad, fmt.Sprintf("frame %d: %v, want timed (the emulator's lag at its light %.0f us, median %.0f us)", o.Frame, o.Status, truth.LagUS, medLag))
			continue
		}
		errUS = append(errUS, float64(o.OnsetNs-truth.HostNs)/1e3)
	}
	t.Logf("%s", lags(disp, frames))
	t.Logf("dropped frames: %d injected, %d found", len(drops), found)
	t.Logf("%d of %d frames not judged: the emulator was starved at their light; %d: the simulated display handed their light (or the one before) over more than 1 ms late; %d: the frame loop flipped them (or the one before) less than 1 ms before the next", starved, frames, late, short)
	slices.Sort(errUS)
	n := len(errUS)
	if n > 0 {
		t.Logf("onset - ground truth over %d frames: min %.0f us, p50 %.0f us, p99 %.0f us, max %.0f us; sync residual %d ns",
			n, errUS[0], errUS[n/2], errUS[n*99/100], errUS[n-1], p.Stats().SyncResidualNs.Load())
	}
	if n := len(starvedUS); n > 0 {
		slices.Sort(starvedUS)
		t.Logf("the starved frames' onsets, not judged: p50 %.0f us, p99 %.0f us over %d", starvedUS[n/2], starvedUS[n*99/100], n)
	}
	if late+short > frames/4 {
		t.Fatalf("%d of %d frames' lights (or the ones before) were handed to the emulator more than 1 ms late or flipped less than 1 ms apart: the machine is too busy for the test's frame loop and simulated display (`uptime`)", late+short, frames)
	}
	if starved > frames/4 {
		t.Fatalf("%d of %d frames lit while the emulator was starved: the machine is too busy for the emulated board to keep real time (`uptime`)", starved, frames)
	}
	if r := float64(p.Stats().SyncResidualNs.Load()) / 1e3; r > maxResidualUS {
		t.Fatalf("clock sync residual %.0f us, more than %d us: the sync took in samples the emulator's lag distorted, so no onset can be judged (the emulator fell %.1f ms behind at worst; `uptime`)",
			r, maxResidualUS, lag[frames-1]/1e3)
	}
	for _, s := range bad {
		t.Error(s)
	}
	if n > 0 && (abs(errUS[n/2]) > 150 || abs(errUS[n*99/100]) > 1000) {
		t.Errorf("onset error p50 %.0f us, p99 %.0f us: want within 150 us and 1 ms", errUS[n/2], errUS[n*99/100])
	}
	if n := p.Stats().Spurious.Load(); n != 0 {
		t.Errorf("%d spurious edges", n)
	}
}

func abs(x float64) float64 { return max(x, -x) }
