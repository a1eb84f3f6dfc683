package daemon_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/daemon"
	"retinad/daemon/daemontest"
	pb "retinad/proto/retinadpb"
)

// fakeLoop is a daemon.ClosedLoop that records what the daemon tells it.
type fakeLoop struct {
	daemontest.Source
	desc   *pb.StimulusSource
	cells  []int32
	frames atomic.Uint64

	mu       sync.Mutex
	at       func(uint64) (string, uint64)
	bins     map[uint64]map[int32]float64 // display frame -> cell -> count, of covered bins
	order    []uint64                     // the frames Observe was told of, in order
	switched []string
}

func (l *fakeLoop) Next(dst []float32) (uint64, error) {
	l.frames.Add(1)
	return l.Source.Next(dst)
}
func (l *fakeLoop) Description() *pb.StimulusSource { return l.desc }
func (l *fakeLoop) Cells() []int32                  { return l.cells }
func (l *fakeLoop) Frames() uint64                  { return l.frames.Load() }
func (l *fakeLoop) Figures() daemon.LoopFigures {
	l.mu.Lock()
	defer l.mu.Unlock()
	return daemon.LoopFigures{Clips: 7, Observed: uint64(len(l.bins))}
}
func (l *fakeLoop) Sessions(at func(uint64) (string, uint64)) {
	l.mu.Lock()
	l.at = at
	l.mu.Unlock()
}
func (l *fakeLoop) Switch(strategy string) error {
	if strategy == "guess" {
		return errors.New("fakeloop: no strategy guess")
	}
	l.mu.Lock()
	l.switched = append(l.switched, strategy)
	l.mu.Unlock()
	return nil
}
func (l *fakeLoop) Observe(frame uint64, cells []int32, counts []float64, covered bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, frame)
	if !covered {
		return
	}
	m := map[int32]float64{}
	for i, id := range cells {
		m[id] = counts[i]
	}
	l.bins[frame] = m
}

