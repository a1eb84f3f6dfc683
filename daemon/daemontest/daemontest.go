// Package daemontest holds stand-ins for the daemon's parts where the real ones cannot run in a
// unit test: a virtual clock that moves in lockstep with the daemon (Clock: Settle, Drive), a
// presenter paced by a software vsync on that clock, a deterministic stimulus source, model
// engines of known cost, and an in-process NATS server. They are used from tests only, on the
// goroutines the daemon's interfaces name.
package daemontest

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"retinad/clock"
	"retinad/clock/clocktest"
	"retinad/daemon"
	"retinad/internal/testwait"
)

// Clock is a virtual clock for a daemon test (Parts.Clock, Presenter.Clock): its time moves
// only when the test moves it, by hand with Advance after SetSettle(Settle(...)), in lockstep
// with the daemon, or freely with Drive. It knows the Presenters on it, so that time moves
// only while each waits for its next refresh: the frame loop has handled every frame due.
type Clock struct {
	*clocktest.VirtualClock
	mu    sync.Mutex
	pres  []*Presenter
	quit  atomic.Bool // Drive is stopping: settling gives way
	drive sync.Mutex  // one Drive at a time
}

// NewClock returns a clock reading 1000 s, as a machine's CLOCK_MONOTONIC reads far from 0.
func NewClock() *Clock {
	return &Clock{VirtualClock: clocktest.NewVirtualClock(int64(1000 * time.Second))}
}

func (c *Clock) track(p *Presenter) { c.mu.Lock(); c.pres = append(c.pres, p); c.mu.Unlock() }

// Settle returns a settle function for the clock (SetSettle): it waits, in real time, until
// every tick the clock fired has been handled (Quiet: the status and validation tickers have
// published, a slow model's step has ended), every Presenter on it waits for its next refresh,
// and every cond holds, so that the daemon has done all it had to do at this instant before
// time moves on. After 10 s it says so on stderr and gives up: the test's assertions then
// fail. While Drive stops it gives up at once.
func (c *Clock) Settle(conds ...func() bool) func() {
	settled := func() bool {
		if !c.Quiet() {
			return false
		}
		c.mu.Lock()
		for _, p := range c.pres {
			if !p.waiting.Load() {
				c.mu.Unlock()
				return false
			}
		}
		c.mu.Unlock()
		for _, cond := range conds {
			if !cond() {
				return false
			}
		}
		return true
	}
	return func() {
		var since time.Time
		for spins := 0; !settled() && !c.quit.Load(); spins++ {
			switch {
			case spins < 1000:
				runtime.Gosched()
			case spins == 1000:
				since = time.Now()
			case time.Since(since) > 10*time.Second:
				fmt.Fprintf(os.Stderr, "daemontest: the daemon did not settle at %v in 10 s (clock quiet: %v)\n", time.Duration(c.Now()), c.Quiet())
				return
			default:
				time.Sleep(20 * time.Microsecond) // the daemon's goroutines are running
			}
		}
	}
}

// Drive runs the clock for a test that waits for events rather than for a time: it advances
// the clock by step again and again, each step in lockstep with the daemon (Settle), and no
// faster than real time: the inputs of these tests (an acquisition's spikes and sync edges
// over NATS, control requests) travel in real time, and the daemon judges their lateness on
// its clock. The returned stop ends it and returns once the last step has; call it after Run
// has returned (the frame loop's last refresh needs the clock), e.g. with a defer made before
// Run starts.
func (c *Clock) Drive(step time.Duration) (stop func()) {
	c.drive.Lock()
	c.quit.Store(false)
	c.SetSettle(c.Settle())
	done := make(chan struct{})
	go func() {
		defer close(done)
		start, v0 := time.Now(), c.Now()
		for !c.quit.Load() {
			c.Advance(step)
			if ahead := time.Duration(c.Now()-v0) - time.Since(start); ahead > 0 {
				time.Sleep(ahead) // real time catches up
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.quit.Store(true)
			<-done
			c.drive.Unlock()
		})
	}
}

// Presenter stands in for a vsynced display: Present returns at the next refresh boundary of
// Period on Clock (waiting on its timer), and the patch level alternates 1, 0, 1, ... per frame.
// On a daemontest.Clock it reports when it waits (see Clock.Settle).
type Presenter struct {
	Clock   clock.Clock
	Period  time.Duration
	next    int64
	n       uint64
	timer   clock.Timer
	calls   atomic.Uint64 // Present calls
	waiting atomic.Bool   // blocked in Present until the next refresh
	Missed  atomic.Uint64 // refreshes that passed while the caller was late
}

// Calls is how many times Present has been called (the one under way included).
func (p *Presenter) Calls() uint64 { return p.calls.Load() }

