package daemon

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	pb "retinad/proto/retinadpb"
)

// modelIn is one frame handed to a model: a copy of its pixels.
type modelIn struct {
	frame uint64
	pix   []float32
}

// obsIn is one bin's recorded counts for an observed model.
type obsIn struct {
	frame  uint64
	scored bool // counts are the recording's; false: the bin was not covered (no counts)
	counts []float32
}

// modelOut is one computed bin.
type modelOut struct {
	frame     uint64
	rates     []float32
	computeNs int64
	doneNs    int64 // host ns the step finished
}

// runner is one model's goroutine and its queues: the frame loop produces into in, the
// runner consumes it and produces into out, the stamper consumes out.
type runner struct {
	Model
	subject  string // retinad.<rig>.prediction.<name>
	deadline int64  // ns after the flip
	in       *ring[modelIn]
	out      *ring[modelOut]
	wake     wake
	scratch  []float32      // rates when out is full
	predMsg  *pb.Prediction // the stamper's message for this model, reused

	// A model whose bin spans binFrames stimulus frames (the stimulus rate a whole multiple of
	// its bin rate) steps once per bin, on the mean of the bin's frames, accumulated in acc;
	// bins start at frames that are multiples of binFrames.
	binFrames uint64
	acc       []float32
	nacc      uint64
	binFirst  uint64    // the stamper's last published bin: its first frame (stamper only)
	binRates  []float32 // and its rates, scored for each of its frames (stamper only)
	binSet    bool
	valIdx    int      // the validator's index for this model, -1 when not validated; set before the runner is shared
	idsSent   *session // the session whose first prediction carried the cell ids (stamper only)

	// An observed model (Model.Observed, an Observer engine that is validated): validation
	// produces every closed bin's counts into obs; the runner gives the engine the counts of the
	// bin it last stepped before stepping the next.
	observer   Observer
	obs        *ring[obsIn]
	lastFrame  uint64
	pending    bool          // the last step awaits its bin's counts
	unobserved atomic.Uint64 // bins stepped without the counts of the bin before (they came too late or not at all)
	obsLost    atomic.Uint64 // counts validation could not hand over (obs full)

	// resetAt is set by the frame loop to a session's first frame, before feeding it: the
	// runner resets its engine (a Resetter: its frame window, a recurrent state, its
	// generator) before stepping the first bin that begins at or after it, once (resetDone).
	// A second session started before the runner reached the first's frame 0 moves the mark
	// on, and the first (at most Lookahead+1 frames long) runs on without a reset.
	resetAt   atomic.Uint64
	resetDone uint64 // runner only

	// Set when its goroutine starts (under Daemon.ctl): cancel stops it, done closes when it has.
	cancel context.CancelFunc
	done   chan struct{}

	// Counters, read by status from any goroutine.
	steps     atomic.Uint64 // steps computed
	published atomic.Uint64 // predictions published
	skipped   atomic.Uint64 // bins not published: ready after the deadline, or not at all
	overrun   atomic.Uint64 // frames the runner could not take (input full): the model fell behind
	lastNs    atomic.Int64  // last step's compute time
	maxNs     atomic.Int64
	lateNs    atomic.Int64 // how late the last skipped bin was (its ready time minus the flip)
}

func newRunner(m Model, pixels, depth int, frameNs int64, binFrames uint64) *runner {
	r := &runner{Model: m, wake: newWake(), scratch: make([]float32, len(m.CellIDs)), valIdx: -1, binFrames: binFrames}
	binNs := frameNs * int64(binFrames)
	r.predMsg = &pb.Prediction{Model: m.Name, BinWidthNs: binNs, Rates: make([]float32, len(m.CellIDs)), CellIds: m.CellIDs}
	if binFrames > 1 {
		r.acc = make([]float32, pixels)
		r.binRates = make([]float32, len(m.CellIDs))
	}
	r.deadline = int64(m.Deadline)
	if r.deadline <= 0 {
		r.deadline = binNs
		if m.Observed {
			r.deadline = int64(time.Second)
		}
	}
	r.in = newRing(depth, func(x *modelIn) { x.pix = make([]float32, pixels) })
	r.out = newRing(depth, func(x *modelOut) { x.rates = make([]float32, len(m.CellIDs)) })
	return r
}