// TestClosedLoopSeam runs the daemon with a closed-loop source and no model over a real
// in-process NATS server, playing the acquisition system from a subscriber (a sync edge and a
// spike batch for every frame onset, on a clock 3 s off the host's). Through the ClosedLoop
// interface alone the daemon: gives the source its session numbering; describes the frames
// with the source's Description; bins the source's cells on its own clock fit and tells the
// source of every bin in display-frame order with the right counts per cell; switches its
// strategy on ChooseStimulus (a bad one is a bad request); and carries its figures in Figures
// and the status line.
func TestClosedLoopSeam(t *testing.T) {
	nc, clock := daemontest.Setup(t)
	loop := &fakeLoop{desc: &pb.StimulusSource{Kind: "fake", Height: 20, Width: 20}, cells: []int32{9, 7}, bins: map[uint64]map[int32]float64{}}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: loop, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 20, Width: 20, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	loop.mu.Lock()
	at := loop.at
	loop.mu.Unlock()
	if at == nil {
		t.Fatal("New did not give the closed loop the session numbering")
	}
	if id, f := at(5); id != "s1" || f != 5 {
		t.Errorf("display frame 5 is frame %d of session %q, want frame 5 of s1", f, id)
	}

	// Display frame k: cell 7 fires 20% into its bin when k%3 == 0, cell 9 at 90% when k%2 == 0,
	// cell 11 (not the loop's) at 50%. The sync edge and the spike batch of frame k are
	// published when frame k+1's onset comes, as an acquisition system publishes after the
	// fact; the batch covers the time from onset k to onset k+1, and the spikes fall inside
	// bin k whatever the frames' spacing on a loaded machine.
	const bin, offset = int64(10e6), int64(3e9)
	want := func(k uint64, cell int32) float64 {
		if (cell == 7 && k%3 == 0) || (cell == 9 && k%2 == 0) {
			return 1
		}
		return 0
	}
	var seq uint64
	var prevK uint64
	var prevOn int64
	var described atomic.Int64
	pub := func(subject string, m proto.Message) {
		b, err := proto.Marshal(m)
		if err == nil {
			err = nc.Publish(subject, b)
		}
		if err != nil {
			t.Error(err)
		}
	}
	sub, err := nc.Subscribe("retinad.test.frame", func(m *nats.Msg) {
		var o pb.FrameOnset
		if err := proto.Unmarshal(m.Data, &o); err != nil {
			t.Error(err)
			return
		}
		if o.Source.GetKind() == "fake" {
			described.Add(1)
		}
		k, on, next := prevK, prevOn, o.FlipHostNs
		prevK, prevOn = o.DisplayFrame, o.FlipHostNs
		if on == 0 || o.DisplayFrame != k+1 {
			return
		}
		at := func(frac float64) int64 { return on + offset + int64(frac*float64(min(next-on, bin))) }
		seq++
		pub("retinad.test.sync", &pb.Sync{Seq: seq, Frame: k, HasFrame: true, TimeAcqNs: on + offset})
		sp := &pb.Spikes{Seq: seq, StartAcqNs: on + offset, EndAcqNs: next + offset, CellIds: []int32{11}, TimesAcqNs: []int64{at(0.5)}}
		if k%3 == 0 {
			sp.CellIds, sp.TimesAcqNs = append(sp.CellIds, 7), append(sp.TimesAcqNs, at(0.2))
		}
		if k%2 == 0 {
			sp.CellIds, sp.TimesAcqNs = append(sp.CellIds, 9), append(sp.TimesAcqNs, at(0.9))
		}
		pub("retinad.test.spikes", sp)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	ctx, stopDaemon := daemontest.Run(t, d.Run)
	defer stopDaemon()
	observed := func() int {
		loop.mu.Lock()
		defer loop.mu.Unlock()
		return len(loop.bins)
	}
	if !daemontest.WaitFor(t, 20*time.Second, "30 bins closed and told to the closed loop", func() bool { return observed() >= 30 }) {
		t.FailNow()
	}

	rep, err := d.Controller().ChooseStimulus(ctx, &pb.ChooseStimulusRequest{Strategy: "isoresponse"})
	if err != nil || rep.Strategy != "isoresponse" || rep.FromFrame == 0 || rep.FromFrame > loop.Frames() {
		t.Errorf("ChooseStimulus isoresponse: %v, %v; want it switched from a frame shown (%d so far)", rep, err, loop.Frames())
	}
	if _, err := d.Controller().ChooseStimulus(ctx, &pb.ChooseStimulusRequest{Strategy: "guess"}); !errors.Is(err, daemon.ErrBadRequest) || !strings.Contains(err.Error(), "no strategy guess") {
		t.Errorf("ChooseStimulus guess: %v, want a bad request carrying the loop's error", err)
	}
	f := d.Figures()
	if f.Loop.Clips != 7 || f.Loop.Observed == 0 || !strings.Contains(f.String(), "adaptive clips 7") {
		t.Errorf("the daemon's figures carry %+v and say %q; want the loop's", f.Loop, f.String())
	}
	stopDaemon()

	loop.mu.Lock()
	defer loop.mu.Unlock()
	if len(loop.switched) != 1 || loop.switched[0] != "isoresponse" {
		t.Errorf("the loop was switched to %v, want [isoresponse]", loop.switched)
	}
	for i := 1; i < len(loop.order); i++ {
		if loop.order[i] != loop.order[i-1]+1 {
			t.Fatalf("bins told out of order: %v", loop.order)
		}
	}
	// The first frames' spikes came before the clock had two sync pairs (not placed): from the
	// third frame told on, every bin's counts are the spikes published in it.
	checked := 0
	for k, counts := range loop.bins {
		if len(loop.order) < 3 || k < loop.order[2] {
			continue
		}
		checked++
		if len(counts) != 2 {
			t.Errorf("bin %d counted cells %v, want the loop's 9 and 7", k, counts)
		}
		for _, id := range loop.cells {
			if counts[id] != want(k, id) {
				t.Errorf("bin %d, cell %d: %v spikes, want %v", k, id, counts[id], want(k, id))
			}
		}
	}
	if checked < 20 || described.Load() == 0 {
		t.Errorf("%d bins checked, %d onsets described by the loop; want 20 and more", checked, described.Load())
	}
}
