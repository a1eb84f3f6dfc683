// Package clocktest holds VirtualClock, the clock.Clock that tests advance by hand to run hours
// of rig time in seconds, in lockstep with the goroutines that wait on it.
//
// Units as in clock: int64 host nanoseconds. A VirtualClock is safe from any goroutine; its
// settle function runs on the goroutine that calls Advance.
package clocktest

import (
	"sync"
	"time"

	"retinad/clock"
)

// VirtualClock is a clock.Clock whose time moves only when Advance is called. Advance fires
// due timers, tickers and AfterFuncs one at a time in time order, with Now at each one's
// deadline, and before the first and after each calls the settle function, which waits until
// the simulation is drained (every fired tick acknowledged, see Quiet, and whatever it set in
// motion finished) before time moves on. Timers and tickers implement clock.Acker: a tick
// counts as handled when its receiver calls Ack, or when Stop or Reset discards it unread. An
// AfterFunc's tick is handled when its function returns.
type VirtualClock struct {
	mu     sync.Mutex
	now    int64
	timers []*vTimer
	settle func()
	solo   bool
	fired  uint64 // ticks delivered into a timer's channel, AfterFuncs started
	acked  uint64 // ticks acknowledged or discarded, AfterFuncs returned
}

var _ clock.Clock = (*VirtualClock)(nil)
var _ clock.Sleeper = (*VirtualClock)(nil)

// NewVirtualClock returns a clock reading start.
func NewVirtualClock(start int64) *VirtualClock { return &VirtualClock{now: start} }

// SetSettle sets the function Advance calls before firing the first timer, after firing each
// and at its end.
func (c *VirtualClock) SetSettle(f func()) { c.mu.Lock(); c.settle = f; c.mu.Unlock() }

// SetSolo says that the one goroutine sleeping on the clock drives it: SleepUntil then moves
// the clock to its deadline itself (firing what is due on the way) instead of waiting for the
// test to. For a test of one component that paces itself, such as a presenter.
func (c *VirtualClock) SetSolo(solo bool) { c.mu.Lock(); c.solo = solo; c.mu.Unlock() }

// Now returns the virtual time.
func (c *VirtualClock) Now() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// NewTimer returns a timer firing d from now.
func (c *VirtualClock) NewTimer(d time.Duration) clock.Timer { return c.add(&vTimer{}, d) }

// NewTicker returns a ticker firing every d, the first time d from now.
func (c *VirtualClock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("clocktest: non-positive ticker period")
	}
	return c.add(&vTimer{period: int64(d)}, d)
}

// AfterFunc calls f on a goroutine of its own d from now.
func (c *VirtualClock) AfterFunc(d time.Duration, f func()) clock.Controller {
	return c.add(&vTimer{f: f}, d)
}

func (c *VirtualClock) add(t *vTimer, d time.Duration) *vTimer {
	t.c, t.ch = c, make(chan struct{}, 1)
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// SleepUntil returns once the clock reads t or later. Solo (SetSolo), it advances the clock to
// t itself; otherwise it waits on a timer that the test's Advance fires, and acknowledges it.
func (c *VirtualClock) SleepUntil(t int64) {
	c.mu.Lock()
	solo, now := c.solo, c.now
	c.mu.Unlock()
	switch {
	case t <= now:
	case solo:
		c.AdvanceTo(t)
	default:
		tm := c.NewTimer(time.Duration(t - now))
		<-tm.C()
		c.drop(tm.(*vTimer))
		tm.(*vTimer).Ack()
	}
}

// drop forgets a timer that will not be used again.
func (c *VirtualClock) drop(t *vTimer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return
		}
	}
}

// Quiet reports whether every tick fired so far has been handled (acknowledged with Ack after
// its receiver acted on it, or discarded by Stop or Reset, or an AfterFunc returned).
func (c *VirtualClock) Quiet() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired == c.acked
}

// Timers is how many timers, tickers and AfterFuncs have been made: a simulation waits for
// its components' Run to have made theirs before it first moves time, so that they start at
// the same virtual time on every run.
func (c *VirtualClock) Timers() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.timers) }

// Armed is how many timers, tickers and AfterFuncs are armed (made or Reset, and not yet fired
// or stopped). A settle function can wait for the components it knows of to be waiting.
func (c *VirtualClock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.active {
			n++
		}
	}
	return n
}

// Advance moves the clock d forward, firing everything due on the way.
func (c *VirtualClock) Advance(d time.Duration) { c.AdvanceTo(c.Now() + int64(d)) }

// AdvanceTo moves the clock to t (never back), firing everything due on the way. It settles
// first too: what happened since the last step (a flip told to the device) may still have a
// timer to arm.
func (c *VirtualClock) AdvanceTo(t int64) {
	c.runSettle()
	for {
		c.mu.Lock()
		var next *vTimer
		for _, tm := range c.timers {
			if tm.active && tm.at <= t && (next == nil || tm.at < next.at) {
				next = tm
			}
		}
		if next == nil {
			c.now = max(c.now, t)
			c.mu.Unlock()
			c.runSettle()
			return
		}
		c.now = max(c.now, next.at)
		c.fire(next)
		c.mu.Unlock()
		c.runSettle()
	}
}

// fire delivers t's tick and re-arms a ticker. Called with mu held.
func (c *VirtualClock) fire(t *vTimer) {
	if t.period > 0 {
		t.at += t.period
	} else {
		t.active = false
	}
	if t.f != nil {
		c.fired++
		go func() {
			t.f()
			c.mu.Lock()
			c.acked++
			c.mu.Unlock()
		}()
		return
	}
	select {
	case t.ch <- struct{}{}:
		c.fired++
	default: // a tick still waits unread: the two are one
	}
}

func (c *VirtualClock) runSettle() {
	c.mu.Lock()
	settle := c.settle
	c.mu.Unlock()
	if settle != nil {
		settle()
	}
}

// vTimer is a virtual timer (period 0, f nil), ticker (period > 0) or AfterFunc (f set).
type vTimer struct {
	c      *VirtualClock
	ch     chan struct{}
	at     int64
	period int64
	f      func()
	active bool
}

var _ clock.Acker = (*vTimer)(nil)

func (t *vTimer) C() <-chan struct{} { return t.ch }

// Ack says the tick just received from C has been handled.
func (t *vTimer) Ack() { t.c.mu.Lock(); t.c.acked++; t.c.mu.Unlock() }

func (t *vTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.stop()
}

// stop disarms t and discards a tick not yet received. Called with mu held.
func (t *vTimer) stop() {
	t.active = false
	select {
	case <-t.ch:
		t.c.acked++ // discarded unread
	default:
	}
}

func (t *vTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.stop()
	if t.period > 0 {
		if d <= 0 {
			panic("clocktest: non-positive ticker period")
		}
		t.period = int64(d)
	}
	t.at, t.active = t.c.now+int64(d), true
}
