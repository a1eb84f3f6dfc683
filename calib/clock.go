package calib

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the host's monotonic clock and its timers, injected so that tests can run hours of
// rig time in seconds (calibtest.VirtualClock).
type Clock interface {
	Now() int64 // host monotonic nanoseconds
	NewTimer(d time.Duration) Timer
}

// Timer fires once, d after it was made or last Reset, by a non-blocking send on C.
type Timer interface {
	C() <-chan struct{}
	Stop()
	Reset(d time.Duration)
}

// Acker is implemented by simulated timers (calibtest.VirtualClock) that hold time still until
// every fired tick has been acted on: Run calls Ack once it has handled a tick, written what
// the tick asked for and re-armed its timers, so that a simulation can step time only when
// the whole pipeline is drained and its time stamps do not depend on goroutine scheduling.
type Acker interface{ Ack() }

// ack tells a simulated timer that its tick has been handled; real timers ignore it.
func ack(t Timer) {
	if a, ok := t.(Acker); ok {
		a.Ack()
	}
}

// SystemClock is the machine's CLOCK_MONOTONIC, the daemon's one clock.
type SystemClock struct{}

// Now returns CLOCK_MONOTONIC in nanoseconds.
func (SystemClock) Now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("calib: clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}

// NewTimer returns a real timer.
func (SystemClock) NewTimer(d time.Duration) Timer {
	t := &sysTimer{c: make(chan struct{}, 1)}
	t.t = time.AfterFunc(d, t.fire)
	return t
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