// Present implements daemon.Presenter.
func (p *Presenter) Present(frame []float32) (daemon.Flip, error) {
	if p.calls.Add(1) == 1 {
		if c, ok := p.Clock.(*Clock); ok {
			c.track(p)
		}
	}
	now := p.Clock.Now()
	if p.next == 0 {
		p.next = now + int64(p.Period)
	}
	for p.next < now { // the caller missed refreshes
		p.next += int64(p.Period)
		p.Missed.Add(1)
	}
	if p.timer == nil {
		p.timer = p.Clock.NewTimer(time.Duration(p.next - now))
	} else {
		p.timer.Reset(time.Duration(p.next - now))
	}
	p.waiting.Store(true)
	<-p.timer.C()
	p.waiting.Store(false)
	clock.Ack(p.timer)
	fl := daemon.Flip{HostNs: p.Clock.Now(), Level: float64(1 - p.n%2)}
	p.n++
	p.next += int64(p.Period)
	return fl, nil
}

// Source fills frames with a deterministic pseudo-random contrast pattern (xorshift) and
// returns the frame number as its index.
type Source struct {
	state uint64
	n     uint64
}

// Next implements daemon.Source.
func (s *Source) Next(dst []float32) (uint64, error) {
	if s.state == 0 {
		s.state = 0x9e3779b97f4a7c15
	}
	for i := range dst {
		s.state ^= s.state << 13
		s.state ^= s.state >> 7
		s.state ^= s.state << 17
		dst[i] = float32(int64(s.state>>40)%2001-1000) / 1000
	}
	s.n++
	return s.n - 1, nil
}

// Engine is a one-frame linear-nonlinear model of Cells cells: cell c's rate is
// Gain*softplus(sum of pixels with index = c mod Cells, scaled), so its output depends on the
// frame. Cost makes each step take that long on Clock (real time when Clock is nil): a slow
// model that does not eat a core.
type Engine struct {
	Cells   int
	Gain    float32
	Cost    time.Duration
	Clock   clock.Clock
	steps   atomic.Uint64
	waiting atomic.Bool
}

// Steps is how many steps have begun.
func (e *Engine) Steps() uint64 { return e.steps.Load() }

// Waiting says whether a step is waiting out its Cost on Clock.
func (e *Engine) Waiting() bool { return e.waiting.Load() }

// Step implements daemon.Engine.
func (e *Engine) Step(frame []float32, rates []float32) error {
	e.steps.Add(1)
	if len(rates) != e.Cells {
		return fmt.Errorf("daemontest: %d rates for %d cells", len(rates), e.Cells)
	}
	switch {
	case e.Cost > 0 && e.Clock != nil:
		e.waiting.Store(true)
		clock.SleepUntil(e.Clock, e.Clock.Now()+int64(e.Cost))
		e.waiting.Store(false)
	case e.Cost > 0:
		time.Sleep(e.Cost)
	}
	for c := range rates {
		var s float32
		for i := c; i < len(frame); i += e.Cells {
			s += frame[i]
		}
		x := float64(s) / math.Sqrt(float64(len(frame)/e.Cells))
		rates[c] = e.Gain * float32(math.Log1p(math.Exp(2*x)))
	}
	return nil
}

// Setup is the ground most daemon tests stand on: an in-process NATS server with a connection
// to it (NATS) and a Clock that Drive moves at 5 ms a step. Both end with the test, the clock
// first: after the test's defers and the cleanups registered later, so after any Run the test
// stops there (Run).
func Setup(t testing.TB) (*nats.Conn, *Clock) {
	t.Helper()
	nc, stop, err := NATS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	clock := NewClock()
	t.Cleanup(clock.Drive(5 * time.Millisecond))
	return nc, clock
}

// NATS starts an in-process NATS server with no listener and returns a connection to it and a
// function that closes both.
func NATS() (*nats.Conn, func(), error) {
	s, stop, err := NATSServer()
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		stop()
		return nil, nil, err
	}
	return nc, func() { nc.Close(); stop() }, nil
}

// NATSServer starts an in-process NATS server with no listener (connect with
// nats.InProcessServer) and returns it and a function that shuts it down and waits.
func NATSServer() (*server.Server, func(), error) {
	s, err := server.NewServer(&server.Options{DontListen: true, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		s.Shutdown()
		return nil, nil, fmt.Errorf("daemontest: nats server not ready")
	}
	return s, func() { s.Shutdown(); s.WaitForShutdown() }, nil
}

// LockedBuffer is a sink (log, status line) safe for the daemon's goroutines.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// WaitFor is testwait.For, the tests' one wait helper, under the name the daemon's tests know:
// it polls cond until it holds (true), or marks the test failed naming what it waited for and
// returns false once timeout has passed; the caller decides whether to go on.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) bool {
	t.Helper()
	return testwait.For(t, timeout, what, cond)
}

// Run runs run (a Daemon's Run) on a goroutine. stop cancels ctx, waits for run to return and
// fails the test on its error; defer it where the test's other teardown (a clock's Drive, a NATS
// server) must outlive Run, since the test's cleanup, which calls it too, comes after them.
func Run(t testing.TB, run func(ctx context.Context) error) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(stop)
	return ctx, stop
}
