package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/clock"
	"retinad/configs"
	"retinad/daemon/validate"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

// AdaptiveOptions wire the adaptive stimulus (package stimulus/adaptive) into the daemon.
type AdaptiveOptions struct {
	Rig, Session string
	Config       configs.Adaptive
	Stimulus     configs.Stimulus   // the candidates are cut from it
	Predictor    adaptive.Predictor // the models, for scoring; nil when the strategy needs none
	Lead         int                // frames of model history shown before a scored clip (longest history - 1)
	CellIDs      []int32            // the recorded cells, in the order the models predict them
	Bus          Bus
	Clock        clock.Clock // host monotonic ns; default clock.System: give it the daemon's clock (Parts.Clock)
	Log          *slog.Logger
	// Strategy, if set, is used instead of the one Config names (embedding, tests); Config
	// still makes the strategies the control service switches to.
	Strategy adaptive.Strategy
}

// Adaptive is the daemon's side of the adaptive stimulus. It is the frame loop's Source: it
// plays the clips its Scheduler chooses back to back (each clip's Lead frames of history, then
// the clip), taking the next one without waiting (the scheduler always has one: its choice,
// or its default when scoring is late). Its Run (a Component) runs the scheduler, publishes
// every choice on retinad.<rig>.adaptive, and bins the recorded spikes of every clip shown
// (spikes and sync from acquisition, frame onsets from the daemon, all off the bus) to hand
// them back to the strategy.
//
// Next runs on the frame loop and allocates nothing within a clip; taking the next clip
// allocates a little, once per clip.
type Adaptive struct {
	o        AdaptiveOptions
	subj     acquisition.Subjects
	sched    *adaptive.Scheduler
	binNs    int64
	unixBase int64 // unix ns minus host ns
	cells    map[int32]int

	// frame loop
	k        uint64 // frames handed out
	cur      *adaptive.Choice
	src      stimulus.Source
	pos, end int
	clipDesc *pb.StimulusSource // the current clip's source, described when it was prepared
	gray     *pb.StimulusSource // the gray of the lead before frame 0 and of idle frames
	desc     *pb.StimulusSource // what the frame Next last wrote comes from (Description)
	idle     atomic.Uint64      // gray frames handed out before the first clip was ready
	extended atomic.Uint64      // frames the current clip's source went on for, no next clip ready
	clips    atomic.Uint64
	fallback atomic.Uint64

	// prepared sources (scheduler goroutine), reused while the stimulus is the same
	prepMu  sync.Mutex
	prepKey string
	prepSrc prepared

	// sessions says which session runs and the display frame of its frame 0 (the daemon's,
	// set by New); nil: o.Session, numbered by display frame.
	sessions func() (id string, first uint64, ok bool)

	// spikes (bus goroutines)
	mu         sync.Mutex
	clock      *validate.Clock
	onsets     []int64          // host ns of frame k at k % len; 0 unknown
	frameOf    []int64          // which frame each onset slot holds
	pending    []shown          // clips shown whose counts are not complete yet, in frame order
	spikes     []spike          // recorded spikes not yet past every pending clip
	coveredAcq int64            // acquisition time up to which spikes are complete
	early      map[uint64]int64 // sync edges (acquisition ns) whose frame onset is not known yet
	observed   atomic.Uint64
	failed     atomic.Uint64 // clips whose onsets never became known
}

// prepared is a clip's frame source with its description, made off the frame loop.
type prepared struct {
	src  stimulus.Source
	desc *pb.StimulusSource
}

type shown struct {
	seq    int
	first  uint64 // frame of the clip's first bin (after the lead)
	frames int
}

type spike struct {
	acq  int64 // acquisition clock, ns
	cell int
}

