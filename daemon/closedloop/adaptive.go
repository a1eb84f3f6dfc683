package closedloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/clock"
	"retinad/configs"
	"retinad/daemon"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

// Options wire the adaptive stimulus (package stimulus/adaptive) into the daemon.
type Options struct {
	Rig, Session string
	Config       configs.Adaptive
	Stimulus     configs.Stimulus   // the candidates are cut from it
	Predictor    adaptive.Predictor // the models, for scoring; nil when the strategy needs none
	Lead         int                // frames of model history shown before a scored clip (longest history - 1)
	CellIDs      []int32            // the recorded cells, in the order the models predict them
	Bus          daemon.Bus         // where choices are published
	Clock        clock.Clock        // host monotonic ns; default clock.System: give it the daemon's clock (Parts.Clock)
	Log          *slog.Logger
	// Strategy, if set, is used instead of the one Config names (embedding, tests); Config
	// still makes the strategies the control service switches to.
	Strategy adaptive.Strategy
}

// Adaptive is the daemon's side of the adaptive stimulus, a daemon.ClosedLoop. It is the frame
// loop's Source: it plays the clips its Scheduler chooses back to back (each clip's Lead
// frames of history, then the clip), taking the next one without waiting (the scheduler
// always has one: its choice, or its default when scoring is late). Its Run (a daemon
// Component) runs the scheduler and publishes every choice on retinad.<rig>.adaptive; the
// daemon tells it of every bin its validation closes (Observe), and the counts of each clip
// shown go back to the strategy.
//
// Next runs on the frame loop and allocates nothing within a clip; taking the next clip
// allocates a little, once per clip.
type Adaptive struct {
	o        Options
	subject  string // retinad.<rig>.adaptive
	sched    *adaptive.Scheduler
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

	// at names the session of a display frame and numbers it in the session (the daemon's,
	// set through Sessions); nil: o.Session, numbered by display frame.
	at func(display uint64) (string, uint64)

	// recorded counts (the daemon's validation goroutines)
	mu       sync.Mutex
	pending  []shown // clips shown whose counts are not complete yet, in frame order
	cellsOf  []int32 // the cells the last Observe counted, and where each goes in ours (-1: not ours)
	cellMap  []int
	observed atomic.Uint64
	failed   atomic.Uint64 // clips whose bins were not all counted
}

// prepared is a clip's frame source with its description, made off the frame loop.
type prepared struct {
	src  stimulus.Source
	desc *pb.StimulusSource
}

// shown is a clip on screen or shown, waiting for the counts of its bins.
type shown struct {
	seq     int
	first   uint64    // display frame of the clip's first bin (after the lead)
	frames  int       // its bins
	counts  []float32 // [bin][cell], made when its first bin closes
	counted int       // bins counted so far
	gap     bool      // a bin closed uncounted: the clip cannot be observed
}

