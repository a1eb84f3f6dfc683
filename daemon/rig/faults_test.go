package rig_test

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/configs"
	"retinad/daemon/daemontest"
	"retinad/daemon/rig"
	pb "retinad/proto/retinadpb"
)

// The fault suite (issue #16): faults injected while a session is recorded. Each test runs the
// simulated rig in-process (real GL under Xvfb, the fake photodiode over a real pty, NATS) and
// asserts that the daemon does not stop, shows frames at the rate an idle window of the same
// run shows (missed refreshes compared with that baseline), and that every loss is counted and
// said where the experimenter looks: the status line, Status, the log.
//
//	xvfb-run -a -s "-screen 0 1920x1080x24" go test -count=1 -run TestFault ./daemon/rig/

// faultRig is a rig under test with its status line, log and Status messages captured.
type faultRig struct {
	r           *rig.Rig
	line, logs  daemontest.LockedBuffer
	mu          sync.Mutex
	statuses    []*pb.Status
	onsets      map[uint64]*pb.FrameOnset
	rateHz      float64
	windowFrame uint64 // frames per measurement window at rateHz
}

// faultConfig is a light session: white noise on a small window, the fake photodiode, no
// models and no virtual retina (the faults are about the display, the bus and the link).
func faultConfig(t *testing.T) configs.Config {
	cfg := configs.Default()
	cfg.Rig = "faults"
	// A small window (the 50x50 grid at 4 screen pixels each): llvmpipe draws it quickly.
	cfg.Display.Mode, cfg.Display.Width, cfg.Display.Height = "auto", 320, 240
	cfg.Display.Rect = configs.Rect{X: 10, Y: 10, Width: 200, Height: 200}
	cfg.Stimulus.Kind = "whitenoise"
	cfg.Stimulus.WhiteNoise.Checker = 5
	cfg.Acquisition.Simulate = false
	cfg.Models = nil
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Recording.Enabled, cfg.Recording.Dir = true, t.TempDir()
	cfg.Dashboard.StatusEvery = configs.Duration(100 * time.Millisecond)
	return cfg
}

// openFaultRig opens the rig and subscribes, on url (the rig's server when ""), to its status
// and frame onsets.
func openFaultRig(t *testing.T, cfg configs.Config, url string) *faultRig {
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	fr := &faultRig{onsets: map[uint64]*pb.FrameOnset{}, rateHz: float64(cfg.Stimulus.FrameRate)}
	log := slog.New(slog.NewTextHandler(&fr.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	onMain(func() { fr.r, err = rig.Open(&cfg, rig.Options{Session: "faults", Log: log, StatusOut: &fr.line}) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onMain(func() { fr.r.Close() }) })
	if url == "" {
		url = fr.r.NATSURL()
	}
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub := func(subject string, handle func([]byte)) {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) { handle(m.Data) }); err != nil {
			t.Fatal(err)
		}
	}
	sub("retinad.faults.status", func(data []byte) {
		s := &pb.Status{}
		if err := proto.Unmarshal(data, s); err != nil {
			t.Errorf("status: %v", err)
			return
		}
		fr.mu.Lock()
		fr.statuses = append(fr.statuses, s)
		fr.mu.Unlock()
	})
	sub("retinad.faults.frame", func(data []byte) {
		o := &pb.FrameOnset{}
		if err := proto.Unmarshal(data, o); err != nil {
			t.Errorf("frame: %v", err)
			return
		}
		fr.mu.Lock()
		fr.onsets[o.Frame] = o
		fr.mu.Unlock()
	})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return fr
}

// run runs the rig on the main goroutine (GL) while script runs; it ends the rig when the
// script returns and fails the test if Run fails or does not end within a second.
func (fr *faultRig) run(t *testing.T, script func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var stopped time.Time
	go func() {
		defer close(done)
		defer func() { stopped = time.Now(); cancel() }()
		script(ctx)
	}()
	var err error
	onMain(func() { err = fr.r.Run(ctx) })
	<-done
	if err != nil {
		t.Fatalf("Run: %v (the daemon must ride through the fault)", err)
	}
	if d := time.Since(stopped); d > time.Second {
		t.Errorf("Run returned %v after cancellation, want under a second", d)
	}
}

// window measures frames shown and refreshes missed over d.
func (fr *faultRig) window(d time.Duration) (frames, missed uint64) {
	f0 := fr.r.Daemon().Figures()
	time.Sleep(d) // the measurement's length, not a wait for a condition
	f1 := fr.r.Daemon().Figures()
	return f1.Frames - f0.Frames, f1.Missed - f0.Missed
}

// missedLimit is what a fault window may show given the idle baseline of the same length:
// the baseline and three times its Poisson spread, plus two for a run with none.
func missedLimit(base uint64) uint64 { return base + uint64(3*math.Sqrt(float64(base))) + 2 }

