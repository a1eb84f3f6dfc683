package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"retinad/calib"
	"retinad/clock"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// Daemon is one wired rig: create it with New and call Run once, from the OS thread that owns
// the display (the main thread).
type Daemon struct {
	p      Parts
	subj   contract.Subjects
	binNs  int64
	source *pb.StimulusSource
	pixels int
	stamp  *stamper
	val    *validation

	// The models: a copy-on-write set the control goroutine replaces (under ctl) and the frame
	// loop and stamper load once per frame. fedSet is the set the frame loop last fed from, so
	// an unload knows when no more frames go to the model it removed.
	models  atomic.Pointer[modelSet]
	fed     *modelSet // frame loop only
	fedSet  atomic.Pointer[modelSet]
	looping atomic.Bool // the frame loop is running

	sess atomic.Pointer[session]  // nil: idle, no session
	base atomic.Pointer[counters] // the counters when the last session started (Figures subtract them)
	rec  recHealth                // the session's recording health (with a Recorder)

	ctl    sync.Mutex // serialises control requests with each other and with Run's start and end
	g      *group     // Run's goroutines, while it runs; guarded by ctl
	ending bool       // Run is waiting for its goroutines: start no more; guarded by ctl
	// loading names the models whose files are being read outside ctl; guarded by ctl.
	loading map[string]bool

	stage    [][]float32          // frames generated ahead, ring of Lookahead+1
	stageIdx []uint64             // their source indices
	stageSrc []*pb.StimulusSource // their sources (shared, never modified)
	describe Describer            // p.Source when it describes its frames, else nil
	loop     ClosedLoop           // p.Source when it is a closed loop (adaptive), else nil

	start     atomic.Int64 // host ns at Run; atomic because Status may be asked for (control) while Run starts
	unixBase  int64        // unix ns minus host ns, at New
	frames    atomic.Uint64
	flipsLost atomic.Uint64
	pixLost   atomic.Uint64 // frames of a source that cannot be rebuilt whose pixels could not be kept
	missed    atomic.Uint64 // refreshes missed, as the presenter reports
	flipSpan  flipSpan      // the first and last flips, for the measured frame rate
	lastLog   atomic.Int64

	excludedMu sync.Mutex
	excluded   []string // scoring workers excluded for wrong answers, for the daemon's lifetime
}

