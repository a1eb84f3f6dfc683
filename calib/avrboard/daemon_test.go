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
)

// waitFor polls cond every 10 ms until it holds, failing after timeout with what.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPhotodiodeOnBoard runs calib's Photodiode, as the daemon does, against the real firmware:
// it opens the board's pty as a serial port, syncs clocks by ping/pong, and times 60 Hz flips
// lit by a simulated display. Every frame must be Timed, and the onsets must agree with the
// emulator's ground truth (when the light reached A0).
func TestPhotodiodeOnBoard(t *testing.T) {
	b, _ := boot(t)
	clock := calib.SystemClock{}
	disp := &avrboard.Display{Board: b, Clock: clock, Latency: 8 * time.Millisecond, Gamma: 2.2, DarkMV: 300, LightMV: 4200}
	if err := b.SetNoise(20); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var onsets []calib.Onset
	p := calib.New(calib.Options{
		Dial:       func() (calib.Link, error) { return calib.OpenSerial(b.PTY, 115200, 50*time.Millisecond) },
		Name:       "avrboard",
		OnOnset:    func(o calib.Onset) { mu.Lock(); onsets = append(onsets, o); mu.Unlock() },
		Light:      disp,
		Threshold:  0.5,
		Hysteresis: 0.1,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "20 pongs (clock sync)", func() bool { return p.Stats().Pongs.Load() >= 20 })

	const frames = 240
	const refresh = time.Second / 60
	next := time.Now()
	for f := uint64(0); f < frames; f++ {
		p.Flip(f, clock.Now(), float64((f+1)%2)) // the board boots dark: frame 0 lights
		next = next.Add(refresh)
		time.Sleep(time.Until(next)) // the frame loop's own pace
	}
	waitFor(t, 5*time.Second, "every frame's onset", func() bool { mu.Lock(); defer mu.Unlock(); return len(onsets) == frames })
	if errs := disp.Errs(); len(errs) > 0 {
		t.Fatal(errs)
	}
	mu.Lock()
	defer mu.Unlock()
	var errUS []float64
	var late int
	var bad []string
	for _, o := range onsets {
		if disp.Late(o.Frame) || o.Frame > 0 && disp.Late(o.Frame-1) || disp.Late(o.Frame+1) {
			late++ // the display or the emulator's clock, not the link, was late: see Display.Slack
			continue
		}
		truth, ok := disp.Truth(o.Frame)
		switch {
		case o.Status != calib.Timed:
			bad = append(bad, fmt.Sprintf("frame %d: %v, want timed", o.Frame, o.Status))
		case !ok:
			bad = append(bad, fmt.Sprintf("frame %d: timed, but the display has no light for it", o.Frame))
		default:
			errUS = append(errUS, float64(o.OnsetNs-truth)/1e3)
		}
	}
	slices.Sort(errUS)
	if n := len(errUS); n > 0 {
		t.Logf("onset - ground truth over %d frames: min %.0f us, p50 %.0f us, p99 %.0f us, max %.0f us; sync residual %d ns",
			n, errUS[0], errUS[n/2], errUS[n*99/100], errUS[n-1], p.Stats().SyncResidualNs.Load())
	}
	t.Logf("%d of %d frames left out: the simulated display lit them or a neighbour late, or the emulator was behind real time (machine load)", late, frames)
	if late > frames/10 {
		t.Fatalf("%d of %d frames lit late: the machine is too busy for the emulated board to keep real time (`uptime`)", late, frames)
	}
	for _, s := range bad {
		t.Error(s)
	}
	if n := len(errUS); n > 0 && (abs(errUS[n/2]) > 500 || abs(errUS[n*99/100]) > 2000) {
		t.Errorf("onset error p50 %.0f us, p99 %.0f us: want within 500 us and 2 ms", errUS[n/2], errUS[n*99/100])
	}
	if n := p.Stats().Spurious.Load(); n != 0 {
		t.Errorf("%d spurious edges", n)
	}
}

func abs(x float64) float64 { return max(x, -x) }
