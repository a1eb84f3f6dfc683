package calibtest

import (
	"sync"
	"time"

	"retinad/calib"
)

// VirtualClock is a calib.Clock whose time moves only when Advance is called. Advance fires
// due timers one at a time in time order, with Now at each timer's deadline, and calls the
// settle function after each so that a test can wait for the goroutines it woke.
type VirtualClock struct {
	mu     sync.Mutex
	now    int64
	timers []*vTimer
	settle func()
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

// Undelivered reports whether a fired timer's tick still waits in its channel: a goroutine
// has yet to react to it.
func (c *VirtualClock) Undelivered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if len(t.ch) > 0 {
			return true
		}
	}
	return false
}

// Advance moves the clock d forward, firing every timer due on the way.
func (c *VirtualClock) Advance(d time.Duration) { c.AdvanceTo(c.Now() + int64(d)) }

// AdvanceTo moves the clock to t (never back), firing every timer due on the way.
func (c *VirtualClock) AdvanceTo(t int64) {
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
		default:
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

func (t *vTimer) C() <-chan struct{} { return t.ch }

func (t *vTimer) Stop() {
	t.c.mu.Lock()
	t.active = false
	t.c.mu.Unlock()
	select {
	case <-t.ch:
	default:
	}
}

func (t *vTimer) Reset(d time.Duration) {
	t.Stop()
	t.c.mu.Lock()
	t.at, t.active = t.c.now+int64(d), true
	t.c.mu.Unlock()
}