// New checks parts and sizes every buffer. Errors name the part that is wrong.
func New(p Parts) (*Daemon, error) {
	switch {
	case p.Source == nil:
		return nil, fmt.Errorf("daemon: no stimulus source")
	case p.Presenter == nil:
		return nil, fmt.Errorf("daemon: no presenter")
	case p.Bus == nil:
		return nil, fmt.Errorf("daemon: no message bus")
	case p.FrameRate <= 0 || p.Height <= 0 || p.Width <= 0:
		return nil, fmt.Errorf("daemon: frame rate %v Hz and grid %dx%d must be positive", p.FrameRate, p.Height, p.Width)
	}
	subj, err := contract.SubjectsFor(p.Rig)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if p.Lookahead <= 0 {
		p.Lookahead = 4
	}
	if p.Window <= 0 {
		p.Window = 60 * time.Second
	}
	if p.ReportEvery <= 0 {
		p.ReportEvery = time.Second
	}
	if p.FlipsWait <= 0 {
		p.FlipsWait = 2 * time.Second
	}
	if p.StatusEvery <= 0 {
		p.StatusEvery = 250 * time.Millisecond
	}
	if p.Clock == nil {
		p.Clock = clock.System{}
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Session == "" {
		p.Session = newSessionID()
	}
	if err := contract.CheckToken("session", p.Session); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d := &Daemon{p: p, subj: subj, binNs: int64(math.Round(1e9 / p.FrameRate)), pixels: p.Height * p.Width}
	d.unixBase = time.Now().UnixNano() - p.Clock.Now()
	d.source = &pb.StimulusSource{Height: uint32(p.Height), Width: uint32(p.Width), FrameRateHz: p.FrameRate}
	d.describe, _ = p.Source.(Describer)
	if b, ok := p.Bus.(clockUser); ok { // the bus times its outages on the daemon's clock
		b.useClock(p.Clock)
	}
	if d.loop, _ = p.Source.(ClosedLoop); d.loop != nil { // its choices name the session and count its frames
		d.loop.Sessions(d.sessionAt)
	}
	d.val = newValidation(d)
	set := &modelSet{}
	for i, m := range p.Models {
		r, err := d.newRunner(set, m)
		if err != nil {
			return nil, fmt.Errorf("daemon: model %d: %w", i, err)
		}
		if err := d.val.add(r); err != nil {
			return nil, err
		}
		set = set.with(r)
	}
	d.models.Store(set)
	if err := d.val.watch(d.loop); err != nil {
		return nil, err
	}
	d.stage = make([][]float32, p.Lookahead+1)
	for i := range d.stage {
		d.stage[i] = make([]float32, d.pixels)
	}
	d.stageIdx = make([]uint64, len(d.stage))
	d.stageSrc = make([]*pb.StimulusSource, len(d.stage))
	d.stamp = newStamper(d)
	d.sess.Store(&session{id: p.Session})
	d.base.Store(&counters{})
	return d, nil
}

// modelSet is the models running at one time; never modified once shared (copy on write).
type modelSet struct{ runners []*runner }

func (s *modelSet) find(name string) *runner {
	for _, r := range s.runners {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// with returns a new set with r added.
func (s *modelSet) with(r *runner) *modelSet {
	return &modelSet{runners: append(append([]*runner(nil), s.runners...), r)}
}

// without returns a new set without r.
func (s *modelSet) without(r *runner) *modelSet {
	n := &modelSet{}
	for _, x := range s.runners {
		if x != r {
			n.runners = append(n.runners, x)
		}
	}
	return n
}

// newRunner checks m against the daemon and the models in set and sizes its runner. Errors
// say what is wrong with m (ErrModel wraps them).
func (d *Daemon) newRunner(set *modelSet, m Model) (*runner, error) {
	if err := contract.CheckToken("model name", m.Name); err != nil {
		return nil, &ModelError{Name: m.Name, Kind: ErrBadRequest, Err: err}
	}
	if set.find(m.Name) != nil {
		return nil, &ModelError{Name: m.Name, Kind: ErrConflict, Err: errors.New("a model of that name is already running")}
	}
	if m.Engine == nil || len(m.CellIDs) == 0 {
		return nil, &ModelError{Name: m.Name, Kind: ErrBadRequest, Err: errors.New("no engine or no cells")}
	}
	ratio := d.p.FrameRate / m.BinRate
	frames := math.Round(ratio)
	if !(m.BinRate > 0) || frames < 1 || math.Abs(ratio-frames) > 1e-6*ratio {
		return nil, &ModelError{Name: m.Name, Kind: ErrBadRequest, Err: fmt.Errorf("bins at %v Hz but the stimulus runs at %v Hz; want the stimulus rate a whole multiple of the model's bin rate", m.BinRate, d.p.FrameRate)}
	}
	if frames > 1 && m.Observed {
		return nil, &ModelError{Name: m.Name, Kind: ErrBadRequest, Err: fmt.Errorf("observed with %v stimulus frames per bin is not implemented; run it at the stimulus rate", frames)}
	}
	r := newRunner(m, d.pixels, 4*d.p.Lookahead+64, d.binNs, uint64(frames))
	r.subject = d.subj.Prediction(m.Name)
	return r, nil
}

// ModelError is a model that cannot join the daemon, with the kind of fault (ErrBadRequest a
// bad model, ErrConflict the name is taken); errors.Is finds both Kind and what Err wraps.
type ModelError struct {
	Name string
	Kind error
	Err  error
}

func (e *ModelError) Error() string   { return fmt.Sprintf("daemon: model %s: %v", e.Name, e.Err) }
func (e *ModelError) Unwrap() []error { return []error{e.Err, e.Kind} }

// startRunner runs r on a goroutine of Run's group, with a context of its own so that an
// unload can stop it alone, pinned to its core for its life when it has one (Model.CPUs).
// Called with ctl held, while Run runs.
func (d *Daemon) startRunner(r *runner) {
	ctx, cancel := context.WithCancel(d.g.ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	d.g.GoCtx(ctx, "model "+r.Name, func(ctx context.Context) error {
		defer close(r.done)
		return runPinned("model "+r.Name, r.CPUs, func() error { return r.run(ctx, d.now, d.stamp.wake) })
	})
}

// session is one recorded session. Its frames count from 0 (FrameOnset.frame, Prediction.bin):
// frame f of the session is display frame startFrames+f.
type session struct {
	id string
	// startFrames is the display frame of its frame 0: 0 for the session Run starts with; for
	// one started over the control service, notBegun until the frame loop gives it the next
	// frame it generates (and has every model reset before stepping that frame).
	startFrames atomic.Uint64
}

// notBegun is the startFrames of a session whose first frame is not yet generated.
const notBegun = math.MaxUint64

// first returns the display frame of the session's frame 0, and whether it has one yet.
func (s *session) first() (uint64, bool) {
	f := s.startFrames.Load()
	return f, f != notBegun
}

func newSessionID() string { return time.Now().UTC().Format("20060102T150405Z") }

// sessionID returns the current session's name, "" when idle.
func (d *Daemon) sessionID() string {
	if s := d.sess.Load(); s != nil {
		return s.id
	}
	return ""
}

// sessionAt names the session display frame belongs to, and the frame in that session's
// numbering (FrameOnset.frame): 0 for a frame before the session's start, and for every frame
// until the frame loop gives a session started over the control service its frame 0 (its
// startFrames is notBegun, later than any frame). Outside a session: no session, and the
// display frame.
func (d *Daemon) sessionAt(display uint64) (string, uint64) {
	s := d.sess.Load()
	if s == nil {
		return "", display
	}
	first, _ := s.first()
	return s.id, display - min(display, first)
}

// Onset takes one frame's fate from the photodiode (calib.Options.OnOnset). It never blocks.
func (d *Daemon) Onset(o calib.Onset) { d.stamp.onset(o) }

func (d *Daemon) now() int64              { return d.p.Clock.Now() }
func (d *Daemon) unix(hostNs int64) int64 { return hostNs + d.unixBase }

// logEvery logs at most once a second (loops must not flood the log).
func (d *Daemon) logEvery(msg string, args ...any) {
	now := d.now()
	if last := d.lastLog.Load(); now-last > int64(time.Second) && d.lastLog.CompareAndSwap(last, now) {
		d.p.Log.Warn(msg, args...)
	}
}

// Run runs the session until ctx ends or a part fails: the frame loop on the calling goroutine
// (which must own the display's OS thread), every model, the stamper, validation, status and
// the components on their own goroutines. It returns nil on cancellation, after every
// goroutine has stopped.
func (d *Daemon) Run(ctx context.Context) error {
	d.ctl.Lock()
	if d.g != nil {
		d.ctl.Unlock()
		return errors.New("daemon: Run called twice")
	}
	unpin, err := d.pinCores()
	if err != nil {
		d.ctl.Unlock()
		return err
	}
	defer unpin() // after every goroutine of Run has ended
	d.start.Store(d.now())
	stopBus := d.runBus()
	defer stopBus()
	if s := d.sess.Load(); s != nil {
		d.resetRecording()
		d.sessionEvent(ctx, pb.SessionEvent_START, s.id)
	}
	// The goroutines run on until the frame loop has returned: a photodiode resolves the flips
	// still waiting for their edges as it ends (untimed), the last frame loop's flip included,
	// and the stamper publishes them. The frame loop ends with ctx or when a goroutine fails.
	g := newGroup(context.WithoutCancel(ctx))
	d.g = g
	loopCtx, endLoop := context.WithCancel(ctx)
	defer endLoop()
	context.AfterFunc(g.ctx, endLoop)
	for _, c := range d.p.Components {
		g.Go(c.Name, c.Run)
	}
	for _, r := range d.models.Load().runners {
		d.startRunner(r)
	}
	g.Go("stamper", d.stamp.run)
	unsub, err := d.val.subscribe()
	if err != nil {
		g.fail(err)
	} else {
		g.Go("validation", d.val.run)
	}
	g.Go("status", d.runStatus)
	d.ctl.Unlock()
	if err == nil {
		d.waitFlips(loopCtx)
		if err := d.frameLoop(loopCtx); err != nil {
			g.fail(err)
		}
	}
	g.cancel()
	d.ctl.Lock() // a control request under way finishes first; later ones start nothing
	d.ending = true
	d.ctl.Unlock()
	werr := g.Wait()
	d.stamp.process() // what the photodiode resolved as it ended, after the stamper's last pass
	if unsub != nil {
		unsub()
	}
	d.finalStatus()
	if s := d.sess.Load(); s != nil {
		// What the session queued goes before its STOP (see StopSession); ctx has ended.
		if err := d.flush(context.Background()); err != nil {
			d.p.Log.Warn("daemon: flushing the session's last messages before its STOP", "session", s.id, "err", err)
		}
		d.sessionEvent(context.Background(), pb.SessionEvent_STOP, s.id)
	}
	return werr
}

// runBus runs the bus's sending goroutine, when it has one, until the returned function is
// called: it then sends what is still queued (the STOP event last) and returns once it has.
func (d *Daemon) runBus() (stop func()) {
	br, ok := d.p.Bus.(busRunner)
	if !ok {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := br.Run(ctx); err != nil {
			d.p.Log.Error("daemon: bus", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}

// sessionEvent publishes a session's start or stop (the recording's delimiters), through the
// recording store when there is one, so that the recording's health says whether it is stored.
func (d *Daemon) sessionEvent(ctx context.Context, kind pb.SessionEvent_Kind, id string) {
	now := d.now()
	d.storeRecorded(ctx, d.subj.Session, &pb.SessionEvent{
		Session: id, Kind: kind, HostNs: now, UnixNs: d.unix(now), Rig: d.p.Rig,
		ConfigYaml: d.p.ConfigYAML, BinRateHz: d.p.FrameRate, Version: d.p.Version,
	})
}

// waitFlips holds the first frame until the photodiode can time it (Parts.FlipsReady), for at
// most FlipsWait: a frame flipped while the link's clock sync is still under way is untimed,
// and a session's first frames are the ones an experimenter least wants unplaced. A device that
// is not there does not hold the rig: after FlipsWait the frames go on, untimed, as the status
// says.
func (d *Daemon) waitFlips(ctx context.Context) {
	if d.p.FlipsReady == nil {
		return
	}
	t := d.p.Clock.NewTimer(d.p.FlipsWait)
	defer t.Stop()
	select {
	case <-d.p.FlipsReady:
	case <-t.C():
		d.p.Log.Warn("daemon: the photodiode cannot time frames yet (not connected or clock not synced); showing them untimed", "waited", d.p.FlipsWait)
		clock.Ack(t)
	case <-ctx.Done():
	}
}

// frameLoop shows frames until ctx ends. Per frame it neither allocates nor waits on anything
// but the presenter's flip.
func (d *Daemon) frameLoop(ctx context.Context) error {
	d.looping.Store(true)
	defer d.looping.Store(false)
	n := uint64(len(d.stage))
	for k := uint64(0); k < n; k++ {
		if err := d.generate(k); err != nil {
			return err
		}
	}
	for k := uint64(0); ; k++ {
		select {
		case <-ctx.Done():
			return nil
		default:
		}
		if err := d.showFrame(k); err != nil {
			return err
		}
	}
}

// generate makes frame k in its stage slot and feeds it to every model.
func (d *Daemon) generate(k uint64) error {
	slot := k % uint64(len(d.stage))
	idx, err := d.p.Source.Next(d.stage[slot])
	if err != nil {
		return fmt.Errorf("daemon: stimulus frame %d: %w", k, err)
	}
	d.stageIdx[slot] = idx
	d.stageSrc[slot] = d.source
	if d.describe != nil {
		if src := d.describe.Description(); src != nil {
			d.stageSrc[slot] = src
		}
	}
	// A model loaded or unloaded joins or leaves here, at a frame boundary.
	if set := d.models.Load(); set != d.fed {
		d.fed = set
		d.fedSet.Store(set)
	}
	// A session started over the control service begins with this frame, the first generated
	// since its START: every model starts afresh on it (see runner.resetAt).
	if s := d.sess.Load(); s != nil && s.startFrames.Load() == notBegun {
		for _, r := range d.fed.runners {
			r.resetAt.Store(k)
		}
		s.startFrames.Store(k)
	}
	for _, r := range d.fed.runners {
		r.feed(k, d.stage[slot])
	}
	return nil
}

// showFrame presents frame k, reports its flip, and generates frame k+Lookahead+1 in its slot.
func (d *Daemon) showFrame(k uint64) error {
	slot := k % uint64(len(d.stage))
	fl, err := d.p.Presenter.Present(d.stage[slot])
	if err != nil {
		return fmt.Errorf("daemon: present frame %d: %w", k, err)
	}
	d.frames.Add(1)
	d.flipSpan.add(fl.HostNs)
	if fl.Missed > 0 {
		d.missed.Add(uint64(fl.Missed))
	}
	if x := d.stamp.flips.Reserve(); x != nil {
		*x = flipRec{frame: k, index: d.stageIdx[slot], src: d.stageSrc[slot], hostNs: fl.HostNs}
		d.stamp.flips.Commit()
	} else {
		d.flipsLost.Add(1)
	}
	if !d.stageSrc[slot].Reproducible { // the record must carry what no description rebuilds
		if x := d.stamp.pixels.Reserve(); x != nil {
			x.frame = k
			copy(x.pix, d.stage[slot])
			d.stamp.pixels.Commit()
		} else {
			d.pixLost.Add(1)
		}
	}
	if d.p.Flips != nil {
		d.p.Flips.Flip(k, fl.HostNs, fl.Level)
	} else {
		d.stamp.onset(calib.Onset{Frame: k, FlipNs: fl.HostNs, Status: calib.Untimed})
	}
	return d.generate(k + uint64(len(d.stage)))
}
