package present

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the host monotonic clock the presenter stamps flips with and paces frames by,
// injected so that tests can run a session's timing fast.
type Clock interface {
	Now() int64         // host monotonic nanoseconds (CLOCK_MONOTONIC)
	SleepUntil(t int64) // returns at or after Now() == t
}

// SystemClock is CLOCK_MONOTONIC, the daemon's one clock (the same as calib.SystemClock).
type SystemClock struct{}

// Now returns CLOCK_MONOTONIC in nanoseconds.
func (SystemClock) Now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("present: clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}

// SleepUntil sleeps until t: the scheduler's sleep for all but the last half millisecond,
// then a spin on the clock for precision.
func (c SystemClock) SleepUntil(t int64) {
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
