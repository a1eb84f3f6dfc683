package daemon

import (
	"context"
	"runtime"
	"testing"

	"retinad/clock/clocktest"
	pb "retinad/proto/retinadpb"
)

type nopBus struct{ n int }

func (b *nopBus) Publish(string, []byte) error { b.n++; return nil }
func (b *nopBus) Subscribe(string, func([]byte)) (func() error, error) {
	return func() error { return nil }, nil
}

type constSource struct{ n uint64 }

func (s *constSource) Next(dst []float32) (uint64, error) {
	for i := range dst {
		dst[i] = float32(i%7) / 7
	}
	s.n++
	return s.n - 1, nil
}

// clockPresenter flips every 10 ms at once, moving clk (when set) to each flip.
type clockPresenter struct {
	t   int64
	clk *clocktest.VirtualClock
}

func (p *clockPresenter) Present([]float32) (Flip, error) {
	p.t += 10e6
	if p.clk != nil {
		p.clk.AdvanceTo(p.t)
	}
	return Flip{HostNs: p.t, Level: 1}, nil
}

type sumEngine struct{}

// resettingEngine counts its resets (daemon.Resetter) in n.
type resettingEngine struct {
	sumEngine
	n *int
}

func (e resettingEngine) Reset() { *e.n++ }

func (sumEngine) Step(frame, rates []float32) error {
	for c := range rates {
		rates[c] = frame[c] * 10
	}
	return nil
}

// TestSteadyStateAllocatesNothing drives one frame at a time through the frame loop, a model
// step and the stamper (frame onset and prediction marshalled and published, validation fed)
// and checks that none of it allocates.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	bus := &nopBus{}
	steadyState(t, bus, true)
	if bus.n < 2000 {
		t.Errorf("bus saw %d messages", bus.n)
	}
}

// TestSteadyStateAllocatesNothingThroughPublisher: the same through the daemon's real bus, the
// publish queue of an acquisition.Publisher on a NATS connection (not sent here: the queue
// drops the oldest, which allocates nothing either).
func TestSteadyStateAllocatesNothingThroughPublisher(t *testing.T) {
	nc := inProcessNATS(t)
	bus := NATSBus(nc, 64, nil)
	steadyState(t, bus, false)
	if q, dropped, _ := bus.(queueCounts).queue(); q != 64 || dropped < 2000 {
		t.Errorf("queue %d, dropped %d: the frames did not go through it", q, dropped)
	}
}