// New makes the adaptive source from its config.
func New(o Options) (*Adaptive, error) {
	if o.Bus == nil {
		return nil, errors.New("closedloop: no message bus")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	subj, err := contract.SubjectsFor(o.Rig)
	if err != nil {
		return nil, fmt.Errorf("closedloop: %w", err)
	}
	st := o.Strategy
	if st == nil {
		if st, err = adaptive.FromConfig(o.Config, o.Stimulus, models(o.Predictor), o.Lead); err != nil {
			return nil, fmt.Errorf("closedloop: %w", err)
		}
	}
	a := &Adaptive{o: o, subject: subj.Adaptive, cells: map[int32]int{}}
	a.unixBase = time.Now().UnixNano() - o.Clock.Now()
	// The base stimulus's source is opened now (photographs take a while to load), so the
	// first clips drawn from it are ready as soon as the frame loop starts.
	if src, err := stimulus.New(o.Stimulus); err == nil {
		a.prepKey, a.prepSrc = fmt.Sprintf("%+v", o.Stimulus), prepared{src, src.Describe().Proto()}
	}
	gray, err := stimulus.New(configs.Stimulus{Kind: "gray", FrameRate: o.Stimulus.FrameRate,
		Height: o.Stimulus.Height, Width: o.Stimulus.Width, Mean: o.Stimulus.Mean})
	if err != nil {
		return nil, fmt.Errorf("closedloop: %w", err)
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
		return nil, fmt.Errorf("closedloop: %w", err)
	}
	return a, nil
}

func models(p adaptive.Predictor) []string {
	if p == nil {
		return nil
	}
	return p.Models()
}

var _ daemon.ClosedLoop = (*Adaptive)(nil)

// Description is the source of the frame Next last wrote: the clip's (its lead frames too), or
// gray for the lead before the source's frame 0 and before the first clip. Frame loop only.
func (a *Adaptive) Description() *pb.StimulusSource { return a.desc }

// Cells are the recorded cells, in the order the models predict them (Options.CellIDs).
func (a *Adaptive) Cells() []int32 { return a.o.CellIDs }

// Sessions makes the choices name the daemon's session and number their frames in it.
func (a *Adaptive) Sessions(at func(display uint64) (string, uint64)) { a.at = at }

// Switch makes the strategy name from the daemon's adaptive config and switches to it from
// the next choice on (the control service's ChooseStimulus).
func (a *Adaptive) Switch(name string) error {
	cfg := a.o.Config
	cfg.Strategy = name
	st, err := adaptive.FromConfig(cfg, a.o.Stimulus, models(a.o.Predictor), a.o.Lead)
	if err != nil {
		return fmt.Errorf("closedloop: %w", err)
	}
	return a.sched.Switch(st)
}

// Frames is how many frames the source has handed out (the display frame the next clip
// starts at, at the earliest).
func (a *Adaptive) Frames() uint64 { return atomic.LoadUint64(&a.k) }

// NextClipReady reports whether the scheduler's next choice is final, so that a test stepping
// Next by hand need not sleep for it.
func (a *Adaptive) NextClipReady() bool { return a.sched.Ready() }

// Figures returns the counts so far.
func (a *Adaptive) Figures() daemon.LoopFigures {
	return daemon.LoopFigures{Clips: a.clips.Load(), Fallbacks: a.fallback.Load(), Observed: a.observed.Load(),
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
			return fmt.Errorf("closedloop: clip grid %dx%d, the screen's is %dx%d", h, w, a.o.Stimulus.Height, a.o.Stimulus.Width)
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
		err = a.o.Bus.Publish(a.subject, data)
	}
	if err != nil {
		a.o.Log.Warn("closedloop: publish choice", "subject", a.subject, "err", err)
	}
	a.o.Log.Info("adaptive: "+c.Why, "seq", c.Seq, "strategy", c.Strategy, "fallback", c.Fallback)
}

// where names the session a choice shown from display frame at belongs to, and at in that
// session's frame numbering (FrameOnset.frame), as the daemon says (Sessions). Without a
// daemon: Options.Session, and the display frame.
func (a *Adaptive) where(at int64) (string, uint64) {
	display := uint64(max(at, 0))
	if a.at == nil {
		return a.o.Session, display
	}
	return a.at(display)
}

func clipMsg(c adaptive.Clip) *pb.AdaptiveClip {
	y, err := stimulus.EncodeYAML(c.Stimulus)
	if err != nil {
		y = fmt.Sprintf("# %v\n", err)
	}
	return &pb.AdaptiveClip{StimulusYaml: y, Start: int64(c.Start), Frames: uint32(c.Frames)}
}

// Run runs the scheduler until ctx ends.
func (a *Adaptive) Run(ctx context.Context) error { return a.sched.Run(ctx) }

// Observe takes one bin the daemon's validation closed (display frame, counts per cell of
// cells, whether it was counted) and adds it to the clip it belongs to; a clip whose last bin
// closed goes back to the strategy. A clip with a bin closed uncounted, or one shown before
// the daemon counted anything, is not observed (Figures.Unplaced).
func (a *Adaptive) Observe(frame uint64, cells []int32, counts []float64, covered bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mapCells(cells)
	for len(a.pending) > 0 {
		p := &a.pending[0]
		switch {
		case frame < p.first:
			return // a lead frame, or a frame between clips
		case frame >= p.first+uint64(p.frames):
			// Past its end, its bins not all seen (the validator began after it started).
			a.pending = a.pending[1:]
			a.failed.Add(1)
			continue
		}
		a.count(p, frame, counts, covered)
		if frame < p.first+uint64(p.frames)-1 {
			return
		}
		if p.gap || p.counted < p.frames {
			a.failed.Add(1)
		} else {
			a.sched.Observe(adaptive.Observation{Seq: p.seq, Cells: len(a.o.CellIDs), Counts: p.counts})
			a.observed.Add(1)
		}
		a.pending = a.pending[1:]
		return
	}
}

// count adds the bin of frame to clip p's counts, in the order of Options.CellIDs.
func (a *Adaptive) count(p *shown, frame uint64, counts []float64, covered bool) {
	if !covered {
		p.gap = true
		return
	}
	C := len(a.o.CellIDs)
	if p.counts == nil {
		p.counts = make([]float32, p.frames*C)
	}
	row := p.counts[int(frame-p.first)*C:][:C]
	for i, c := range a.cellMap {
		if c >= 0 && i < len(counts) {
			row[c] = float32(counts[i])
		}
	}
	p.counted++
}

// mapCells works out where each of cells (the validator's, fixed for its life) goes among
// Options.CellIDs, once.
func (a *Adaptive) mapCells(cells []int32) {
	if len(cells) == len(a.cellsOf) && (len(cells) == 0 || &cells[0] == &a.cellsOf[0]) {
		return
	}
	a.cellsOf, a.cellMap = cells, make([]int, len(cells))
	for i, id := range cells {
		c, ok := a.cells[id]
		if !ok {
			c = -1
		}
		a.cellMap[i] = c
	}
}
