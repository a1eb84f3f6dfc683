package rig

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/daemon"
	"retinad/daemon/daemontest"
	"retinad/infer"
	"retinad/infer/enginetest"
	pb "retinad/proto/retinadpb"
)

// sessionRun is what one session published: its frames' source indices and its predictions,
// both by session frame.
type sessionRun struct {
	index map[uint64]uint64    // session frame -> the source's index of the frame shown
	rates map[uint64][]float32 // session frame -> the model's rates
}

// runSessions runs the recurrent golden model (a convgru, history 4) in a real daemon fed by
// src over three sessions: the one it starts with, and two started over the control service
// after a stop, each until it has published n predictions. It returns what each published.
func runSessions(t *testing.T, src daemon.Source, n int) map[string]*sessionRun {
	t.Helper()
	m, err := infer.Load(filepath.Join(enginetest.TestdataDir(), "bncnn_gru.retinad"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := newEngine(m, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nc, clock := daemontest.Setup(t)
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: src,
		Presenter: &daemontest.Presenter{Clock: clock, Period: 5 * time.Millisecond},
		Bus:       daemon.NATSBus(nc, 1<<14, nil), FrameRate: 200, Height: m.Input.Height, Width: m.Input.Width, Clock: clock,
		Models: []daemon.Model{{Name: "gru", Engine: eng, CellIDs: []int32{0, 1, 2, 3}, BinRate: 200, History: m.Input.History,
			Deadline: time.Second}}, // none skipped on a loaded machine
	})
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]*sessionRun{}
	got := func(s string) *sessionRun {
		if runs[s] == nil {
			runs[s] = &sessionRun{index: map[uint64]uint64{}, rates: map[uint64][]float32{}}
		}
		return runs[s]
	}
	frames := make(chan *pb.FrameOnset, 1<<14)
	preds := make(chan *pb.Prediction, 1<<14)
	fsub, err := nc.Subscribe("retinad.test.frame", func(msg *nats.Msg) {
		var f pb.FrameOnset
		if proto.Unmarshal(msg.Data, &f) == nil {
			frames <- &f
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fsub.Unsubscribe()
	psub, err := nc.Subscribe("retinad.test.prediction.gru", func(msg *nats.Msg) {
		var p pb.Prediction
		if proto.Unmarshal(msg.Data, &p) == nil {
			preds <- &p
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer psub.Unsubscribe()
	ctx, stopDaemon := daemontest.Run(t, d.Run)
	defer stopDaemon()
	drain := func() {
		for {
			select {
			case f := <-frames:
				got(f.Session).index[f.Frame] = f.Index
			case p := <-preds:
				got(p.Session).rates[p.Frame] = p.Rates
			default:
				return
			}
		}
	}
	for i, s := range []string{"s1", "s2", "s3"} {
		if i > 0 {
			if _, err := d.StopSession(ctx, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := d.StartSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if !daemontest.WaitFor(t, 20*time.Second, s+"'s predictions", func() bool { drain(); return len(got(s).rates) >= n }) {
			t.FailNow()
		}
	}
	if _, err := d.StopSession(ctx, ""); err != nil {
		t.Fatal(err)
	}
	drain()
	return runs
}

// TestSessionStartsRecurrentModelAfresh: a session's predictions are those of a fresh engine
// run over the session's own frames, from its frame 0 (the first History-1 are NaN again): the
// daemon resets a model's window and recurrent state where a session begins, so that the state
// the model built over the sessions before does not leak into it.
func TestSessionStartsRecurrentModelAfresh(t *testing.T) {
	const n = 60
	runs := runSessions(t, &daemontest.Source{}, n)
	m, err := infer.Load(filepath.Join(enginetest.TestdataDir(), "bncnn_gru.retinad"))
	if err != nil {
		t.Fatal(err)
	}
	// The source's frames by index, regenerated: daemontest.Source is deterministic.
	var maxIndex uint64
	for _, r := range runs {
		for _, idx := range r.index {
			maxIndex = max(maxIndex, idx)
		}
	}
	regen := &daemontest.Source{}
	pix := make([][]float32, maxIndex+1)
	for i := range pix {
		pix[i] = make([]float32, m.Input.Height*m.Input.Width)
		if _, err := regen.Next(pix[i]); err != nil {
			t.Fatal(err)
		}
	}
	for s, r := range runs {
		fresh, err := infer.NewStream(m, infer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(m.Cells))
		compared := 0
		for f := uint64(0); ; f++ {
			idx, ok := r.index[f]
			if !ok {
				break
			}
			full := fresh.Step(pix[idx], want)
			got, ok := r.rates[f]
			if !ok {
				continue
			}
			for c := range want {
				if !full && !math.IsNaN(float64(got[c])) {
					t.Fatalf("session %s frame %d: rate %v before a full window of the session's frames, want NaN: the window was not reset", s, f, got[c])
				}
				if full && got[c] != want[c] {
					t.Fatalf("session %s frame %d cell %d: %v, a fresh engine over the session's frames gives %v", s, f, c, got[c], want[c])
				}
			}
			compared++
		}
		if compared < n {
			t.Errorf("session %s: %d predictions compared, want >= %d (frames published %d)", s, compared, n, len(r.index))
		}
	}
}

// constSource shows the same frame over and over: every session sees the same frames.
type constSource struct{ daemontest.Source }

func (s *constSource) Next(dst []float32) (uint64, error) {
	s.Source = daemontest.Source{}
	return s.Source.Next(dst)
}

// TestSessionsOverSameFramesPredictAlike: two sessions over the same frames give identical
// predictions from a recurrent model, frame by frame, though the model ran on between them
// (its state, without the reset at a session's start, would carry the sessions before).
func TestSessionsOverSameFramesPredictAlike(t *testing.T) {
	const n = 40
	runs := runSessions(t, &constSource{}, n)
	for _, s := range []string{"s2", "s3"} {
		same := 0
		for f, want := range runs["s1"].rates {
			got, ok := runs[s].rates[f]
			if !ok {
				continue
			}
			for c := range want {
				if math.Float32bits(got[c]) != math.Float32bits(want[c]) && !(math.IsNaN(float64(got[c])) && math.IsNaN(float64(want[c]))) {
					t.Fatalf("session %s frame %d cell %d: %v, session s1 gave %v for the same frames", s, f, c, got[c], want[c])
				}
			}
			same++
		}
		if same < n/2 {
			t.Errorf("session %s: %d frames in common with s1, want >= %d", s, same, n/2)
		}
	}
	// The check above means something only if the rates move within a session (the state
	// evolves on a constant frame) and a carried state would have changed them.
	r := runs["s1"].rates
	if r[3] == nil || r[30] == nil || r[3][0] == r[30][0] {
		t.Errorf("session s1: rates at frames 3 and 30 are %v and %v: the state does not move on a constant frame", r[3], r[30])
	}
}
