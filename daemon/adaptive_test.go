package daemon_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/acquisition/sim"
	"retinad/clock/clocktest"
	"retinad/configs"
	"retinad/daemon"
	"retinad/daemon/daemontest"
	"retinad/daemon/scoring"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus/adaptive"
)

// retinaScreen shows each presented frame to the virtual retina at its flip, as a monitor
// would show it to the tissue (no photodiode: onsets are the flips).
type retinaScreen struct {
	pres *daemontest.Presenter
	acq  *sim.Acquisition
	k    uint64
}

func (s *retinaScreen) Present(frame []float32) (daemon.Flip, error) {
	fl, err := s.pres.Present(frame)
	if err == nil {
		s.acq.Show(s.k, frame, fl.HostNs)
		s.k++
	}
	return fl, err
}

// TestAdaptiveClosedLoop runs the daemon at 100 Hz with the adaptive source over a real
// in-process NATS server and the virtual retina as the acquisition system: discriminate scores
// natural-scene candidates with the bundled CNN and LN (daemon/scoring's local predictor),
// the recorded spikes of each clip shown come back through the bus and are scored, every
// choice is published, and a ChooseStimulus request switches the strategy to isoresponse.
func TestAdaptiveClosedLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bundled models and the virtual retina for several seconds")
	}
	nc, stop, err := daemontest.NATS()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	cfg := configs.Default()
	cfg.Rig = "test"
	cfg.Stimulus.Natural.Dir = "/usr/lib/python3/dist-packages/skimage/data"
	cfg.Adaptive.Strategy = "discriminate"
	cfg.Adaptive.Clip = configs.Duration(500 * time.Millisecond)
	cfg.Adaptive.Candidates = 3
	cfg.Adaptive.Budget = configs.Duration(400 * time.Millisecond)
	cfg.Adaptive.IsoResponse.Rest = configs.Duration(200 * time.Millisecond)

	var models []scoring.Model
	for _, m := range []string{"cnn:bncnn.rtm", "ln:ln.rtm"} {
		name, file, _ := strings.Cut(m, ":")
		sm, err := scoring.LoadModel(name, filepath.Join("..", "models", file))
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, sm)
	}
	pred, err := scoring.NewLocal(models, 1)
	if err != nil {
		t.Fatal(err)
	}
	var cells []int32
	for _, id := range models[0].Model.Cells {
		cells = append(cells, int32(id))
	}

	retina, err := sim.New(sim.DefaultParams(), 50, 50, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := acquisition.SubjectsFor("test")
	pub := acquisition.NewPublisher(nc, 4096, nil)
	acq, err := sim.NewAcquisition(retina, pub, sim.AcquisitionOptions{Spikes: subj.Spikes, Sync: subj.Sync,
		BatchInterval: 20 * time.Millisecond, ClockOffset: 3 * time.Second, ClockDriftPPM: 20, Seed: 5, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	bus := daemon.NATSBus(nc, 4096, nil) // one bus, sent by the daemon's Run
	ad, err := daemon.NewAdaptive(daemon.AdaptiveOptions{Rig: "test", Session: "s1", Config: cfg.Adaptive, Stimulus: cfg.Stimulus,
		Predictor: pred, Lead: 11, CellIDs: cells, Bus: bus, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: ad, Bus: bus,
		Presenter: &retinaScreen{pres: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond}, acq: acq},
		FrameRate: 100, Height: 50, Width: 50, Clock: clock,
		Components: []daemon.Component{{Name: "adaptive", Run: ad.Run}, {Name: "retina", Run: acq.Run}, {Name: "publisher", Run: pub.Run}},
	})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var choices []*pb.AdaptiveChoice
	sub, err := nc.Subscribe(subj.Adaptive, func(m *nats.Msg) {
		var c pb.AdaptiveChoice
		if err := proto.Unmarshal(m.Data, &c); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		choices = append(choices, &c)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	// counted is how many published choices satisfy ok.
	counted := func(ok func(c *pb.AdaptiveChoice) bool) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range choices {
			if ok(c) {
				n++
			}
		}
		return n
	}
	tallied := func(c *pb.AdaptiveChoice) bool {
		return c.Strategy == "discriminate" && strings.Contains(c.Report, "log-likelihood ratio") && !strings.HasPrefix(c.Report, "0 clips")
	}
	if !daemontest.WaitFor(t, 30*time.Second, "3 clips with their spikes back and a discriminate choice reporting its tally", func() bool {
		return ad.Figures().Observed >= 3 && counted(tallied) > 0
	}) {
		cancel()
		<-done
		t.FailNow()
	}
	rep, err := d.Controller().ChooseStimulus(ctx, &pb.ChooseStimulusRequest{Strategy: "isoresponse"})
	if err != nil || rep.Strategy != "isoresponse" {
		t.Fatalf("ChooseStimulus: %v, %v", rep, err)
	}
	if _, err := d.Controller().ChooseStimulus(ctx, &pb.ChooseStimulusRequest{Strategy: "guess"}); err == nil {
		t.Error("ChooseStimulus accepted strategy guess")
	}
	daemontest.WaitFor(t, 30*time.Second, "2 isoresponse choices", func() bool {
		return counted(func(c *pb.AdaptiveChoice) bool { return c.Strategy == "isoresponse" }) >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	f := ad.Figures()
	figs := d.Figures()
	t.Logf("adaptive: %+v; daemon frames %d", f, figs.Frames)
	mu.Lock()
	defer mu.Unlock()
	if len(choices) < 6 {
		t.Fatalf("%d choices published, want 6 or more", len(choices))
	}
	var scored, iso int
	for i, c := range choices {
		if c.Seq != uint64(i) {
			t.Errorf("choice %d has seq %d", i, c.Seq)
		}
		if i > 0 && c.FromFrame <= choices[i-1].FromFrame {
			t.Errorf("choice %d starts at frame %d, before the previous one (%d)", i, c.FromFrame, choices[i-1].FromFrame)
		}
		if c.Strategy == "discriminate" && !c.Fallback {
			scored++
			if len(c.Scores) != 3 || len(c.Candidates) != 3 || c.Pick < 0 || !strings.Contains(c.Clip.StimulusYaml, "kind: natural") {
				t.Errorf("choice %d: %v", i, c)
			}
		}
		if c.Strategy == "isoresponse" {
			iso++
		}
		t.Logf("choice %d at frame %d: %s fallback=%v score %.0f ms: %s | %s", c.Seq, c.FromFrame, c.Strategy, c.Fallback, float64(c.ScoreNs)/1e6, c.Why, c.Report)
	}
	if iso == 0 || choices[len(choices)-1].Strategy != "isoresponse" {
		t.Errorf("the switch to isoresponse did not take (%d isoresponse choices)", iso)
	}
	// Speed is a benchmark's business: on a loaded machine (or under -race) every choice may
	// miss its budget, and then each must say so.
	if scored == 0 {
		t.Logf("no discriminate choice was scored within its 400 ms budget on this machine now")
	}
	for _, c := range choices {
		if c.Strategy == "discriminate" && c.Fallback && !strings.Contains(c.Why, "budget") && !strings.Contains(c.Why, "not done") {
			t.Errorf("fallback choice %d does not say why: %q", c.Seq, c.Why)
		}
	}
	// Gapless: every frame shown came from a clip (the first is ready before the loop starts).
	if f.Idle > 0 {
		t.Errorf("%d gray frames before the first clip", f.Idle)
	}
	if f.Observed < 3 {
		t.Errorf("%d clips got their recorded spikes back", f.Observed)
	}
	// The tally moved: the discriminate report of a later choice has clips observed.
	found := false
	for _, c := range choices {
		if c.Strategy == "discriminate" && strings.Contains(c.Report, "log-likelihood ratio") && !strings.HasPrefix(c.Report, "0 clips") {
			found = true
		}
	}
	if !found {
		t.Error("no published choice reports a discriminate tally over observed clips")
	}
}

// TestAdaptiveNextAllocatesNothingWithinAClip: the frame loop's side draws frames of the current
// clip, and hands on their description (made when the clip was prepared), without allocating
// (a new clip is taken once per clip, off this measurement).
func TestAdaptiveNextAllocatesNothingWithinAClip(t *testing.T) {
	nc, stop, err := daemontest.NATS()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg := configs.Default()
	cfg.Stimulus.Kind = "whitenoise"
	cfg.Adaptive.Strategy = "sequence"
	cfg.Adaptive.Clip = configs.Duration(time.Hour)
	ad, err := daemon.NewAdaptive(daemon.AdaptiveOptions{Rig: "test", Config: cfg.Adaptive, Stimulus: cfg.Stimulus, Bus: daemon.NATSBus(nc, 4096, nil)})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]float32, 50*50)
	if _, err := ad.Next(frame); err != nil { // takes the first clip
		t.Fatal(err)
	}
	var desc *pb.StimulusSource
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := ad.Next(frame); err != nil {
			t.Fatal(err)
		}
		desc = ad.Description() // what the frame loop hands the frame's onset
	})
	if allocs != 0 {
		t.Errorf("Next and Description allocate %v times a frame within a clip", allocs)
	}
	if desc.Kind != "whitenoise" || !desc.Reproducible || desc.StimulusYaml == "" {
		t.Errorf("frames of the clip described as %v, want the clip's whitenoise source with its YAML", desc)
	}
	if f := ad.Figures(); f.Clips != 1 || f.Idle != 0 {
		t.Errorf("figures %+v: want one clip, no idle frame", f)
	}
}

