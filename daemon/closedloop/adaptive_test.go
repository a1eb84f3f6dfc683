package closedloop_test

import (
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/acquisition/sim"
	"retinad/configs"
	"retinad/daemon"
	"retinad/daemon/closedloop"
	"retinad/daemon/daemontest"
	"retinad/daemon/scoring"
	"retinad/proto/contract"
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

// TestClosedLoop runs the daemon at 100 Hz with the adaptive source over a real
// in-process NATS server and the virtual retina as the acquisition system: discriminate scores
// natural-scene candidates with the bundled CNN and LN (daemon/scoring's local predictor),
// the recorded spikes of each clip shown come back through the bus and the daemon's
// validation (no model loaded: it bins the adaptive source's cells) and are scored, every
// choice is published, and a ChooseStimulus request switches the strategy to isoresponse.
func TestClosedLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bundled models and the virtual retina for several seconds")
	}
	nc, clock := daemontest.Setup(t)
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
		sm, err := scoring.LoadModel(name, filepath.Join("..", "..", "models", file))
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
	subj, _ := contract.SubjectsFor("test")
	pub := acquisition.NewPublisher(nc, 4096, nil)
	acq, err := sim.NewAcquisition(retina, pub, sim.AcquisitionOptions{Spikes: subj.Spikes, Sync: subj.Sync,
		BatchInterval: 20 * time.Millisecond, ClockOffset: 3 * time.Second, ClockDriftPPM: 20, Seed: 5, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	bus := daemon.NATSBus(nc, 4096, nil) // one bus, sent by the daemon's Run
	ad, err := closedloop.New(closedloop.Options{Rig: "test", Session: "s1", Config: cfg.Adaptive, Stimulus: cfg.Stimulus,
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

	ctx, stopDaemon := daemontest.Run(t, d.Run)
	defer stopDaemon()
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
	stopDaemon()

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
	ad, err := closedloop.New(closedloop.Options{Rig: "test", Config: cfg.Adaptive, Stimulus: cfg.Stimulus, Bus: daemon.NATSBus(nc, 4096, nil)})
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

// TestAdaptiveCountsClipsFromClosedBins: the bins the daemon's validation closes (Observe: in
// display-frame order, counts in the validator's cell order, which is not the models') come
// back to the strategy as each clip's counts, in the right bin and in the models' cell order;
// a cell the models do not have is left out; a clip with a bin closed uncounted (a gap) is not
// handed to the strategy but counted as unplaced.
func TestAdaptiveCountsClipsFromClosedBins(t *testing.T) {
	cfg := configs.Default()
	rec := &recorder{seen: make(chan recorded, 256)}
	cells := []int32{7, 9}      // the models' order
	binned := []int32{9, 11, 7} // the validator's: another order, and a cell no model has
	bus := choiceBus{make(chan []byte, 256)}
	ad, err := closedloop.New(closedloop.Options{Rig: "test", Config: cfg.Adaptive, Stimulus: cfg.Stimulus,
		CellIDs: cells, Bus: bus, Strategy: rec})
	if err != nil {
		t.Fatal(err)
	}
	_, stopLoop := daemontest.Run(t, ad.Run)
	defer stopLoop()
	// Frame k: cell 7 fires once when k%3 == 0, cell 9 k%4 times, cell 11 five times.
	want := func(k uint64, cell int32) float32 {
		switch {
		case cell == 7 && k%3 == 0:
			return 1
		case cell == 7:
			return 0
		case cell == 9:
			return float32(k % 4)
		}
		return 5
	}
	// Show frames until six clips were taken (the scheduler prepares each on its goroutine; a
	// clip not ready in time makes the current one run on, in no clip).
	frame := make([]float32, cfg.Stimulus.Height*cfg.Stimulus.Width)
	var shown uint64
	deadline := time.Now().Add(20 * time.Second)
	for ad.Figures().Clips < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("%d clips taken in 20 s", ad.Figures().Clips)
		}
		if _, err := ad.Next(frame); err != nil {
			t.Fatal(err)
		}
		shown++
		runtime.Gosched()
	}
	// Where each clip starts, from its published choice (no lead: its first bin).
	var starts []uint64
	for len(starts) < 6 {
		select {
		case b := <-bus.choices:
			var c pb.AdaptiveChoice
			if err := proto.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			starts = append(starts, c.FromFrame)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d choices published in 10 s, want 6", len(starts))
		}
	}
	// The validator closes every frame in order; the third clip's fourth bin closes uncounted.
	gap := starts[2] + 3
	counts := make([]float64, len(binned))
	for k := uint64(0); k < shown; k++ {
		for i, id := range binned {
			counts[i] = float64(want(k, id))
		}
		ad.Observe(k, binned, counts, k != gap)
	}
	for got := 0; got < 4; got++ { // clips 1, 2, 4 and 5 (the sixth is still on screen)
		select {
		case r := <-rec.seen:
			if uint64(r.at) == starts[2] {
				t.Errorf("the clip at frame %d was observed across its uncounted bin %d", r.at, gap)
			}
			if len(r.counts) != 10*len(cells) {
				t.Fatalf("clip at frame %d: %d counts, want 10 bins of %d cells", r.at, len(r.counts), len(cells))
			}
			for tb := 0; tb < 10; tb++ {
				for c, id := range cells {
					if w := want(uint64(r.at)+uint64(tb), id); r.counts[tb*len(cells)+c] != w {
						t.Errorf("clip at frame %d, bin %d, cell %d: %v spikes, want %v", r.at, tb, id, r.counts[tb*len(cells)+c], w)
					}
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d clips observed in 10 s, want 4; figures %+v", got, ad.Figures())
		}
	}
	if f := ad.Figures(); f.Observed != 4 || f.Unplaced != 1 {
		t.Errorf("figures %+v: want 4 clips observed and the one with the gap unplaced", f)
	}
}
