package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"retinad/acquisition"
	"retinad/calib"
	pb "retinad/proto/retinadpb"
)

// Daemon is one wired rig: create it with New and call Run once, from the OS thread that owns
// the display (the main thread).
type Daemon struct {
	p       Parts
	subj    acquisition.Subjects
	binNs   int64
	source  *pb.StimulusSource
	runners []*runner
	stamp   *stamper
	val     *validation

	stage    [][]float32 // frames generated ahead, ring of Lookahead+1
	stageIdx []uint64    // their source indices

	start     int64 // host ns at Run
	unixBase  int64 // unix ns minus host ns, at New
	frames    atomic.Uint64
	flipsLost atomic.Uint64
	missed    atomic.Uint64 // refreshes missed, as the presenter reports
	lastLog   atomic.Int64
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
	subj, err := acquisition.SubjectsFor(p.Rig)
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
	if p.StatusEvery <= 0 {
		p.StatusEvery = 250 * time.Millisecond
	}
	if p.Now == nil {
		base := time.Now()
		p.Now = func() int64 { return int64(time.Since(base)) }
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{p: p, subj: subj, binNs: int64(math.Round(1e9 / p.FrameRate))}
	d.unixBase = time.Now().UnixNano() - p.Now()
	d.source = &pb.StimulusSource{Height: uint32(p.Height), Width: uint32(p.Width), FrameRateHz: p.FrameRate}
	pixels := p.Height * p.Width
	names := map[string]bool{}
	for i, m := range p.Models {
		if err := acquisition.CheckToken("model name", m.Name); err != nil {
			return nil, fmt.Errorf("daemon: model %d: %w", i, err)
		}
		if names[m.Name] {
			return nil, fmt.Errorf("daemon: model %q configured twice", m.Name)
		}
		names[m.Name] = true
		if m.Engine == nil || len(m.CellIDs) == 0 {
			return nil, fmt.Errorf("daemon: model %s: no engine or no cells", m.Name)
		}
		if math.Abs(m.BinRate-p.FrameRate) > 1e-6*p.FrameRate {
			return nil, fmt.Errorf("daemon: model %s bins at %v Hz but the stimulus runs at %v Hz; resampling is not implemented, set stimulus.frame_rate to the model's rate", m.Name, m.BinRate, p.FrameRate)
		}
		r := newRunner(m, i, pixels, 4*p.Lookahead+64, d.binNs)
		r.subject = subj.Prediction(m.Name)
		d.runners = append(d.runners, r)
	}
	d.stage = make([][]float32, p.Lookahead+1)
	for i := range d.stage {
		d.stage[i] = make([]float32, pixels)
	}
	d.stageIdx = make([]uint64, len(d.stage))
	d.val, err = newValidation(d)
	if err != nil {
		return nil, err
	}
	d.stamp = newStamper(d)
	return d, nil
}

// Onset takes one frame's fate from the photodiode (calib.Options.OnOnset). It never blocks.
func (d *Daemon) Onset(o calib.Onset) { d.stamp.onset(o) }

func (d *Daemon) now() int64              { return d.p.Now() }
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
	d.start = d.now()
	d.sessionEvent(pb.SessionEvent_START)
	g := newGroup(ctx)
	for _, c := range d.p.Components {
		g.Go(c.Name, c.Run)
	}
	for _, r := range d.runners {
		r := r
		g.Go("model "+r.Name, func(ctx context.Context) error { return r.run(ctx, d.now, d.stamp.wake) })
	}
	g.Go("stamper", d.stamp.run)
	unsub, err := d.val.subscribe()
	if err != nil {
		g.fail(err)
	} else {
		g.Go("validation", d.val.run)
	}
	g.Go("status", d.runStatus)
	if err == nil {
		if err := d.frameLoop(g.ctx); err != nil {
			g.fail(err)
		}
	}
	g.cancel()
	werr := g.Wait()
	if unsub != nil {
		unsub()
	}
	d.finalStatus()
	d.sessionEvent(pb.SessionEvent_STOP)
	return werr
}

// sessionEvent publishes the session's start or stop (the recording's delimiters).
func (d *Daemon) sessionEvent(kind pb.SessionEvent_Kind) {
	now := d.now()
	d.publishOnce(d.subj.Session, &pb.SessionEvent{
		Session: d.p.Session, Kind: kind, HostNs: now, UnixNs: d.unix(now), Rig: d.p.Rig,
		ConfigYaml: d.p.ConfigYAML, BinRateHz: d.p.FrameRate,
	})
}

// frameLoop shows frames until ctx ends. Per frame it neither allocates nor waits on anything
// but the presenter's flip.
func (d *Daemon) frameLoop(ctx context.Context) error {
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
	for _, r := range d.runners {
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
	if fl.Missed > 0 {
		d.missed.Add(uint64(fl.Missed))
	}
	if x := d.stamp.flips.Reserve(); x != nil {
		*x = flipRec{frame: k, index: d.stageIdx[slot], hostNs: fl.HostNs}
		d.stamp.flips.Commit()
	} else {
		d.flipsLost.Add(1)
	}
	if d.p.Flips != nil {
		d.p.Flips.Flip(k, fl.HostNs, fl.Level)
	} else {
		d.stamp.onset(calib.Onset{Frame: k, FlipNs: fl.HostNs, Status: calib.Untimed})
	}
	return d.generate(k + uint64(len(d.stage)))
}
