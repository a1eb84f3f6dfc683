package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/daemon"
	"retinad/daemon/daemontest"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// testLoader reads a model file of the test's own format (the cell count, as text) and makes a
// daemontest.Engine for it: a missing file is fs.ErrNotExist, a malformed one an error naming it.
func testLoader(_ context.Context, req daemon.LoadRequest) (daemon.Model, error) {
	b, err := os.ReadFile(req.File)
	if err != nil {
		return daemon.Model{}, fmt.Errorf("testloader: %w", err)
	}
	var cells int
	if _, err := fmt.Sscanf(string(b), "cells %d", &cells); err != nil || cells < 1 {
		return daemon.Model{}, fmt.Errorf("testloader: %s: want \"cells N\"", req.File)
	}
	ids := make([]int32, cells)
	for i := range ids {
		ids[i] = int32(i + 1)
	}
	rate := 100.0
	if req.FrameRate > 0 { // as an .onnx file that does not say its own bin rate
		rate = req.FrameRate
	}
	return daemon.Model{Engine: &daemontest.Engine{Cells: cells, Gain: 5}, CellIDs: ids, BinRate: rate, Deadline: req.Deadline}, nil
}

// controlRecord is what a subscriber saw of the rig "test".
type controlRecord struct {
	mu       sync.Mutex
	frames   map[string][]uint64 // session -> frames published
	preds    map[string][]uint64 // model -> bins
	sessions []*pb.SessionEvent
	reports  map[string]int // model -> validation reports
}

func (c *controlRecord) handle(t *testing.T) nats.MsgHandler {
	return func(m *nats.Msg) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case m.Subject == "retinad.test.frame":
			var o pb.FrameOnset
			if err := proto.Unmarshal(m.Data, &o); err != nil {
				t.Error(err)
			}
			c.frames[o.Session] = append(c.frames[o.Session], o.Frame)
		case len(m.Subject) > len("retinad.test.prediction.") && m.Subject[:len("retinad.test.prediction.")] == "retinad.test.prediction.":
			var p pb.Prediction
			if err := proto.Unmarshal(m.Data, &p); err != nil {
				t.Error(err)
			}
			c.preds[p.Model] = append(c.preds[p.Model], p.Bin)
		case m.Subject == "retinad.test.session":
			var s pb.SessionEvent
			if err := proto.Unmarshal(m.Data, &s); err != nil {
				t.Error(err)
			}
			c.sessions = append(c.sessions, &s)
		case m.Subject == "retinad.test.validation":
			var v pb.ValidationReport
			if err := proto.Unmarshal(m.Data, &v); err != nil {
				t.Error(err)
			}
			c.reports[v.Model]++
		}
	}
}

func (c *controlRecord) count(model string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.preds[model])
}

