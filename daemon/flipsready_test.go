package daemon_test

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"retinad/daemon"
	"retinad/daemon/daemontest"
	"retinad/internal/testwait"
)

// quietBus takes every message and delivers none.
type quietBus struct{}

func (quietBus) Publish(string, []byte) error { return nil }
func (quietBus) Subscribe(string, func([]byte)) (func() error, error) {
	return func() error { return nil }, nil
}

// gatedFlips is a FlipSink that counts the flips reported before and after its gate opened.
type gatedFlips struct {
	open         atomic.Bool
	early, flips atomic.Int64
}

func (g *gatedFlips) Flip(uint64, int64, float64) {
	if !g.open.Load() {
		g.early.Add(1)
	}
	g.flips.Add(1)
}

// runGated runs a daemon whose photodiode is g, ready when ready is closed, waiting at most
// wait; it returns the daemon, its status lines, its log and a stop that checks Run's return.
func runGated(t *testing.T, g *gatedFlips, ready chan struct{}, wait time.Duration) (*daemon.Daemon, *daemontest.LockedBuffer, *daemontest.LockedBuffer, func()) {
	t.Helper()
	var status, logs daemontest.LockedBuffer
	clock := daemontest.NewClock()
	d, err := daemon.New(daemon.Parts{
		Rig: "gate", Session: "s", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Flips: g, FlipsReady: ready, FlipsWait: wait, Bus: quietBus{}, FrameRate: 100, Height: 4, Width: 4, Clock: clock,
		StatusEvery: 5 * time.Millisecond, StatusOut: &status, Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	stopClock := clock.Drive(5 * time.Millisecond)
	_, stopDaemon := daemontest.Run(t, d.Run)
	return d, &status, &logs, func() {
		stopDaemon()
		stopClock() // after Run has returned
	}
}

// The frame loop shows its first frame only once the photodiode can time it: while FlipsReady
// is open the daemon runs (its status ticks) but shows nothing; once it closes, frames follow,
// and none was reported before.
func TestFirstFrameWaitsForFlipsReady(t *testing.T) {
	g, ready := &gatedFlips{}, make(chan struct{})
	d, status, _, stop := runGated(t, g, ready, time.Hour)
	defer stop()
	testwait.Must(t, 10*time.Second, "5 status lines while the photodiode is not ready", func() bool {
		return strings.Count(status.String(), "\n") >= 5
	})
	if n, f := g.flips.Load(), d.Figures().Frames; n != 0 || f != 0 {
		t.Fatalf("%d flips reported, %d frames shown before the photodiode was ready; want none", n, f)
	}
	g.open.Store(true)
	close(ready)
	testwait.Must(t, 10*time.Second, "10 frames once the photodiode is ready", func() bool { return g.flips.Load() >= 10 })
	if n := g.early.Load(); n != 0 {
		t.Errorf("%d flips reported before the photodiode was ready", n)
	}
}

// A photodiode that never gets ready holds the rig no longer than FlipsWait: the frames then
// go on (untimed) and the log says why.
func TestFramesGoOnWithoutFlipsReady(t *testing.T) {
	g := &gatedFlips{}
	_, _, logs, stop := runGated(t, g, make(chan struct{}), 50*time.Millisecond)
	defer stop()
	testwait.Must(t, 10*time.Second, "10 frames with the photodiode never ready", func() bool { return g.flips.Load() >= 10 })
	if !strings.Contains(logs.String(), "cannot time frames yet") {
		t.Errorf("the log does not say the frames go on untimed:\n%s", logs.String())
	}
}
