package daemon_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/daemon"
	"retinad/daemon/daemontest"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// modelAcquisition stands in for an acquisition system recording cells that fire as the model
// predicts: for each frame onset the daemon publishes it regenerates the frame (the same
// daemontest.Source), steps the same engine, and when the next onset arrives publishes the
// frame's sync edge and a spike batch covering [flip, next flip) with round(rate*bin) spikes per
// cell, on a clock offset from the host's, seq without gaps. inject(k) runs after frame k's
// messages, with the acquisition's publishing functions (seq are its to advance).
type modelAcquisition struct {
	t        *testing.T
	nc       *nats.Conn
	subj     contract.Subjects
	src      daemontest.Source
	eng      *daemontest.Engine
	pix      []float32
	rates    []float32
	next     uint64 // frames regenerated
	prev     *pb.FrameOnset
	prevRate []float32

	mu                sync.Mutex
	spikeSeq, syncSeq uint64
	frames            uint64 // frames whose messages went out
	spikes            uint64 // spikes published in valid batches
	inject            func(k uint64, a *modelAcquisition, lastSpikes, lastSync []byte, end int64)

	// fitted, when set, reports whether the daemon's clock fit has its two pairs; unfitted
	// counts the spikes published while it had not (the only ones it may leave unplaced: a
	// batch published after the fit has its pairs reaches a fitted clock, as pairs only grow
	// while the fit is not reset).
	fitted   func() bool
	unfitted uint64
}

const acqOffset = int64(5e9)

func newModelAcquisition(t *testing.T, nc *nats.Conn, rig string, pixels int, eng *daemontest.Engine) *modelAcquisition {
	subj, err := contract.SubjectsFor(rig)
	if err != nil {
		t.Fatal(err)
	}
	return &modelAcquisition{t: t, nc: nc, subj: subj, eng: eng, pix: make([]float32, pixels),
		rates: make([]float32, eng.Cells), prevRate: make([]float32, eng.Cells)}
}

func (a *modelAcquisition) publish(subject string, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		a.t.Error(err)
		return nil
	}
	a.raw(subject, b)
	return b
}

func (a *modelAcquisition) raw(subject string, b []byte) {
	if err := a.nc.Publish(subject, b); err != nil {
		a.t.Error(err)
	}
}

