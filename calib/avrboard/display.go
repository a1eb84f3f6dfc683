package avrboard

import (
	"errors"
	"math"
	"sync"
	"time"

	"retinad/calib"
)

// Display is a simulated monitor lighting the board's photodiode: a calib.LightSink that turns
// each flip's patch level into A0 millivolts, Latency after the flip, through the display's
// Gamma, plus Noise on every conversion. It records when each level really changed (the ground
// truth, from the emulator) and how far the emulator was behind real time then. It cannot
// drop frames yet (issue 19's dropped-frame check on the board is not done).
type Display struct {
	Board   *Board
	Clock   calib.Clock   // the host clock flips are stamped with
	Latency time.Duration // flip to light
	Gamma   float64       // light = level^Gamma; 0 means 1
	DarkMV  float64       // A0 at level 0
	LightMV float64       // A0 at level 1

	once  sync.Once
	queue chan lightRec

	mu    sync.Mutex
	truth map[uint64]Step // frame -> when its light took effect
	errs  []error
}

type lightRec struct {
	frame uint64
	ns    int64
	level float64
}

// Light queues the frame's light for Latency after its flip; it does not block (the frame loop
// calls it).
func (d *Display) Light(frame uint64, hostNs int64, level float64) {
	d.once.Do(d.start)
	select {
	case d.queue <- lightRec{frame, hostNs, level}:
	default:
		d.fail(errFull)
	}
}

var errFull = errors.New("avrboard: display queue full: flips come faster than the board takes levels")

func (d *Display) start() {
	d.queue = make(chan lightRec, 1024)
	d.truth = make(map[uint64]Step)
	go d.run()
}

// MV is the A0 voltage for a patch level.
func (d *Display) MV(level float64) float64 {
	g := d.Gamma
	if g == 0 {
		g = 1
	}
	return d.DarkMV + (d.LightMV-d.DarkMV)*math.Pow(min(max(level, 0), 1), g)
}

// run sets each light when it is due. A busy machine may set it late: that is no error of
// the link (the ground truth is when it was set), but the emulator's lag then is recorded.
func (d *Display) run() {
	for r := range d.queue {
		if wait := time.Duration(r.ns + int64(d.Latency) - d.Clock.Now()); wait > 0 {
			time.Sleep(wait) // the light's own schedule: nothing to wait on but time
		}
		st, err := d.Board.SetLevelAt(d.MV(r.level))
		if err != nil {
			d.fail(err)
			return
		}
		d.mu.Lock()
		d.truth[r.frame] = st
		d.mu.Unlock()
	}
}

func (d *Display) fail(err error) {
	d.mu.Lock()
	d.errs = append(d.errs, err)
	d.mu.Unlock()
}

// Truth returns when frame's light took effect on A0 (Step.HostNs: the emulator's own
// CLOCK_MONOTONIC reading as it set the level; Step.LagUS: how far behind real time it was),
// and whether it was lit.
func (d *Display) Truth(frame uint64) (Step, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.truth[frame]
	return s, ok
}

// Errs returns the errors the display met.
func (d *Display) Errs() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.errs...)
}
