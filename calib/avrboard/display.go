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
// truth). It cannot drop frames yet (issue 19's dropped-frame check on the board is not done).
type Display struct {
	Board   *Board
	Clock   calib.Clock   // the host clock flips are stamped with
	Latency time.Duration // flip to light
	Gamma   float64       // light = level^Gamma; 0 means 1
	DarkMV  float64       // A0 at level 0
	LightMV float64       // A0 at level 1
	// Slack is how late (after its due time, in the emulator's answer, or in the emulator's
	// clock against real time) a light may be and still count as shown on time; default 1 ms. A busy machine delays the emulator or this
	// goroutine; lights bunched together can then be too short for the firmware to see.
	Slack time.Duration

	once  sync.Once
	queue chan lightRec

	mu    sync.Mutex
	truth map[uint64]int64 // frame -> host ns its light took effect
	late  map[uint64]bool  // frames whose light was not shown within Slack of its time
	// minLag is the least the emulator has been behind real time, in us: more than Slack
	// beyond it means the board's clock was not keeping real time at that light.
	minLag float64
	errs   []error
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
	d.truth = make(map[uint64]int64)
	d.late = make(map[uint64]bool)
	d.minLag = math.Inf(1)
	if d.Slack <= 0 {
		d.Slack = time.Millisecond
	}
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

func (d *Display) run() {
	for r := range d.queue {
		if wait := time.Duration(r.ns + int64(d.Latency) - d.Clock.Now()); wait > 0 {
			time.Sleep(wait) // the light's own schedule: nothing to wait on but time
		}
		due := r.ns + int64(d.Latency)
		before := d.Clock.Now()
		_, lag, err := d.Board.SetLevelLag(d.MV(r.level))
		if err != nil {
			d.fail(err)
			return
		}
		after := d.Clock.Now()
		d.mu.Lock()
		d.truth[r.frame] = before + (after-before)/2
		d.minLag = min(d.minLag, lag)
		slack := float64(d.Slack.Microseconds())
		d.late[r.frame] = before-due > int64(d.Slack) || after-before > int64(d.Slack) || lag-d.minLag > slack
		d.mu.Unlock()
	}
}

func (d *Display) fail(err error) {
	d.mu.Lock()
	d.errs = append(d.errs, err)
	d.mu.Unlock()
}

// Truth returns the host ns at which frame's light took effect on A0 (the midpoint of the
// command's round trip to the emulator, so within about its half-width), and whether it was lit.
func (d *Display) Truth(frame uint64) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns, ok := d.truth[frame]
	return ns, ok
}

// Late reports whether frame's light was not shown on time (see Slack): its onset and its
// neighbours' say more about the machine's load than about the link.
func (d *Display) Late(frame uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.late[frame]
}

// Errs returns the errors the display met.
func (d *Display) Errs() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.errs...)
}