// NewAdaptive makes the adaptive source from its config.
func NewAdaptive(o AdaptiveOptions) (*Adaptive, error) {
	if o.Bus == nil {
		return nil, errors.New("daemon: adaptive: no message bus")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	subj, err := acquisition.SubjectsFor(o.Rig)
	if err != nil {
		return nil, fmt.Errorf("daemon: adaptive: %w", err)
	}
	var models []string
	if o.Predictor != nil {
		models = o.Predictor.Models()
	}
	st := o.Strategy
	if st == nil {
		if st, err = adaptive.FromConfig(o.Config, o.Stimulus, models, o.Lead); err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
	}
	a := &Adaptive{o: o, subj: subj, binNs: int64(1e9 / float64(o.Stimulus.FrameRate)), cells: map[int32]int{},
		clock: validate.NewClock(1000), early: map[uint64]int64{}, onsets: make([]int64, 8192), frameOf: make([]int64, 8192)}
	a.unixBase = time.Now().UnixNano() - o.Clock.Now()
	for i := range a.frameOf {
		a.frameOf[i] = -1
	}
	// The base stimulus's source is opened now (photographs take a while to load), so the
	// first clips drawn from it are ready as soon as the frame loop starts.
	if src, err := stimulus.New(o.Stimulus); err == nil {
		a.prepKey, a.prepSrc = fmt.Sprintf("%+v", o.Stimulus), prepared{src, src.Describe().Proto()}
	}
	gray, err := stimulus.New(configs.Stimulus{Kind: "gray", FrameRate: o.Stimulus.FrameRate,
		Height: o.Stimulus.Height, Width: o.Stimulus.Width, Mean: o.Stimulus.Mean})
	if err != nil {
		return nil, fmt.Errorf("daemon: adaptive: %w", err)
	}
	a.gray = gray.Describe().Proto()
	a.desc = a.gray
	for i, id := range o.CellIDs {
		a.cells[id] = i
	}
	a.sched, err = adaptive.NewScheduler(st, adaptive.Options{
		Predictor: o.Predictor, Budget: o.Config.Budget.D(), Lead: o.Lead,
		Publish: a.publish, Prepare: a.prepare, Clock: o.Clock,
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return a, nil
}

var (
	_ Source    = (*Adaptive)(nil)
	_ Describer = (*Adaptive)(nil)
)

// Description is the source of the frame Next last wrote: the clip's (its lead frames too), or
// gray for the lead before the source's frame 0 and before the first clip. Frame loop only.
func (a *Adaptive) Description() *pb.StimulusSource { return a.desc }

// Strategy makes the strategy name from the daemon's adaptive config and switches to it from
// the next choice on (the control service's ChooseStimulus).
func (a *Adaptive) Strategy(name string) error {
	cfg := a.o.Config
	cfg.Strategy = name
	var models []string
	if a.o.Predictor != nil {
		models = a.o.Predictor.Models()
	}
	st, err := adaptive.FromConfig(cfg, a.o.Stimulus, models, a.o.Lead)
	if err != nil {
		return err
	}
	return a.sched.Switch(st)
}

// Frames is how many frames the source has handed out (the display frame the next clip
// starts at, at the earliest).
func (a *Adaptive) Frames() uint64 { return atomic.LoadUint64(&a.k) }

// NextClipReady reports whether the scheduler's next choice is final, so that a test stepping
// Next by hand need not sleep for it.
func (a *Adaptive) NextClipReady() bool { return a.sched.Ready() }

// AdaptiveFigures count what the adaptive source did.
type AdaptiveFigures struct {
	Clips, Fallbacks, Observed, Unplaced, Idle, Extended uint64
}

// Figures returns the counts so far.
func (a *Adaptive) Figures() AdaptiveFigures {
	return AdaptiveFigures{Clips: a.clips.Load(), Fallbacks: a.fallback.Load(), Observed: a.observed.Load(),
		Unplaced: a.failed.Load(), Idle: a.idle.Load(), Extended: a.extended.Load()}
}

// Next writes the next frame: the current clip's (its lead, then the clip), or the next
// clip's first when it ends; gray until the scheduler has its first clip.
func (a *Adaptive) Next(dst []float32) (uint64, error) {
	k := atomic.LoadUint64(&a.k)
	if a.cur == nil || a.pos >= a.end {
		switch {
		case a.take(k):
		case a.cur != nil:
			// The scheduler has nothing ready (it is busy): the clip's source goes on, never
			// a gap; these frames belong to no clip.
			a.end = a.pos + 1
			a.extended.Add(1)
		default:
			clear(dst)
			a.idle.Add(1)
			atomic.StoreUint64(&a.k, k+1)
			a.desc = a.gray
			return 0, nil
		}
	}
	i := a.pos
	a.pos++
	atomic.StoreUint64(&a.k, k+1)
	if i < 0 {
		clear(dst) // before the source's frame 0: gray, as the models were shown
		a.desc = a.gray
		return 0, nil
	}
	a.src.Frame(i, dst)
	a.desc = a.clipDesc
	return uint64(i), nil
}

func (a *Adaptive) take(k uint64) bool {
	c := a.sched.Take(int64(k))
	if c == nil {
		return false
	}
	p, ok := c.Ready.(prepared)
	if !ok {
		// Not prepared (its preparation failed): keep showing the current source on.
		if a.cur == nil {
			return false
		}
		a.end += c.Lead + c.Clip.Frames
	} else {
		a.src, a.clipDesc = p.src, p.desc
		a.pos, a.end = c.Clip.Start-c.Lead, c.Clip.Start+c.Clip.Frames
		if n := p.src.Len(); n > 0 && a.end > n {
			a.end = n
		}
	}
	a.cur = c
	a.clips.Add(1)
	if c.Fallback {
		a.fallback.Add(1)
	}
	a.mu.Lock()
	if len(a.pending) >= 256 { // no spikes come (no acquisition system): forget the oldest
		a.pending = a.pending[1:]
		a.failed.Add(1)
	}
	a.pending = append(a.pending, shown{seq: c.Seq, first: k + uint64(c.Lead), frames: c.Clip.Frames})
	a.mu.Unlock()
	return true
}

// prepare opens a choice's frame source and describes it on the scheduler's goroutine
// (stimulus.New reads photographs and movies: never on the frame loop), reusing the last one
// for the same stimulus.
func (a *Adaptive) prepare(c *adaptive.Choice) error {
	key := fmt.Sprintf("%+v", c.Clip.Stimulus)
	a.prepMu.Lock()
	defer a.prepMu.Unlock()
	if key != a.prepKey {
		src, err := stimulus.New(c.Clip.Stimulus)
		if err != nil {
			return err
		}
		if h, w := src.Size(); h != a.o.Stimulus.Height || w != a.o.Stimulus.Width {
			return fmt.Errorf("daemon: adaptive clip grid %dx%d, the screen's is %dx%d", h, w, a.o.Stimulus.Height, a.o.Stimulus.Width)
		}
		a.prepKey, a.prepSrc = key, prepared{src, src.Describe().Proto()}
	}
	c.Ready = a.prepSrc
	return nil
}

// publish sends a choice on retinad.<rig>.adaptive (scheduler goroutine).
func (a *Adaptive) publish(c *adaptive.Choice) {
	now := a.o.Clock.Now()
	session, from := a.where(c.At)
	m := &pb.AdaptiveChoice{
		Session: session, Seq: uint64(c.Seq), Strategy: c.Strategy, Scores: c.Scores, Pick: int32(c.Pick),
		Clip: clipMsg(c.Clip), Why: c.Why, Fallback: c.Fallback, ScoreNs: c.ScoreNs, Lead: uint32(c.Lead),
		FromFrame: from, HostNs: now, UnixNs: now + a.unixBase, Report: c.Report,
	}
	for _, cand := range c.Candidates {
		m.Candidates = append(m.Candidates, clipMsg(cand))
	}
	data, err := proto.Marshal(m)
	if err == nil {
		err = a.o.Bus.Publish(a.subj.Adaptive, data)
	}
	if err != nil {
		a.o.Log.Warn("daemon: adaptive: publish choice", "subject", a.subj.Adaptive, "err", err)
	}
	a.o.Log.Info("adaptive: "+c.Why, "seq", c.Seq, "strategy", c.Strategy, "fallback", c.Fallback)
}

// where names the session a choice shown from display frame at belongs to, and at in that
// session's frame numbering (FrameOnset.frame): 0 for a clip whose lead began before the
// session did. Outside a session: no session, and the display frame.
func (a *Adaptive) where(at int64) (string, uint64) {
	display := uint64(max(at, 0))
	if a.sessions == nil {
		return a.o.Session, display
	}
	id, first, ok := a.sessions()
	if !ok {
		return "", display
	}
	return id, display - min(display, first)
}

func clipMsg(c adaptive.Clip) *pb.AdaptiveClip {
	y, err := stimulus.EncodeYAML(c.Stimulus)
	if err != nil {
		y = fmt.Sprintf("# %v\n", err)
	}
	return &pb.AdaptiveClip{StimulusYaml: y, Start: int64(c.Start), Frames: uint32(c.Frames)}
}

// Run runs the scheduler and listens to frame onsets, spikes and sync until ctx ends.
func (a *Adaptive) Run(ctx context.Context) error {
	var onset pb.FrameOnset
	var sp pb.Spikes
	var sy pb.Sync
	// Spikes and sync go through the strict decoder: what it rejects is dropped here and counted
	// (by reason) by the daemon's own subscription, which sees the same messages.
	subs := []struct {
		subj   string
		decode func([]byte) error
		f      func()
	}{
		{a.subj.Frame, func(b []byte) error { return proto.Unmarshal(b, &onset) }, func() { a.onset(&onset) }},
		{a.subj.Spikes, func(b []byte) error { return acquisition.DecodeSpikes(b, &sp) }, func() { a.spikesIn(&sp) }},
		{a.subj.Sync, func(b []byte) error { return acquisition.DecodeSync(b, &sy) }, func() { a.syncIn(&sy) }},
	}
	var unsub []func() error
	defer func() {
		for _, u := range unsub {
			_ = u()
		}
	}()
	for _, s := range subs {
		s := s
		u, err := a.o.Bus.Subscribe(s.subj, func(data []byte) {
			if err := s.decode(data); err != nil {
				return
			}
			s.f()
		})
		if err != nil {
			return fmt.Errorf("daemon: adaptive: subscribe %s: %w", s.subj, err)
		}
		unsub = append(unsub, u)
	}
	return a.sched.Run(ctx)
}

func (a *Adaptive) onset(o *pb.FrameOnset) {
	t := o.OnsetHostNs
	if !o.Confirmed || t == 0 {
		t = o.FlipHostNs
	}
	a.mu.Lock()
	// Display frames, as the frame loop hands them out and as Sync.frame counts them.
	f := o.DisplayFrame
	i := f % uint64(len(a.onsets))
	a.onsets[i], a.frameOf[i] = t, int64(f)
	if acq, ok := a.early[f]; ok { // its sync edge came first
		delete(a.early, f)
		a.clock.Add(acq, t)
	}
	a.mu.Unlock()
}

func (a *Adaptive) onsetOf(frame uint64) (int64, bool) {
	i := frame % uint64(len(a.onsets))
	if a.frameOf[i] != int64(frame) || a.onsets[i] == 0 {
		return 0, false
	}
	return a.onsets[i], true
}

func (a *Adaptive) syncIn(s *pb.Sync) {
	if !s.HasFrame {
		return
	}
	a.mu.Lock()
	if t, ok := a.onsetOf(s.Frame); ok {
		a.clock.Add(s.TimeAcqNs, t)
	} else {
		if len(a.early) >= 1024 { // onsets that never came (frames lost): start afresh
			clear(a.early)
		}
		a.early[s.Frame] = s.TimeAcqNs
	}
	a.mu.Unlock()
}

func (a *Adaptive) spikesIn(s *pb.Spikes) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// A batch cannot cover the future: one that claims to (a hostile or broken end_acq_ns)
	// would close clips before their spikes came. The daemon counts it (ReasonOffClock).
	if end, ok := a.clock.ToHost(s.EndAcqNs); a.clock.Ready() && (!ok || end > a.o.Clock.Now()+spikesAhead) {
		return
	}
	// Kept on the acquisition clock: they are placed when their clip closes, with the clock
	// fit as it is then (the first batches come before the clock has two sync pairs).
	for i, id := range s.CellIds {
		if c, known := a.cells[id]; known && i < len(s.TimesAcqNs) {
			a.spikes = append(a.spikes, spike{acq: s.TimesAcqNs[i], cell: c})
		}
	}
	a.coveredAcq = max(a.coveredAcq, s.EndAcqNs)
	a.close()
}

// close counts the spikes of every pending clip whose last bin the spikes now cover, hands
// them to the scheduler, and drops spikes no pending clip can need.
func (a *Adaptive) close() {
	C := len(a.o.CellIDs)
	covered, ok := a.clock.ToHost(a.coveredAcq)
	if !ok {
		return
	}
	for len(a.pending) > 0 {
		p := a.pending[0]
		last := p.first + uint64(p.frames) - 1
		lastOn, ok := a.onsetOf(last)
		if !ok {
			if newest := a.newestFrame(); newest > int64(last)+200 {
				a.pending = a.pending[1:] // its onsets are gone: give up on it
				a.failed.Add(1)
				continue
			}
			break
		}
		if covered < lastOn+a.binNs {
			break
		}
		counts := make([]float32, p.frames*C)
		starts := make([]int64, p.frames)
		for t := range starts {
			on, ok := a.onsetOf(p.first + uint64(t))
			if !ok {
				on = lastOn - int64(p.frames-1-t)*a.binNs
			}
			starts[t] = on
		}
		for _, s := range a.spikes {
			host, _ := a.clock.ToHost(s.acq)
			if host < starts[0] || host >= lastOn+a.binNs {
				continue
			}
			t := sort.Search(len(starts), func(i int) bool { return starts[i] > host }) - 1
			counts[t*C+s.cell]++
		}
		a.sched.Observe(adaptive.Observation{Seq: p.seq, Cells: C, Counts: counts})
		a.observed.Add(1)
		a.pending = a.pending[1:]
	}
	// Spikes before every pending clip's start are not needed.
	keep := covered
	if len(a.pending) > 0 {
		on, ok := a.onsetOf(a.pending[0].first)
		if !ok {
			return
		}
		keep = on
	}
	n := 0
	for _, s := range a.spikes {
		if host, _ := a.clock.ToHost(s.acq); host >= keep {
			a.spikes[n] = s
			n++
		}
	}
	a.spikes = a.spikes[:n]
}

func (a *Adaptive) newestFrame() int64 {
	var m int64 = -1
	for _, f := range a.frameOf {
		m = max(m, f)
	}
	return m
}

// chooseStimulus answers the control service's ChooseStimulus: with a strategy, the adaptive
// stimulus switches to it from its next choice; anything else is not implemented yet.
func (d *Daemon) chooseStimulus(_ context.Context, r *pb.ChooseStimulusRequest) (*pb.ChooseStimulusReply, error) {
	a, ok := d.p.Source.(*Adaptive)
	if r.GetStrategy() == "" {
		return nil, notYet("choosing a stimulus source other than an adaptive strategy")
	}
	if !ok {
		return nil, &acquisition.ControlError{Code: "409", Err: fmt.Errorf("daemon: choose stimulus: strategy %q asked, but the stimulus is not adaptive (set adaptive.strategy in the config)", r.GetStrategy())}
	}
	if err := a.Strategy(r.GetStrategy()); err != nil {
		return nil, &acquisition.ControlError{Code: "400", Err: fmt.Errorf("daemon: choose stimulus: %w", err)}
	}
	_, from := a.where(int64(a.Frames())) // in the session's numbering, as the choices' from_frame
	return &pb.ChooseStimulusReply{Source: r.GetSource(), FromFrame: from, Strategy: r.GetStrategy()}, nil
}

// EventWorkerExcluded labels the Event that says a scoring worker was excluded.
const EventWorkerExcluded = "worker-excluded"

// WorkerExcluded records a scoring worker excluded for wrong answers (scoring.Pool's
// OnExclude): it is logged, published as an Event labelled EventWorkerExcluded on
// retinad.<rig>.event (recorded with the session) whose note names the worker and why, and
// listed in Status.workers_excluded and the status line for the daemon's lifetime. identity is
// the worker's identity (its NATS user under authentication); note says who and why. Safe
// from any goroutine.
func (d *Daemon) WorkerExcluded(identity, note string) {
	d.excludedMu.Lock()
	d.excluded = append(d.excluded, identity)
	d.excludedMu.Unlock()
	d.p.Log.Error("daemon: scoring worker excluded", "identity", identity, "why", note)
	now := d.now()
	d.publishOnce(d.subj.Event, &pb.Event{Session: d.sessionID(), Label: EventWorkerExcluded, Note: note, HostNs: now, UnixNs: d.unix(now)})
}

// workersExcluded returns the identities WorkerExcluded recorded.
func (d *Daemon) workersExcluded() []string {
	d.excludedMu.Lock()
	defer d.excludedMu.Unlock()
	return append([]string(nil), d.excluded...)
}