// checkRate asserts that the fault window shows frames as the baseline did.
func checkRate(t *testing.T, what string, base, fault [2]uint64) {
	t.Helper()
	t.Logf("%s: frames %d, missed %d (idle baseline: frames %d, missed %d)", what, fault[0], fault[1], base[0], base[1])
	if fault[1] > missedLimit(base[1]) {
		t.Errorf("%s: %d refreshes missed, beyond the idle baseline's %d (limit %d)", what, fault[1], base[1], missedLimit(base[1]))
	}
	if fault[0]*10 < base[0]*9 {
		t.Errorf("%s: %d frames shown, fewer than 90%% of the idle baseline's %d", what, fault[0], base[0])
	}
}

func (fr *faultRig) wait(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if err := daemontest.WaitCond(timeout, cond); err != nil {
		t.Fatalf("%s: %v\nlast status line: %s", what, err, fr.lastLine())
	}
}

func (fr *faultRig) lastLine() string {
	lines := strings.Split(strings.TrimSpace(fr.line.String()), "\n")
	return lines[len(lines)-1]
}

// statusWhere returns the first Status received that satisfies ok, or nil.
func (fr *faultRig) statusWhere(ok func(*pb.Status) bool) *pb.Status {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for _, s := range fr.statuses {
		if ok(s) {
			return s
		}
	}
	return nil
}

const measure = 1500 * time.Millisecond

// TestFaultPhotodiodeUnplugged unplugs the fake photodiode (its pty closes and its path goes)
// during a recorded session and plugs it back: frames go on at the idle rate; every frame shown
// meanwhile is untimed (published unconfirmed, no onset invented); the status line, Status and
// the log say the photodiode is disconnected; the link redials with backoff and timing resumes.
func TestFaultPhotodiodeUnplugged(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	fr := openFaultRig(t, faultConfig(t), "")
	d, dev := fr.r.Daemon(), fr.r.Device()
	var base, fault [2]uint64
	var from, to uint64 // frames shown while unplugged
	fr.run(t, func(ctx context.Context) {
		fr.wait(t, "photodiode timing", 10*time.Second, func() bool { return d.Figures().Timed > 20 })
		base[0], base[1] = fr.window(measure)
		untimed0 := d.Figures().Untimed

		dev.Unplug()
		fr.wait(t, "the daemon sees the photodiode gone", 2*time.Second, func() bool { return d.Figures().PhotodiodeDown > 0 })
		from = d.Figures().Frames
		fault[0], fault[1] = fr.window(measure)
		fr.wait(t, "the status line says so", 2*time.Second, func() bool {
			return strings.Contains(fr.lastLine(), "PHOTODIODE DISCONNECTED")
		})
		f := d.Figures()
		to = f.Frames
		if f.Untimed-untimed0 < to-from {
			t.Errorf("%d frames shown while unplugged, only %d more untimed", to-from, f.Untimed-untimed0)
		}

		if err := dev.Replug(); err != nil {
			t.Fatal(err)
		}
		timed := d.Figures().Timed
		fr.wait(t, "timing resumes after the replug", 10*time.Second, func() bool {
			f := d.Figures()
			return f.PhotodiodeDown == 0 && f.Timed > timed+50
		})
		fr.wait(t, "the status line clears", 2*time.Second, func() bool {
			return !strings.Contains(fr.lastLine(), "PHOTODIODE")
		})
	})
	checkRate(t, "unplugged", base, fault)

	if s := fr.statusWhere(func(s *pb.Status) bool { return s.PhotodiodeDisconnectedNs > 0 }); s == nil {
		t.Error("no Status said photodiode_disconnected_ns > 0")
	} else if s.State != pb.Status_RECORDING {
		t.Errorf("Status while unplugged: state %v, want RECORDING (the session goes on)", s.State)
	}
	logs := fr.logs.String()
	for _, want := range []string{"calib: photodiode lost; frames are untimed until it returns", "calib: photodiode connected"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
	// No onset invented: every frame shown while unplugged that was published is unconfirmed.
	fr.mu.Lock()
	defer fr.mu.Unlock()
	seen, confirmedAfter := 0, 0
	for k, o := range fr.onsets {
		switch {
		case k >= from && k < to:
			seen++
			if o.Confirmed || o.OnsetHostNs != 0 {
				t.Errorf("frame %d, shown while unplugged, has an onset: %v", k, o)
			}
		case k >= to && o.Confirmed:
			confirmedAfter++
		}
	}
	if uint64(seen) < (to-from)*9/10 {
		t.Errorf("only %d of the %d frames shown while unplugged were published", seen, to-from)
	}
	if confirmedAfter == 0 {
		t.Error("no confirmed onset after the replug")
	}
	t.Logf("unplugged for frames %d..%d (%d published, all untimed); %d confirmed onsets after; last status line: %s", from, to, seen, confirmedAfter, fr.lastLine())
}
