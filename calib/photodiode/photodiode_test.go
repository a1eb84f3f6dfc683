package photodiode_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/photodiode"
	"retinad/configs"
	"retinad/internal/testwait"
)

// TestUnplugReplug runs the fake device in real time over a real pty; the pty closes mid-run
// and reopens: the link reconnects, frames in between are Untimed (none lost), and frames
// before and after are timed near the fake's 8 ms latency, with the injected drop found.
func TestUnplugReplug(t *testing.T) {
	cfg := configs.Default().Photodiode
	var mu sync.Mutex
	var got []calib.Onset
	pd, err := photodiode.Open(cfg, 10*time.Millisecond, calib.Options{
		OnOnset:    func(o calib.Onset) { mu.Lock(); got = append(got, o); mu.Unlock() },
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- pd.Run(ctx) }()
	st := pd.Stats()
	testwait.Must(t, 5*time.Second, "clock sync", func() bool { return st.Pongs.Load() >= 16 })
	if d := pd.Down(); d != 0 {
		t.Errorf("Down() = %v while connected, want 0", d)
	}

	frame := uint64(0)
	// flips shows n frames as a monitor does (a ticker read late once judged 14 frames dropped
	// in 5 of 10 runs beside six `yes`).
	mon := monitor{refresh: 10 * time.Millisecond}
	flips := func(n int) {
		for i := 0; i < n; i++ {
			pd.Flip(frame, mon.flip(), float64(frame%2))
			frame++
		}
	}
	pd.Sim.Drop(50)
	flips(100)
	pd.Sim.Unplug()
	unplugged := frame
	flips(30)
	testwait.Must(t, 5*time.Second, "Down() > 0 while unplugged", func() bool { return pd.Down() > 0 })
	if err := pd.Sim.Replug(); err != nil {
		t.Fatal(err)
	}
	replugged := frame
	testwait.Must(t, 5*time.Second, "reconnect", func() bool { return st.Connects.Load() == 2 })
	if d := pd.Down(); d != 0 {
		t.Errorf("Down() = %v after the reconnect, want 0", d)
	}
	p0 := st.Pongs.Load()
	testwait.Must(t, 5*time.Second, "clock sync after reconnect", func() bool { return st.Pongs.Load() >= p0+16 })
	resync := frame
	flips(100)
	testwait.Must(t, 5*time.Second, "every frame's onset", func() bool { mu.Lock(); defer mu.Unlock(); return uint64(len(got)) == frame })
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if uint64(len(got)) != frame {
		t.Fatalf("%d onsets for %d frames", len(got), frame)
	}
	counts := map[calib.Status]int{}
	for i, o := range got {
		if o.Frame != uint64(i) {
			t.Fatalf("onset %d is for frame %d: want every frame once, in order", i, o.Frame)
		}
		counts[o.Status]++
		switch {
		case o.Frame == 50:
			if o.Status != calib.Dropped {
				t.Errorf("frame 50 (dropped by the device): %v", o.Status)
			}
		case o.Frame >= unplugged && o.Frame < replugged:
			if o.Status != calib.Untimed {
				t.Errorf("frame %d, flipped while unplugged: %v, want untimed", o.Frame, o.Status)
			}
		case o.Frame < unplugged-2 || o.Frame >= resync:
			if o.Status != calib.Timed {
				t.Errorf("frame %d: %v, want timed", o.Frame, o.Status)
			} else if l := time.Duration(o.LatencyNs); l < 5*time.Millisecond || l > 11*time.Millisecond {
				t.Errorf("frame %d: latency %v, want 8 ms +/- 3 ms", o.Frame, l)
			}
		}
	}
	t.Logf("frames %d: %v; connects %d, disconnects %d", frame, counts, st.Connects.Load(), st.Disconnects.Load())
	if st.Disconnects.Load() != 1 || st.Connects.Load() != 2 {
		t.Errorf("connects %d, disconnects %d; want 2 and 1", st.Connects.Load(), st.Disconnects.Load())
	}
}

// A threshold block whose hysteresis band leaves 0..1 is refused, naming the file.
func TestOpenRefusesImpossibleThreshold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cal.json")
	if err := os.WriteFile(path, []byte(`{"threshold": {"threshold": 0.9, "hysteresis": 0.4}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := configs.Default().Photodiode
	cfg.Device, cfg.Calibration = "none", path
	_, err := photodiode.Open(cfg, 0, calib.Options{OnOnset: func(calib.Onset) {}})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "hysteresis") {
		t.Fatalf("Open with threshold 0.9, hysteresis 0.4: %v, want an error naming %s and the hysteresis", err, path)
	}
}