// start subscribes to the daemon's frame onsets; it returns the unsubscribe.
func (a *modelAcquisition) start() func() {
	sub, err := a.nc.Subscribe(a.subj.Frame, func(m *nats.Msg) {
		var o pb.FrameOnset
		if err := proto.Unmarshal(m.Data, &o); err != nil {
			a.t.Error(err)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.prev != nil {
			a.emit(a.prev, o.FlipHostNs)
		}
		for a.next <= o.Frame { // the daemon's frames are the source's, in order
			if _, err := a.src.Next(a.pix); err != nil {
				a.t.Error(err)
			}
			a.next++
		}
		if err := a.eng.Step(a.pix, a.rates); err != nil {
			a.t.Error(err)
		}
		copy(a.prevRate, a.rates)
		a.prev = &o
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return func() { _ = sub.Unsubscribe() }
}

// emit publishes frame o's sync edge and spikes, its bin ending at the host time next.
func (a *modelAcquisition) emit(o *pb.FrameOnset, next int64) {
	on := o.FlipHostNs // untimed frames: the bin starts at the flip
	sy := a.publish(a.subj.Sync, &pb.Sync{Seq: a.syncSeq, Frame: o.Frame, HasFrame: true, TimeAcqNs: on + acqOffset, Source: pb.Sync_PHOTODIODE})
	a.syncSeq++
	sp := &pb.Spikes{Seq: a.spikeSeq, StartAcqNs: on + acqOffset, EndAcqNs: next + acqOffset}
	for c, r := range a.prevRate {
		n := min(9, int(math.Round(float64(r)*0.01))) // spikes per 10 ms bin
		for i := 0; i < n; i++ {
			sp.CellIds = append(sp.CellIds, int32(c+1))
			sp.TimesAcqNs = append(sp.TimesAcqNs, on+acqOffset+int64(i)*(next-on)/int64(n)) // inside [on, next)
		}
	}
	if a.fitted != nil && !a.fitted() {
		a.unfitted += uint64(len(sp.CellIds))
	}
	b := a.publish(a.subj.Spikes, sp)
	a.spikeSeq++
	a.spikes += uint64(len(sp.CellIds))
	a.frames++
	if a.inject != nil {
		a.inject(o.Frame, a, b, sy, sp.EndAcqNs)
	}
}

// spikesUnfitted returns the spikes published before the daemon's clock fit had two pairs.
func (a *modelAcquisition) spikesUnfitted() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unfitted
}

func (a *modelAcquisition) framesOut() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.frames
}

// TestHostileInbound runs a daemon validating a model against an acquisition system whose cells
// fire as the model predicts, over a real NATS server, and sends what issue 16 found accepted:
// from a stranger, Spikes and Sync that decode but break the contract (and garbage); from the
// acquisition itself, in sequence, a duplicate, a burst of 50 sync edges at MaxInt64/2, and for
// 50 frames empty batches ending at MaxInt64. Each is rejected and counted under its reason
// (Figures, Status, the status line), the sequence gap is counted, and the clock fit and live
// validation go on unaffected: no reset, every spike placed but the first frames', live r high.
func TestHostileInbound(t *testing.T) {
	srv, stop, err := daemontest.NATSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	eng := &daemontest.Engine{Cells: 4, Gain: 300}
	var line strings.Builder
	var lineMu sync.Mutex
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 20, Width: 20, Clock: clock,
		Models:      []daemon.Model{{Name: "m", Engine: eng, CellIDs: []int32{1, 2, 3, 4}, BinRate: 100}},
		ReportEvery: 200 * time.Millisecond, StatusEvery: 100 * time.Millisecond,
		StatusOut: writerFunc(func(b []byte) { lineMu.Lock(); line.Reset(); line.Write(b); lineMu.Unlock() }),
	})
	if err != nil {
		t.Fatal(err)
	}
	acq := newModelAcquisition(t, nc, "test", 400, eng)
	acq.fitted = func() bool { return d.Figures().ClockPairs >= 2 }
	stranger, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	send := func(subject string, m proto.Message) {
		b, _ := proto.Marshal(m)
		if err := stranger.Publish(subject, b); err != nil {
			t.Error(err)
		}
	}
	subj := acq.subj
	acq.inject = func(k uint64, a *modelAcquisition, lastSpikes, lastSync []byte, end int64) {
		switch {
		case k == 20: // a stranger: contract broken, sequence broken, garbage
			send(subj.Spikes, &pb.Spikes{Seq: 1 << 30, CellIds: []int32{1, 2}, TimesAcqNs: []int64{5}})
			send(subj.Spikes, &pb.Spikes{Seq: 1 << 30, StartAcqNs: 10, EndAcqNs: 20, CellIds: []int32{1}, TimesAcqNs: []int64{25}})
			send(subj.Spikes, &pb.Spikes{Seq: 1 << 30, StartAcqNs: 20, EndAcqNs: 10})
			send(subj.Spikes, &pb.Spikes{Seq: 1 << 30, CellIds: []int32{-3}, TimesAcqNs: []int64{5}})
			send(subj.Spikes, &pb.Spikes{Seq: 1 << 30, CellIds: []int32{math.MaxInt32}, TimesAcqNs: []int64{5}})
			send(subj.Spikes, &pb.Spikes{Seq: 0}) // going back, twice
			send(subj.Spikes, &pb.Spikes{Seq: 0})
			send(subj.Spikes, &pb.Spikes{Seq: 1 << 40}) // an absurd jump
			send(subj.Sync, &pb.Sync{Seq: 1 << 30, Source: 9})
			send(subj.Sync, &pb.Sync{Seq: 1 << 30, Frame: 7})
			send(subj.Sync, &pb.Sync{Seq: 0, Frame: 3, HasFrame: true})
			_ = stranger.Publish(subj.Spikes, []byte("not protobuf"))
			_ = stranger.Publish(subj.Sync, []byte{0x0f})
		case k == 30: // the acquisition loses a batch
			a.spikeSeq++
		case k == 40: // and repeats one of each
			a.raw(subj.Spikes, lastSpikes)
			a.raw(subj.Sync, lastSync)
		case k == 60: // a burst of 50 sync edges at MaxInt64/2
			for i := 0; i < 50; i++ {
				a.publish(subj.Sync, &pb.Sync{Seq: a.syncSeq, Frame: k, HasFrame: true, TimeAcqNs: math.MaxInt64 / 2, Source: pb.Sync_PHOTODIODE})
				a.syncSeq++
			}
		}
		if k >= 60 && k <= 110 { // batches that claim to cover the future
			a.publish(subj.Spikes, &pb.Spikes{Seq: a.spikeSeq, StartAcqNs: math.MaxInt64 - 1, EndAcqNs: math.MaxInt64})
			a.spikeSeq++
			a.publish(subj.Spikes, &pb.Spikes{Seq: a.spikeSeq, StartAcqNs: end, EndAcqNs: math.MaxInt64}) // decoder: no seq used
		}
	}
	defer acq.start()()
	var statusMu sync.Mutex
	var last *pb.Status
	ssub, err := nc.Subscribe("retinad.test.status", func(m *nats.Msg) {
		var s pb.Status
		if err := proto.Unmarshal(m.Data, &s); err != nil {
			t.Error(err)
			return
		}
		statusMu.Lock()
		last = &s
		statusMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ssub.Unsubscribe()

	want := map[string]uint64{
		"spikes.length_mismatch": 1, "spikes.time_outside_batch": 1, "spikes.end_before_start": 1,
		"spikes.cell_id_out_of_range": 2, "spikes.seq_back": 2, "spikes.seq_jump": 1, "spikes.not_protobuf": 1,
		"spikes.seq_duplicate": 1, "spikes.off_clock_fit": 51, "spikes.batch_too_long": 51,
		"sync.unknown_source": 1, "sync.frame_without_has_frame": 1, "sync.seq_back": 1, "sync.not_protobuf": 1,
		"sync.seq_duplicate": 1, "sync.off_clock_fit": 50,
	}
	var total uint64
	for _, n := range want {
		total += n
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	if !daemontest.WaitFor(t, 30*time.Second, "200 frames of acquisition", func() bool { return acq.framesOut() >= 200 }) {
		cancel()
		<-done
		t.FailNow()
	}
	daemontest.WaitFor(t, 5*time.Second, "every hostile message counted", func() bool { return d.Figures().Rejected >= total })
	daemontest.WaitFor(t, 10*time.Second, "a status message and a status line after the last rejection", func() bool {
		statusMu.Lock()
		rejected := last.GetInboundRejected()
		statusMu.Unlock()
		lineMu.Lock()
		l := line.String()
		lineMu.Unlock()
		return rejected >= total && strings.Contains(l, "spikes.batch_too_long=51") && strings.Contains(l, "gaps 1")
	})
	f := d.Figures()
	statusMu.Lock()
	st := last
	statusMu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", f)

	got := map[string]uint64{}
	for _, c := range st.GetInboundRejects() {
		got[c.Name] = c.Value
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Status.inbound_rejects %v\nwant %v", got, want)
	}
	if f.Rejected != total || st.GetInboundRejected() != total {
		t.Errorf("rejected %d (status %d), want %d", f.Rejected, st.GetInboundRejected(), total)
	}
	if gaps := f.Inbound.Gaps[0] + f.Inbound.Gaps[1]; gaps != 1 || st.GetInboundGaps() != 1 {
		t.Errorf("gaps %d (status %d), want the one batch lost", gaps, st.GetInboundGaps())
	}
	lineMu.Lock()
	l := line.String()
	lineMu.Unlock()
	for _, s := range []string{"inbound rejected", "sync.off_clock_fit=50", "spikes.batch_too_long=51", "gaps 1"} {
		if !strings.Contains(l, s) {
			t.Errorf("status line %q lacks %q", l, s)
		}
	}
	if f.ClockRefused != 50 || f.ClockResets != 0 {
		t.Errorf("clock refused %d pairs, reset %d times; want 50 and 0", f.ClockRefused, f.ClockResets)
	}
	// Before the clock fit has its second pair a batch cannot be placed (how many batches that
	// is depends on when the sync subscription's goroutine runs); after, every spike is.
	unfitted := acq.spikesUnfitted()
	t.Logf("%d spikes published before the clock fit had two pairs", unfitted)
	if f.Spikes < unfitted+1000 {
		t.Errorf("%d spikes, %d of them before the clock was fitted: want 1000 after", f.Spikes, unfitted)
	}
	if f.Unplaced > unfitted {
		t.Errorf("%d spikes unplaced, only %d published before the clock fit had two pairs: the hostile messages moved the clock or closed bins early", f.Unplaced, unfitted)
	}
	if r := f.Models[0].LiveR; !(r > 0.9) {
		t.Errorf("live r %.3f: the model predicts these cells exactly; want above 0.9", r)
	}
}

type writerFunc func([]byte)

func (w writerFunc) Write(b []byte) (int, error) { w(b); return len(b), nil }

// TestInboundFlood: while the daemon validates against an honest acquisition system, a stranger
// floods the spikes and sync subjects at about 50,000 messages a second for 2 s (loopback,
// in-process server): random garbage, contract-breaking batches, and well-formed messages out of
// sequence. The daemon keeps running, every flood message is rejected and counted (none lost to
// a pending limit), and every honest message is still accepted. Then the acquisition floods
// valid batches at the same rate: every one is accepted, none rejected.
func TestInboundFlood(t *testing.T) {
	srv, stop, err := daemontest.NATSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stranger, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	eng := &daemontest.Engine{Cells: 4, Gain: 300}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 20, Width: 20, Clock: clock,
		Models: []daemon.Model{{Name: "m", Engine: eng, CellIDs: []int32{1, 2, 3, 4}, BinRate: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	acq := newModelAcquisition(t, nc, "test", 400, eng)
	defer acq.start()()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if !daemontest.WaitFor(t, 10*time.Second, "the clock fitted", func() bool { return acq.framesOut() >= 20 }) {
		return
	}

	// The flood's messages, made once: garbage of every kind the decoder knows, and well-formed
	// ones whose seq went back.
	subj := acq.subj
	mk := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	spikes := [][]byte{
		[]byte("garbage"), {0x0a, 0x05, 'a'}, {0x10, 0xff},
		mk(&pb.Spikes{Seq: 9, CellIds: []int32{1, 2}, TimesAcqNs: []int64{5}}),
		mk(&pb.Spikes{Seq: 9, StartAcqNs: 10, EndAcqNs: 5}),
		mk(&pb.Spikes{Seq: 9, CellIds: []int32{-1}, TimesAcqNs: []int64{1}}),
		mk(&pb.Spikes{Seq: 0, StartAcqNs: 0, EndAcqNs: 10e6, CellIds: []int32{1, 2}, TimesAcqNs: []int64{1e6, 2e6}}),
	}
	syncs := [][]byte{
		{0x0f}, mk(&pb.Sync{Seq: 9, Source: 5}), mk(&pb.Sync{Seq: 9, Frame: 4}),
		mk(&pb.Sync{Seq: 0, Frame: 1, HasFrame: true, TimeAcqNs: 1e9, Source: pb.Sync_TTL}),
	}
	const perTick, ticks = 500, 200 // 500 per 10 ms for 2 s: 50,000 a second
	var sent uint64
	tick := time.NewTicker(10 * time.Millisecond)
	start := time.Now()
	framesBefore := d.Figures().Frames
	for k := 0; k < ticks; k++ {
		<-tick.C
		for i := 0; i < perTick; i++ {
			n := k*perTick + i
			var err error
			if n%2 == 0 {
				err = stranger.Publish(subj.Spikes, spikes[n/2%len(spikes)])
			} else {
				err = stranger.Publish(subj.Sync, syncs[n/2%len(syncs)])
			}
			if err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	tick.Stop()
	if err := stranger.Flush(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	daemontest.WaitFor(t, 30*time.Second, "every flood message counted", func() bool { return d.Figures().Rejected >= sent })
	f := d.Figures()
	t.Logf("flood of %d messages in %v (%.0f/s); %d frames shown meanwhile; %v", sent, took, float64(sent)/took.Seconds(), f.Frames-framesBefore, f)
	if f.Rejected != sent {
		t.Errorf("%d rejected, %d flood messages sent", f.Rejected, sent)
	}
	if f.Frames <= framesBefore {
		t.Error("the frame loop stopped during the flood")
	}
	// Honest messages: each frame's batch and edge, all accepted, none lost.
	a := acq.framesOut()
	if !daemontest.WaitFor(t, 10*time.Second, "honest messages accepted", func() bool {
		c := d.Figures().Inbound
		return c.Accepted[0] >= a && c.Accepted[1] >= a
	}) {
		t.Logf("inbound %+v, acquisition frames %d", d.Figures().Inbound, a)
	}
	if g := f.Inbound.Gaps; g[0]+g[1] != 0 {
		t.Errorf("gaps %v in the honest sequence", g)
	}

	// A flood of valid messages: the acquisition itself publishes 100,000 spike batches in
	// sequence at 50,000 a second (empty, a second in the past: a backlog catching up). All are
	// accepted, none rejected, and its own frames' messages go on after it.
	before := d.Figures()
	var valid uint64
	tick = time.NewTicker(10 * time.Millisecond)
	start = time.Now()
	for k := 0; k < ticks; k++ {
		<-tick.C
		acq.mu.Lock()
		past := clock.Now() - 1e9 + acqOffset
		for i := 0; i < perTick; i++ {
			acq.publish(subj.Spikes, &pb.Spikes{Seq: acq.spikeSeq, StartAcqNs: past, EndAcqNs: past + 1000})
			acq.spikeSeq++
			valid++
		}
		acq.mu.Unlock()
	}
	tick.Stop()
	took = time.Since(start)
	daemontest.WaitFor(t, 30*time.Second, "every valid message accepted", func() bool {
		return d.Figures().Inbound.Accepted[0] >= before.Inbound.Accepted[0]+valid
	})
	f = d.Figures()
	t.Logf("valid flood of %d batches in %v (%.0f/s): %v", valid, took, float64(valid)/took.Seconds(), f)
	if f.Rejected != before.Rejected || f.Inbound.Gaps != before.Inbound.Gaps {
		t.Errorf("valid flood: rejected %d -> %d, gaps %v -> %v; want no change", before.Rejected, f.Rejected, before.Inbound.Gaps, f.Inbound.Gaps)
	}
	framesNow := acq.framesOut()
	daemontest.WaitFor(t, 5*time.Second, "the acquisition's frames after the flood", func() bool { return acq.framesOut() > framesNow+10 })
}
