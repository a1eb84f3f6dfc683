package calib_test

import (
	"testing"
	"time"

	"retinad/calib"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Ready closes the first time the link can time a flip, never before: a frame flipped before
// the clock sync is Untimed (its edge's device time cannot be placed on the host's clock),
// and every frame flipped after Ready is Timed. On the virtual clock, so that "before" and
// "after" are exact steps of time, whatever the goroutines' scheduling.
func TestReadyOnceSynced(t *testing.T) {
	r := newRig(t, simCfg(), 64)
	defer r.stop()
	st := r.p.Stats()
	if isClosed(r.p.Ready()) {
		t.Fatal("Ready is closed before the device was dialled")
	}
	r.p.Flip(0, r.clk.Now(), 0) // the daemon's frame 0 if it did not wait
	steps := 0
	for ; !isClosed(r.p.Ready()); steps++ {
		if steps == 10000 {
			t.Fatalf("Ready not closed after 10 s of virtual time: %d pongs, %d connects", st.Pongs.Load(), st.Connects.Load())
		}
		r.clk.Advance(time.Millisecond)
		// Ready closes right after the pong that made the sync, never on fewer than a fit needs.
		if isClosed(r.p.Ready()) && st.Pongs.Load() < 4 {
			t.Fatalf("Ready closed after %d pongs, before the clock sync could fit", st.Pongs.Load())
		}
	}
	t.Logf("Ready after %d ms of virtual time, %d pongs", steps, st.Pongs.Load())
	r.run(1, 40)
	r.clk.Advance(200 * time.Millisecond)
	r.drain(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.onsets) != 40 {
		t.Fatalf("%d onsets for 40 frames", len(r.onsets))
	}
	if o := r.onsets[0]; o.Frame != 0 || o.Status != calib.Untimed {
		t.Errorf("frame 0, flipped before the sync: %+v, want it untimed", o)
	}
	for _, o := range r.onsets[1:] {
		if o.Status != calib.Timed {
			t.Errorf("frame %d, flipped after Ready: %v, want timed", o.Frame, o.Status)
		}
	}
}