// recorder is a strategy of gray clips of 10 frames that keeps what it observes.
type recorder struct{ seen chan recorded }

type recorded struct {
	at     int64
	counts []float32
}

func (r *recorder) Name() string           { return "recorder" }
func (r *recorder) NeedsPredictions() bool { return false }
func (r *recorder) clip() adaptive.Clip {
	st := configs.Default().Stimulus
	st.Kind = "gray"
	return adaptive.Clip{Stimulus: st, Frames: 10}
}
func (r *recorder) Candidates(int) []adaptive.Clip { return []adaptive.Clip{r.clip()} }
func (r *recorder) Default(int) adaptive.Clip      { return r.clip() }
func (r *recorder) Choose(int, []adaptive.Clip, [][]adaptive.Rates) ([]float64, int, string) {
	return nil, 0, "recorder"
}
func (r *recorder) Observe(c *adaptive.Choice, counts []float32) { r.seen <- recorded{c.At, counts} }

// TestAdaptiveBinsRecordedSpikes: spikes published on the acquisition clock (offset from the
// host's) at known places in known frames come back to the strategy counted in the right bin
// and cell of the right clip, through the real bus: frame onsets, sync edges and spike batches.
func TestAdaptiveBinsRecordedSpikes(t *testing.T) {
	nc, stop, err := daemontest.NATS()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg := configs.Default()
	rec := &recorder{seen: make(chan recorded, 64)}
	cells := []int32{7, 9}
	ad, err := daemon.NewAdaptive(daemon.AdaptiveOptions{Rig: "test", Config: cfg.Adaptive, Stimulus: cfg.Stimulus,
		CellIDs: cells, Bus: daemon.NATSBus(nc, 4096, nil), Strategy: rec,
		Clock: clocktest.NewVirtualClock(2e12)}) // time stands still, after every frame published below (they start at 1e12)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ad.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Run subscribes on nc, so what the test publishes on nc after reaches its subscriptions.
	if !daemontest.WaitFor(t, 5*time.Second, "Run's three subscriptions", func() bool { return nc.NumSubscriptions() >= 3 }) {
		t.FailNow()
	}
	const base, bin, offset = int64(1e12), int64(10e6), int64(3e9)
	// Frame k: cell 7 fires 2 ms into it when k%3 == 0, cell 9 at 9 ms when k%2 == 0, and once
	// more at 9.9 ms when k%5 == 0 (still inside the bin).
	want := func(k int64, c int) float32 {
		switch {
		case c == 0 && k%3 == 0:
			return 1
		case c == 1:
			n := float32(0)
			if k%2 == 0 {
				n++
			}
			if k%5 == 0 {
				n++
			}
			return n
		}
		return 0
	}
	frame := make([]float32, 50*50)
	pub := func(subject string, m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subject, b); err != nil {
			t.Fatal(err)
		}
	}
	const frames = 60
	for k := int64(0); k < frames; k++ {
		if !daemontest.WaitFor(t, 5*time.Second, "the scheduler's next clip", ad.NextClipReady) {
			t.FailNow()
		}
		if _, err := ad.Next(frame); err != nil {
			t.Fatal(err)
		}
		on := base + k*bin
		onset := &pb.FrameOnset{Frame: uint64(k), DisplayFrame: uint64(k), FlipHostNs: on - 8e6, OnsetHostNs: on, Confirmed: true}
		sync := &pb.Sync{Seq: uint64(k), Frame: uint64(k), HasFrame: true, TimeAcqNs: on + offset}
		if k%2 == 0 { // the order of onsets and sync edges on the bus is not fixed
			pub("retinad.test.frame", onset)
			pub("retinad.test.sync", sync)
		} else {
			pub("retinad.test.sync", sync)
			pub("retinad.test.frame", onset)
		}
		sp := &pb.Spikes{Seq: uint64(k), StartAcqNs: on + offset, EndAcqNs: on + bin + offset}
		if k%3 == 0 {
			sp.CellIds, sp.TimesAcqNs = append(sp.CellIds, 7), append(sp.TimesAcqNs, on+2e6+offset)
		}
		if k%2 == 0 {
			sp.CellIds, sp.TimesAcqNs = append(sp.CellIds, 9), append(sp.TimesAcqNs, on+9e6+offset)
		}
		if k%5 == 0 {
			sp.CellIds, sp.TimesAcqNs = append(sp.CellIds, 9), append(sp.TimesAcqNs, on+9.9e6+offset)
		}
		sp.CellIds, sp.TimesAcqNs = append(sp.CellIds, 11), append(sp.TimesAcqNs, on+5e6+offset) // a cell no model has
		pub("retinad.test.spikes", sp)
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	timeout := time.After(5 * time.Second)
	for got < 4 {
		select {
		case r := <-rec.seen:
			got++
			if len(r.counts) != 10*len(cells) {
				t.Fatalf("clip at frame %d: %d counts", r.at, len(r.counts))
			}
			for tb := 0; tb < 10; tb++ {
				for c := range cells {
					if w := want(r.at+int64(tb), c); r.counts[tb*len(cells)+c] != w {
						t.Errorf("clip at frame %d, bin %d, cell %d: %v spikes, want %v", r.at, tb, cells[c], r.counts[tb*len(cells)+c], w)
					}
				}
			}
		case <-timeout:
			t.Fatalf("%d clips observed in 5 s, want 4 or more; figures %+v", got, ad.Figures())
		}
	}
}

// A scoring worker's exclusion is published as an Event on the rig's event subject naming it
// and why, and shown in Status and the status line for the daemon's lifetime.
func TestWorkerExclusionIsPublishedAndShown(t *testing.T) {
	nc, stop, err := daemontest.NATS()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 20, Width: 20, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync("retinad.test.event")
	if err != nil {
		t.Fatal(err)
	}
	// The daemon's messages leave through its publish queue, which Run sends.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	note := "worker rogue (w1, retinad.workers.rogue.score) excluded: the worker's rates disagree with this machine's"
	d.WorkerExcluded("rogue", note)
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ev pb.Event
	if err := proto.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Label != daemon.EventWorkerExcluded || ev.Note != note || ev.HostNs == 0 {
		t.Fatalf("event %v: want label %q and the note", &ev, daemon.EventWorkerExcluded)
	}
	st, err := d.Controller().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.WorkersExcluded) != 1 || st.WorkersExcluded[0] != "rogue" {
		t.Fatalf("Status.workers_excluded = %v, want [rogue]", st.WorkersExcluded)
	}
	if line := d.Figures().String(); !strings.Contains(line, "workers excluded: rogue") {
		t.Fatalf("status line %q does not name the excluded worker", line)
	}
}
