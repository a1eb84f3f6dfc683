package calibtest

import (
	"sync"
	"time"

	"retinad/calib"
)

// VirtualClock is a calib.Clock whose time moves only when Advance is called. Advance fires
// due timers one at a time in time order, with Now at each timer's deadline, and before the
// first and after each calls the settle function, which waits until the simulation is drained (every fired tick
// acknowledged, see Quiet, and whatever it set in motion finished) before time moves on.
// Timers implement calib.Acker: a tick counts as handled when its receiver calls Ack, or when
// Stop or Reset discards it unread.
type VirtualClock struct {
	mu     sync.Mutex
	now    int64
	timers []*vTimer
	settle func()
	fired  uint64 // ticks delivered into a timer's channel
	acked  uint64 // ticks acknowledged or discarded
}

var _ calib.Clock = (*VirtualClock)(nil)

// NewVirtualClock returns a clock reading start.
func NewVirtualClock(start int64) *VirtualClock { return &VirtualClock{now: start} }

// SetSettle sets the function Advance calls after firing each timer and at its end.
func (c *VirtualClock) SetSettle(f func()) { c.mu.Lock(); c.settle = f; c.mu.Unlock() }

// Now returns the virtual time.
func (c *VirtualClock) Now() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// NewTimer returns a timer firing d from now.
func (c *VirtualClock) NewTimer(d time.Duration) calib.Timer {
	t := &vTimer{c: c, ch: make(chan struct{}, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Quiet reports whether every tick fired so far has been handled (acknowledged with Ack after
// its receiver acted on it, or discarded by Stop or Reset).
func (c *VirtualClock) Quiet() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired == c.acked
}

// Timers is how many timers have been made: a simulation waits for its components' Run to
// have made theirs before it first moves time, so that they start at the same virtual time
// on every run.
func (c *VirtualClock) Timers() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.timers) }

// Advance moves the clock d forward, firing every timer due on the way.
func (c *VirtualClock) Advance(d time.Duration) { c.AdvanceTo(c.Now() + int64(d)) }

// AdvanceTo moves the clock to t (never back), firing every timer due on the way. It settles
// first too: what happened since the last step (a flip told to the device) may still have a
// timer to arm.
func (c *VirtualClock) AdvanceTo(t int64) {
	c.mu.Lock()
	settle := c.settle
	c.mu.Unlock()
	if settle != nil {
		settle()
	}
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
			settle := c.settle
			c.mu.Unlock()
			if settle != nil {
				settle()
			}
			return
		}
		c.now = max(c.now, next.at)
		next.active = false
		select {
		case next.ch <- struct{}{}:
			c.fired++
		default: // a tick still waits unread: the two are one
		}
		settle := c.settle
		c.mu.Unlock()
		if settle != nil {
			settle()
		}
	}
}

type vTimer struct {
	c      *VirtualClock
	ch     chan struct{}
	at     int64
	active bool
}

var _ calib.Acker = (*vTimer)(nil)

func (t *vTimer) C() <-chan struct{} { return t.ch }

// Ack says the tick just received from C has been handled.
func (t *vTimer) Ack() { t.c.mu.Lock(); t.c.acked++; t.c.mu.Unlock() }

func (t *vTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.active = false
	select {
	case <-t.ch:
		t.c.acked++ // discarded unread
	default:
	}
}

func (t *vTimer) Reset(d time.Duration) {
	t.Stop()
	t.c.mu.Lock()
	t.at, t.active = t.c.now+int64(d), true
	t.c.mu.Unlock()
}