// feed hands frame to the runner without waiting; it is called by the frame loop.
func (r *runner) feed(frame uint64, pix []float32) {
	x := r.in.Reserve()
	if x == nil {
		r.overrun.Add(1)
		return
	}
	x.frame = frame
	copy(x.pix, pix)
	r.in.Commit()
	r.wake.Ring()
}

// run steps the engine on every frame fed, until ctx ends.
func (r *runner) run(ctx context.Context, now func() int64, stamper wake) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		x := r.in.Peek()
		if x == nil || (r.obs != nil && !r.observe()) {
			select {
			case <-ctx.Done():
				return nil
			case <-r.wake:
			}
			continue
		}
		pix, first := x.pix, x.frame
		if r.binFrames > 1 {
			if !r.accumulate(x) {
				r.in.Release()
				continue
			}
			pix, first = r.acc, x.frame+1-r.binFrames
		}
		o := r.out.Reserve()
		rates := r.scratch
		if o != nil {
			rates = o.rates
		}
		r.startAfresh(first)
		t0 := now()
		err := r.Engine.Step(pix, rates)
		t1 := now()
		if err != nil {
			return fmt.Errorf("daemon: model %s: frame %d: %w", r.Name, x.frame, err)
		}
		r.steps.Add(1)
		r.lastFrame, r.pending = x.frame, r.obs != nil
		r.lastNs.Store(t1 - t0)
		if t1-t0 > r.maxNs.Load() {
			r.maxNs.Store(t1 - t0)
		}
		if o != nil {
			o.frame, o.computeNs, o.doneNs = first, t1-t0, t1
			r.out.Commit()
			stamper.Ring()
		} else {
			r.skipped.Add(1) // the stamper is behind; this bin is lost
		}
		r.in.Release()
	}
}

// startAfresh resets the engine (a Resetter) before the bin that begins at frame first, when
// the frame loop has marked a session's frame 0 at or before it since the last reset.
func (r *runner) startAfresh(first uint64) {
	if at := r.resetAt.Load(); at != r.resetDone && first >= at {
		r.resetDone = at
		if e, ok := r.Engine.(Resetter); ok {
			e.Reset()
		}
	}
}

// accumulate adds frame x to its bin and reports whether the bin is complete: then acc holds
// the mean of its frames. A bin missing a frame (the model joined mid-bin, or its input
// overran) is not stepped.
func (r *runner) accumulate(x *modelIn) bool {
	pos := x.frame % r.binFrames
	if pos == 0 {
		clear(r.acc)
		r.nacc = 0
	}
	if r.nacc != pos {
		r.nacc = r.binFrames + 1 // a frame is missing: never complete until the next bin
	}
	for i, v := range x.pix {
		r.acc[i] += v
	}
	r.nacc++
	if pos != r.binFrames-1 || r.nacc != r.binFrames {
		return false
	}
	k := 1 / float32(r.binFrames)
	for i := range r.acc {
		r.acc[i] *= k
	}
	return true
}

// observe gives the engine the recorded counts of the bin it last stepped, and reports whether
// it may step the next. It gives up waiting (steps on the engine's own counts, counted
// unobserved) when the counts are lost or the input has backed up to half its depth.
func (r *runner) observe() bool {
	if !r.pending {
		return true
	}
	for o := r.obs.Peek(); o != nil; o = r.obs.Peek() {
		switch {
		case o.frame < r.lastFrame:
			r.obs.Release()
		case o.frame == r.lastFrame:
			if o.scored {
				r.observer.Observe(o.counts)
			} else {
				r.unobserved.Add(1)
			}
			r.obs.Release()
			r.pending = false // observed: the next step may go
			return true
		default: // counts of later bins only: this bin's never come
			r.unobserved.Add(1)
			r.pending = false
			return true
		}
	}
	if r.in.Len() > len(r.in.buf)/2 {
		r.unobserved.Add(1)
		r.pending = false
		return true
	}
	return false
}

// observed takes one closed bin's counts from validation (under its lock); it never blocks.
func (r *runner) observed(frame int64, counts []float64, scored bool) {
	o := r.obs.Reserve()
	if o == nil {
		r.obsLost.Add(1)
		return
	}
	o.frame, o.scored = uint64(frame), scored
	for c := range o.counts {
		o.counts[c] = float32(counts[c])
	}
	r.obs.Commit()
	r.wake.Ring()
}

// lastCompute is how long the model's last step took.
func (r *runner) lastCompute() time.Duration { return time.Duration(r.lastNs.Load()) }

func finite(x []float32) bool {
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