// TestControlModelsAndSessions runs the daemon with the real control service (NATS micro over an
// in-process server) and drives it with the control client: a model loads from its file while
// frames are shown and joins with contiguous bins, bad requests get their codes, the model
// unloads (its predictions stop, its final validation report is published), and a session stops
// and a new one starts (STOP and START events, frames carrying the new name, none in between).
func TestControlModelsAndSessions(t *testing.T) {
	nc, stop, err := daemontest.NATS()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "four.model"), filepath.Join(dir, "bad.model")
	if err := os.WriteFile(good, []byte("cells 4"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	pres := &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: &daemontest.Source{}, Presenter: pres,
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 20, Width: 20, Clock: clock,
		Models: []daemon.Model{{Name: "first", Engine: &daemontest.Engine{Cells: 4, Gain: 10}, CellIDs: []int32{1, 2, 3, 4}, BinRate: 100}},
		Load:   testLoader, ReportEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &controlRecord{frames: map[string][]uint64{}, preds: map[string][]uint64{}, reports: map[string]int{}}
	sub, err := nc.Subscribe("retinad.test.>", rec.handle(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	subj, _ := contract.SubjectsFor("test")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := acquisition.Serve(ctx, nc, subj, d.Controller(), acquisition.ControlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	call := func(endpoint string, req, rep proto.Message) error {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		return acquisition.Call(cctx, nc, subj, endpoint, req, rep)
	}
	code := func(err error) string {
		var ce *acquisition.ControlError
		if errors.As(err, &ce) {
			return ce.Code
		}
		return fmt.Sprint(err)
	}
	if !daemontest.WaitFor(t, 10*time.Second, "the first model's predictions", func() bool { return rec.count("first") > 0 }) {
		t.FailNow()
	}

	// Bad requests, each with its code and a message naming what is wrong.
	for _, tc := range []struct {
		req  *pb.LoadModelRequest
		code string
	}{
		{&pb.LoadModelRequest{Name: "x y", File: good}, "400"},
		{&pb.LoadModelRequest{Name: "second"}, "400"},
		{&pb.LoadModelRequest{Name: "second", File: filepath.Join(dir, "missing.model")}, "404"},
		{&pb.LoadModelRequest{Name: "second", File: bad}, "400"},
		{&pb.LoadModelRequest{Name: "first", File: good}, "409"},
		// frame_rate_hz reaches the loader: 7 Hz bins do not divide the 100 Hz stimulus.
		{&pb.LoadModelRequest{Name: "second", File: good, FrameRateHz: 7}, "400"},
	} {
		err := call(acquisition.EndpointLoad, tc.req, &pb.LoadModelReply{})
		if code(err) != tc.code {
			t.Errorf("load %v: %v, want code %s", tc.req, err, tc.code)
		} else {
			t.Logf("load %s %s: %v", tc.req.Name, filepath.Base(tc.req.File), err)
		}
	}

	// A model joins while frames are shown.
	missedBefore := pres.Missed.Load()
	var loaded pb.LoadModelReply
	if err := call(acquisition.EndpointLoad, &pb.LoadModelRequest{Name: "second", File: good}, &loaded); err != nil {
		t.Fatalf("load: %v", err)
	}
	if loaded.Model.GetName() != "second" || len(loaded.CellIds) != 4 || loaded.Model.GetBinRateHz() != 100 {
		t.Errorf("load reply %v", &loaded)
	}
	if !daemontest.WaitFor(t, 10*time.Second, "20 predictions of the loaded model", func() bool { return rec.count("second") >= 20 }) {
		t.FailNow()
	}
	t.Logf("refreshes missed around the load: %d (machine load; the loop never waits on it)", pres.Missed.Load()-missedBefore)

	// Unload: predictions stop, a final report comes.
	if err := call(acquisition.EndpointUnload, &pb.UnloadModelRequest{Name: "nope"}, &pb.UnloadModelReply{}); code(err) != "404" {
		t.Errorf("unload of an unknown model: %v, want 404", err)
	}
	rec.mu.Lock()
	reportsBefore := rec.reports["second"]
	rec.mu.Unlock()
	var unloaded pb.UnloadModelReply
	if err := call(acquisition.EndpointUnload, &pb.UnloadModelRequest{Name: "second"}, &unloaded); err != nil || unloaded.Name != "second" {
		t.Fatalf("unload: %v %v", &unloaded, err)
	}
	// What was in flight when the unload returned has arrived a few frames later; after that,
	// nothing more comes however many frames are shown.
	frames := func(n uint64) func() bool {
		from := d.Figures().Frames
		return func() bool { return d.Figures().Frames >= from+n }
	}
	daemontest.WaitFor(t, 5*time.Second, "5 frames after the unload", frames(5))
	n1 := rec.count("second")
	daemontest.WaitFor(t, 5*time.Second, "30 more frames", frames(30))
	if n2 := rec.count("second"); n2 != n1 {
		t.Errorf("unloaded model still publishing: %d then %d predictions", n1, n2)
	}
	rec.mu.Lock()
	if rec.reports["second"] <= reportsBefore {
		t.Errorf("no final validation report for the unloaded model")
	}
	rec.mu.Unlock()
	for _, m := range d.Figures().Models {
		if m.Name == "second" {
			t.Errorf("figures still list the unloaded model")
		}
	}

	// Sessions: start while one runs is a conflict; stop, then start a new one.
	if err := call(acquisition.EndpointStart, &pb.StartSessionRequest{Session: "s2"}, &pb.StartSessionReply{}); code(err) != "409" {
		t.Errorf("start while s1 runs: %v, want 409", err)
	}
	if err := call(acquisition.EndpointStop, &pb.StopSessionRequest{Session: "other"}, &pb.StopSessionReply{}); code(err) != "404" {
		t.Errorf("stop of a session not running: %v, want 404", err)
	}
	var stopped pb.StopSessionReply
	if err := call(acquisition.EndpointStop, &pb.StopSessionRequest{}, &stopped); err != nil || stopped.Session != "s1" || stopped.Frames == 0 {
		t.Fatalf("stop: %v %v", &stopped, err)
	}
	var st pb.StatusReply
	if err := call(acquisition.EndpointStatus, &pb.StatusRequest{}, &st); err != nil || st.Status.GetState() != pb.Status_IDLE {
		t.Errorf("status after stop: %v %v, want IDLE", st.Status.GetState(), err)
	}
	idle := d.Figures().Frames
	daemontest.WaitFor(t, 10*time.Second, "20 frames shown while idle", func() bool { return d.Figures().Frames >= idle+20 })
	if err := call(acquisition.EndpointStop, &pb.StopSessionRequest{}, &pb.StopSessionReply{}); code(err) != "409" {
		t.Errorf("stop when idle: %v, want 409", err)
	}
	var started pb.StartSessionReply
	if err := call(acquisition.EndpointStart, &pb.StartSessionRequest{Session: "s2"}, &started); err != nil || started.Session != "s2" {
		t.Fatalf("start: %v %v", &started, err)
	}
	daemontest.WaitFor(t, 10*time.Second, "10 frames of s2", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.frames["s2"]) >= 10
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	daemontest.WaitFor(t, 5*time.Second, "s2's STOP event", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.sessions) >= 4
	})

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var kinds []string
	for _, s := range rec.sessions {
		kinds = append(kinds, s.Session+":"+s.Kind.String())
	}
	if fmt.Sprint(kinds) != "[s1:START s1:STOP s2:START s2:STOP]" {
		t.Errorf("session events %v", kinds)
	}
	f1, f2 := rec.frames["s1"], rec.frames["s2"]
	if len(f1) == 0 || len(f2) == 0 || len(rec.frames) != 2 {
		t.Fatalf("frames by session: %d in s1, %d in s2, sessions %d", len(f1), len(f2), len(rec.frames))
	}
	for i := 1; i < len(f1); i++ {
		if f1[i] != f1[i-1]+1 {
			t.Fatalf("s1: frame %d after %d", f1[i], f1[i-1])
		}
	}
	if gap := f2[0] - f1[len(f1)-1]; gap < 20 { // 20 frames shown while idle
		t.Errorf("s2 starts at frame %d, s1 ended at %d: frames were published while idle?", f2[0], f1[len(f1)-1])
	}
	// The loaded model's bins are contiguous from the frame it joined at.
	b := rec.preds["second"]
	for i := 1; i < len(b); i++ {
		if b[i] != b[i-1]+1 {
			t.Fatalf("loaded model: bin %d after %d", b[i], b[i-1])
		}
	}
	t.Logf("the loaded model joined at frame %d and published %d bins; first model %d bins", b[0], len(b), len(rec.preds["first"]))
}

// obsEngine is a model whose spike history is the recording's: it keeps the counts Observe
// gives it, by the frame it last stepped (its steps are frames 0, 1, 2, ...).
type obsEngine struct {
	daemontest.Engine
	mu       sync.Mutex
	steps    uint64
	observed map[uint64][]float32
}

func (e *obsEngine) Step(frame, rates []float32) error {
	e.mu.Lock()
	e.steps++
	e.mu.Unlock()
	return e.Engine.Step(frame, rates)
}

func (e *obsEngine) Observe(counts []float32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observed[e.steps-1] = append([]float32(nil), counts...)
}

// TestObservedModelFollowsRecordedSpikes stands an acquisition system on the bus (sync events
// and spikes on its own clock, 5 s ahead of the host's, with a known number of spikes per cell
// per frame) and checks that an observed model is given, before each step, the recorded counts
// of the bin it stepped last: spikes placed on host time and binned per model bin.
func TestObservedModelFollowsRecordedSpikes(t *testing.T) {
	nc, clock := daemontest.Setup(t)
	eng := &obsEngine{Engine: daemontest.Engine{Cells: 2, Gain: 5}, observed: map[uint64][]float32{}}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 10, Width: 10, Clock: clock,
		Models: []daemon.Model{{Name: "glm", Engine: eng, CellIDs: []int32{1, 2}, BinRate: 100, Observed: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := func(frame uint64) []float32 { return []float32{float32(frame % 3), float32(1 - frame%2)} }
	defer fakeAcquisition(t, nc, "test", want)()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	var right, wrong int
	for f, got := range eng.observed {
		if fmt.Sprint(got) == fmt.Sprint(want(f)) {
			right++
		} else {
			wrong++
			if wrong < 5 {
				t.Logf("frame %d: observed %v, recorded %v", f, got, want(f))
			}
		}
	}
	f := d.Figures()
	t.Logf("%d steps, %d observed with the recorded counts, %d with others; %v", eng.steps, right, wrong, f)
	if right < 50 || wrong > right/20 {
		t.Errorf("observed counts: %d right, %d wrong of %d steps", right, wrong, eng.steps)
	}
}

// fakeAcquisition stands in for the acquisition system on the bus of rig: for every frame onset
// the daemon publishes, a sync event and want(frame) spikes per cell (cells 1, 2, ...) in the
// frame's bin, on a clock 5 s ahead of the host's. Each frame's messages go out when the next
// frame's onset arrives (so the daemon knows the frame), covering the acquisition clock up to
// that onset. It returns the unsubscribe.
func fakeAcquisition(t *testing.T, nc *nats.Conn, rig string, want func(frame uint64) []float32) func() {
	const offset = int64(5e9)
	var prev *pb.FrameOnset
	sub, err := nc.Subscribe("retinad."+rig+".frame", func(m *nats.Msg) {
		var o pb.FrameOnset
		if err := proto.Unmarshal(m.Data, &o); err != nil {
			t.Error(err)
			return
		}
		if prev != nil {
			on := prev.FlipHostNs // untimed frames: the bin starts at the flip
			sy, _ := proto.Marshal(&pb.Sync{Seq: prev.Frame, Frame: prev.Frame, HasFrame: true, TimeAcqNs: on + offset})
			_ = nc.Publish("retinad."+rig+".sync", sy)
			sp := &pb.Spikes{Seq: prev.Frame, StartAcqNs: on + offset, EndAcqNs: o.FlipHostNs + offset}
			for c, n := range want(prev.Frame) {
				for i := 0; i < int(n); i++ {
					sp.CellIds = append(sp.CellIds, int32(c+1))
					sp.TimesAcqNs = append(sp.TimesAcqNs, on+offset+int64(1+i)*1e6)
				}
			}
			b, _ := proto.Marshal(sp)
			_ = nc.Publish("retinad."+rig+".spikes", b)
		}
		prev = &o
	})
	if err != nil {
		t.Fatal(err)
	}
	return func() { _ = sub.Unsubscribe() }
}
