package clock

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the host's monotonic clock and what waits on it.
type Clock interface {
	// Now is host monotonic nanoseconds.
	Now() int64
	// NewTimer returns a timer that fires once, d from now.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that fires every d, the first time d from now.
	NewTicker(d time.Duration) Ticker
	// AfterFunc calls f on its own goroutine d from now, unless stopped first.
	AfterFunc(d time.Duration, f func()) Controller
}

// Controller stops or re-arms a timer, a ticker or an AfterFunc. Stop and Reset are for the
// goroutine that owns it (as with time.Ticker), not for two goroutines at once.
type Controller interface {
	// Stop disarms it and discards a tick not yet received.
	Stop()
	// Reset re-arms it to fire d from now (a ticker: every d from now), discarding a tick not
	// yet received.
	Reset(d time.Duration)
}

// Timer fires once, d after it was made or last Reset, by a non-blocking send on C.
type Timer interface {
	Controller
	C() <-chan struct{}
}

// Ticker fires every period by a non-blocking send on C: a tick not received by the next one
// is one tick, as with time.Ticker.
type Ticker interface {
	Controller
	C() <-chan struct{}
}

// Acker is implemented by virtual timers and tickers (clocktest.VirtualClock), which hold time
// still until every fired tick has been acted on.
type Acker interface{ Ack() }

// Ack tells a virtual timer or ticker that the tick just received from it has been handled;
// real ones ignore it.
func Ack(t any) {
	if a, ok := t.(Acker); ok {
		a.Ack()
	}
}

// Sleeper is a clock with its own way to sleep until a time (System spins the last half
// millisecond for precision; a virtual clock waits for its test to advance it).
type Sleeper interface {
	SleepUntil(t int64)
}

// SleepUntil returns at or after c.Now() == t: through c's SleepUntil when it has one, else
// on a timer.
func SleepUntil(c Clock, t int64) {
	if s, ok := c.(Sleeper); ok {
		s.SleepUntil(t)
		return
	}
	d := t - c.Now()
	if d <= 0 {
		return
	}
	tm := c.NewTimer(time.Duration(d))
	<-tm.C()
	Ack(tm)
}

// System is the machine's CLOCK_MONOTONIC, the daemon's one clock. Its zero value is ready.
type System struct{}

var _ Clock = System{}
var _ Sleeper = System{}

// Now returns CLOCK_MONOTONIC in nanoseconds: the repository's one reader of it. It does not
// allocate.
func (System) Now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("clock: clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}

// SleepUntil sleeps until t: the scheduler's sleep for all but the last half millisecond,
// then a spin on the clock for precision (frame pacing wants better than the scheduler's
// wake-up jitter).
func (c System) SleepUntil(t int64) {
	for {
		d := t - c.Now()
		if d <= 0 {
			return
		}
		if d > int64(500*time.Microsecond) {
			time.Sleep(time.Duration(d) - 500*time.Microsecond)
		}
	}
}

// NewTimer returns a real timer.
func (System) NewTimer(d time.Duration) Timer {
	t := &sysTimer{c: make(chan struct{}, 1)}
	t.t = time.AfterFunc(d, t.fire)
	return t
}

// NewTicker returns a real ticker.
func (System) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker period")
	}
	t := &sysTicker{c: make(chan struct{}, 1)}
	t.t = time.NewTicker(d)
	t.done = make(chan struct{})
	go t.relay(t.t, t.done)
	return t
}

// AfterFunc calls f on its own goroutine d from now.
func (System) AfterFunc(d time.Duration, f func()) Controller {
	return &sysFunc{t: time.AfterFunc(d, f)}
}

type sysTimer struct {
	t *time.Timer
	c chan struct{}
}

func (t *sysTimer) fire() {
	select {
	case t.c <- struct{}{}:
	default:
	}
}
func (t *sysTimer) C() <-chan struct{} { return t.c }
func (t *sysTimer) Stop() {
	t.t.Stop()
	select {
	case <-t.c:
	default:
	}
}
func (t *sysTimer) Reset(d time.Duration) { t.Stop(); t.t.Reset(d) }

// sysTicker relays a time.Ticker's ticks as struct{} (the channel type every Clock shares) on
// a goroutine of its own that Stop ends.
type sysTicker struct {
	t    *time.Ticker
	c    chan struct{}
	done chan struct{}
}

func (t *sysTicker) relay(tk *time.Ticker, done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-tk.C:
			select {
			case t.c <- struct{}{}:
			default:
			}
		}
	}
}
func (t *sysTicker) C() <-chan struct{} { return t.c }

// Stop stops the ticker and its relay; Reset may start them again.
func (t *sysTicker) Stop() {
	t.t.Stop()
	if t.done != nil {
		close(t.done)
		t.done = nil
	}
	select {
	case <-t.c:
	default:
	}
}
func (t *sysTicker) Reset(d time.Duration) {
	t.Stop()
	t.t.Reset(d)
	t.done = make(chan struct{})
	go t.relay(t.t, t.done)
}

type sysFunc struct{ t *time.Timer }

func (f *sysFunc) Stop()                 { f.t.Stop() }
func (f *sysFunc) Reset(d time.Duration) { f.t.Reset(d) }
