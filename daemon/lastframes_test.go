package daemon_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"retinad/calib"
	"retinad/daemon"
	"retinad/daemon/daemontest"
)

// heldFlips stands in for a photodiode whose flips all still wait for their edges when the
// daemon stops: it resolves none while it runs and every one, untimed, as its Run ends, which
// is what calib.Photodiode does with the flips pending when its context ends.
type heldFlips struct {
	d       *daemon.Daemon
	mu      sync.Mutex
	pending []calib.Onset
}

func (h *heldFlips) Flip(frame uint64, ns int64, _ float64) {
	h.mu.Lock()
	h.pending = append(h.pending, calib.Onset{Frame: frame, FlipNs: ns, Status: calib.Untimed})
	h.mu.Unlock()
}

func (h *heldFlips) Run(ctx context.Context) error {
	<-ctx.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.pending {
		h.d.Onset(o)
	}
	return nil
}

// Every frame shown has its onset published, the last ones too: those the photodiode resolves
// only as the daemon stops (on a loaded machine, the frames of the last tens of milliseconds
// were flipped but not yet matched with an edge) are published, untimed, before the session's
// STOP, not lost because the stamper's last pass ran before the photodiode ended.
func TestLastFramesPublished(t *testing.T) {
	nc, stop, err := daemontest.NATS()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var onsets atomic.Uint64
	sub, err := nc.Subscribe("retinad.test.frame", func(*nats.Msg) { onsets.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	pres := &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond}
	h := &heldFlips{}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: &daemontest.Source{}, Presenter: pres, Flips: h,
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 20, Width: 20, Clock: clock,
		Components: []daemon.Component{{Name: "photodiode", Run: h.Run}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	daemontest.WaitFor(t, 10*time.Second, "50 frames shown", func() bool { return d.Figures().Frames >= 50 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	shown := d.Figures().Frames
	daemontest.WaitFor(t, 5*time.Second, "an onset for every frame shown", func() bool { return onsets.Load() == shown })
	if n := onsets.Load(); n != shown {
		t.Errorf("%d frames shown, %d onsets published", shown, n)
	}
}
