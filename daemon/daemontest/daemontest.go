// Package daemontest holds stand-ins for the daemon's parts where the real ones cannot run in a
// unit test: a presenter paced by a software vsync, a deterministic stimulus source, model
// engines of known cost, and an in-process NATS server. They are used from tests only, on the
// goroutines the daemon's interfaces name.
package daemontest

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"retinad/daemon"
	"retinad/internal/testwait"
)

// Clock is the process's monotonic clock in ns, from a fixed origin.
type Clock struct{ base time.Time }

// NewClock returns a clock starting near zero.
func NewClock() *Clock { return &Clock{base: time.Now()} }

// Now returns ns since the clock was made.
func (c *Clock) Now() int64 { return int64(time.Since(c.base)) }

// Presenter stands in for a vsynced display: Present returns at the next refresh boundary of
// Period (sleeping until it), and the patch level alternates 1, 0, 1, ... per frame.
type Presenter struct {
	Clock  *Clock
	Period time.Duration
	next   int64
	n      uint64
	Missed atomic.Uint64 // refreshes that passed while the caller was late
}

// Present implements daemon.Presenter.
func (p *Presenter) Present(frame []float32) (daemon.Flip, error) {
	now := p.Clock.Now()
	if p.next == 0 {
		p.next = now + int64(p.Period)
	}
	for p.next < now { // the caller missed refreshes
		p.next += int64(p.Period)
		p.Missed.Add(1)
	}
	if d := p.next - now; d > 0 {
		time.Sleep(time.Duration(d))
	}
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
// frame. Cost makes each step sleep that long (a slow model that does not eat a core).
type Engine struct {
	Cells int
	Gain  float32
	Cost  time.Duration
}

// Step implements daemon.Engine.
func (e *Engine) Step(frame []float32, rates []float32) error {
	if len(rates) != e.Cells {
		return fmt.Errorf("daemontest: %d rates for %d cells", len(rates), e.Cells)
	}
	if e.Cost > 0 {
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
