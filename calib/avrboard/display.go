package avrboard

import (
	"errors"
	"math"
	"sync"
	"time"
)

// Display is a simulated monitor lighting the board's photodiode: a calib.LightSink that turns
// each flip's patch level into A0 millivolts, Latency after the flip, through the display's
// Gamma, plus Noise on every conversion. It records when each level really changed (the ground
// truth, from the emulator) and how far the emulator was behind real time then. It drops the
// frames it is told to (Drop): their light is never set.
type Display struct {
	Board   *Board
	Latency time.Duration // flip to light
	Gamma   float64       // light = level^Gamma; 0 means 1
	DarkMV  float64       // A0 at level 0
	LightMV float64       // A0 at level 1

	once  sync.Once
	queue chan lightRec

	mu    sync.Mutex
	drops map[uint64]bool  // frames never lit
	truth map[uint64]Step  // frame -> when its light took effect
	due   map[uint64]int64 // frame -> when it was to take effect (flip + Latency), host ns
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
	d.mu.Lock()
	dropped := d.drops[frame]
	d.mu.Unlock()
	if dropped {
		return
	}
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
	d.due = make(map[uint64]int64)
	d.drops = make(map[uint64]bool)
	go d.run()
}

// Drop makes the display drop these frames: their light is never set, and A0 keeps the frame
// before's. With a patch that toggles every frame, the frame after a lone dropped one lights
// the patch as it already was, and no photodiode can see it: drop frames in pairs to check that
// each drop is found and none is invented.
func (d *Display) Drop(frames ...uint64) {
	d.once.Do(d.start)
	d.mu.Lock()
	for _, f := range frames {
		d.drops[f] = true
	}
	d.mu.Unlock()
}

// MV is the A0 voltage for a patch level.
func (d *Display) MV(level float64) float64 {
	g := d.Gamma
	if g == 0 {
		g = 1
	}
	return d.DarkMV + (d.LightMV-d.DarkMV)*math.Pow(min(max(level, 0), 1), g)
}

// run hands each light to the emulator as soon as it is flipped, to be set at its due time on
// the emulator's own paced clock (Board.Schedule), so that neither this goroutine's nor the
// frame loop's wake-ups move it; collect records when each was set.
func (d *Display) run() {
	pending := make(chan uint64, cap(d.queue))
	go d.collect(pending)
	defer close(pending)
	for r := range d.queue {
		due := r.ns + int64(d.Latency)
		d.mu.Lock()
		d.due[r.frame] = due
		d.mu.Unlock()
		if err := d.Board.Schedule(d.MV(r.level), due); err != nil {
			d.fail(err)
			return
		}
		pending <- r.frame
	}
}

// collect takes the emulator's answers, in the order the lights were scheduled.
func (d *Display) collect(pending <-chan uint64) {
	for f := range pending {
		st, err := d.Board.Answer()
		if err != nil {
			d.fail(err)
			return
		}
		d.mu.Lock()
		d.truth[f] = st
		d.mu.Unlock()
	}
}

func (d *Display) fail(err error) {
	d.mu.Lock()
	d.errs = append(d.errs, err)
	d.mu.Unlock()
}

// Truth returns when frame's light took effect on A0 (Step.HostNs: the emulated instant on the
// host's clock; Step.LagUS: how far behind real time the emulator was), and whether it was lit
// yet.
func (d *Display) Truth(frame uint64) (Step, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.truth[frame]
	return s, ok
}

// LateNs is how much later than its due time (flip + Latency) frame's light was set: 0 when the
// emulator had its command in time; more when this goroutine (on a busy host) handed it over
// late, and two lights handed over together cancel out on A0.
func (d *Display) LateNs(frame uint64) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.truth[frame]
	if !ok {
		return 0
	}
	return max(0, s.HostNs-d.due[frame])
}

// Errs returns the errors the display met.
func (d *Display) Errs() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.errs...)
}