// steadyState drives the frame path by hand; with restart, across a session started over the
// control service too (its stop flushes the bus, which the publisher's unsent queue cannot).
func steadyState(t *testing.T, bus Bus, restart bool) {
	clk := clocktest.NewVirtualClock(0) // the presenter moves it to each flip
	var resets int
	cells := []int32{1, 2, 3}
	d, err := New(Parts{
		Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{clk: clk}, Bus: bus,
		FrameRate: 100, Height: 50, Width: 50, Clock: clk,
		Models: []Model{{Name: "m", Engine: resettingEngine{n: &resets}, CellIDs: cells, BinRate: 100}},
		Load: func(context.Context, LoadRequest) (Model, error) {
			return Model{Engine: sumEngine{}, CellIDs: cells, BinRate: 100}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := d.models.Load().runners[0]
	for k := uint64(0); k < uint64(len(d.stage)); k++ {
		if err := d.generate(k); err != nil {
			t.Fatal(err)
		}
	}
	k := uint64(0)
	step := func() {
		if err := d.showFrame(k); err != nil {
			t.Fatal(err)
		}
		// The models' goroutines, one step each by hand.
		for _, r := range d.models.Load().runners {
			x, o := r.in.Peek(), r.out.Reserve()
			r.startAfresh(x.frame)
			_ = r.Engine.Step(x.pix, o.rates)
			o.frame, o.doneNs = x.frame, clk.Now()
			r.out.Commit()
			r.in.Release()
		}
		d.stamp.process()
		k++
	}
	for i := 0; i < 100; i++ { // warm up: buffers grow to their steady size
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("%v allocations per frame, want 0", a)
	}
	if got := r.published.Load(); got < 1000 {
		t.Errorf("published %d predictions", got)
	}
	// A model loaded (on the control side, allocating) joins the loop, which still allocates
	// nothing per frame; so after it is unloaded.
	if _, err := d.LoadModel(context.Background(), LoadRequest{Name: "late", File: "x"}); err != nil {
		t.Fatal(err)
	}
	late := d.models.Load().find("late")
	for i := 0; i < len(d.stage)+1; i++ { // frames generated before the load never reach it
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("with a model loaded while running: %v allocations per frame, want 0", a)
	}
	if got := late.published.Load(); got < 1000 {
		t.Errorf("loaded model published %d predictions", got)
	}
	if _, err := d.UnloadModel(context.Background(), "late"); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("after an unload: %v allocations per frame, want 0", a)
	}
	if !restart {
		return
	}
	// A session started over the control service (allocating there) begins at the next frame
	// generated, and the model resets its engine when it reaches it: no frame of the switch
	// allocates. (AllocsPerRun's warm-up call would hide the first frame, so count by hand.)
	ctx := context.Background()
	if _, err := d.StopSession(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.StartSession(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := 0; i < 2*len(d.stage); i++ {
		step()
	}
	runtime.ReadMemStats(&m1)
	if n := m1.Mallocs - m0.Mallocs; n != 0 || resets != 1 {
		t.Errorf("over a session's start: %d allocations in %d frames, %d engine resets; want 0 and 1", n, 2*len(d.stage), resets)
	}
}

// TestBinOfSeveralFramesAllocatesNothing: a model binning two frames accumulates them without
// allocating.
func TestBinOfSeveralFramesAllocatesNothing(t *testing.T) {
	r := newRunner(Model{Name: "m", Engine: sumEngine{}, CellIDs: []int32{1}, BinRate: 50}, 2500, 8, 10e6, 2)
	x := &modelIn{pix: make([]float32, 2500)}
	complete := 0
	if a := testing.AllocsPerRun(1000, func() {
		if r.accumulate(x) {
			complete++
		}
		x.frame++
	}); a != 0 {
		t.Errorf("%v allocations per frame, want 0", a)
	}
	if complete < 500 {
		t.Errorf("%d bins complete of 1000 frames", complete)
	}
}

// describedConst is constSource describing its frames as a reproducible source.
type describedConst struct {
	constSource
	desc *pb.StimulusSource
}

func (s *describedConst) Description() *pb.StimulusSource { return s.desc }

// TestDescribedFramesAllocateNothing: frames of a described source reach their published
// onset with their description (a pointer handed along, no pixels) without allocating.
func TestDescribedFramesAllocateNothing(t *testing.T) {
	bus := &nopBus{}
	src := &describedConst{desc: &pb.StimulusSource{Kind: "flicker", Height: 50, Width: 50, FrameRateHz: 100, Reproducible: true,
		StimulusYaml: "kind: flicker\n", FileSha256: make([]byte, 32), Params: []*pb.Param{{Name: "contrast", Value: 0.3}}}}
	d, err := New(Parts{Rig: "a", Session: "s", Source: src, Presenter: &clockPresenter{}, Bus: bus, FrameRate: 100, Height: 50, Width: 50})
	if err != nil {
		t.Fatal(err)
	}
	for k := uint64(0); k < uint64(len(d.stage)); k++ {
		if err := d.generate(k); err != nil {
			t.Fatal(err)
		}
	}
	k := uint64(0)
	step := func() {
		if err := d.showFrame(k); err != nil {
			t.Fatal(err)
		}
		d.stamp.process()
		k++
	}
	for range 100 {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("%v allocations per described frame, want 0", a)
	}
	if bus.n < 1000 || d.stamp.onsetMsg.Source != src.desc || len(d.stamp.onsetMsg.Pixels) != 0 {
		t.Errorf("%d messages; last onset's source %p (want %p), %d pixels", bus.n, d.stamp.onsetMsg.Source, src.desc, len(d.stamp.onsetMsg.Pixels))
	}
}
