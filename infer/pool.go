package infer

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"retinad/internal/cpus"
)

// pool splits one Step across cores: a fixed set of helper goroutines, started once by
// NewStream. run hands the same function to every helper: the caller and the helpers claim
// its parts one at a time, and run returns when every part has returned. No goroutine is
// started and nothing is allocated per step (the functions are bound once, when the layers
// are built). A nil *pool runs everything on the calling goroutine.
//
// Claiming, rather than part i to helper i, is for a second core that is not quiet: a helper
// the scheduler has not run yet (its core taken by other work) claims nothing, and the caller
// does its part too once its own is done, instead of waiting a scheduling quantum for it; run
// waits only for parts a helper has started. On a quiet core a spinning helper claims within
// a microsecond, long before the caller's first part ends, and the split is as before.
//
// A step calls run several times (the first layer, each convolution's transforms, the dense
// layer) with a few microseconds of one-core work between them. A helper that parked after
// each run would have to be woken by the scheduler for the next, tens of microseconds on a
// virtual machine and more when the core has other work: the bursts in the tail of a step
// split across cores. So a helper, and the caller waiting for the helpers, spin for up to
// poolSpin before they park, when every part has a core of its own (GOMAXPROCS at least the
// parts; otherwise spinning would only keep the others off the core); and Step wakes parked
// helpers first thing (prewake), so that they are spinning by the time its first run comes.
type pool struct {
	st   *poolState
	once sync.Once
}

// poolSpin is how long a helper waits for the next run, and the caller for the helpers, on the
// core before parking: longer than the gaps between one step's runs, short against the frame
// interval (under 1% of a 10 ms frame between steps).
const poolSpin = 50 * time.Microsecond

// poolState is what the helpers share with the pool. They hold it, not the pool, so that a
// pool dropped without close can still be collected (Stream's cleanup closes it).
type poolState struct {
	parts   int
	spin    bool
	f       func(part, parts int) // this run's function: written before state advances, read after a claim
	state   atomic.Uint64         // runs started (and one more at close) << 32 | parts of this run claimed
	left    atomic.Int32          // parts of this run yet to return
	closed  atomic.Bool
	waiting atomic.Bool   // the caller is parked (or about to park) on done
	done    chan struct{} // capacity 1: the last helper's call to a parked caller
	helpers []helperSlot
}

// helperSlot is one helper's parking place.
type helperSlot struct {
	parked atomic.Bool   // parked, or about to park, on wake
	parks  atomic.Uint64 // times it has parked: how often the spin ran out
	wake   chan struct{} // capacity 1
}

// startPool returns a pool of parts-1 helpers, or nil for parts <= 1. With cores (one per
// helper, Options.HelperCPUs) helper i runs pinned to cores[i] for its life
// (internal/cpus.Pin), and startPool returns once every helper is pinned, or the errors of
// those that could not be, with the pool closed.
func startPool(parts int, cores []int) (*pool, error) {
	if parts <= 1 {
		return nil, nil
	}
	if cores != nil && len(cores) != parts-1 {
		panic("infer: startPool: " + strconv.Itoa(len(cores)) + " cores for " + strconv.Itoa(parts-1) + " helpers")
	}
	st := &poolState{parts: parts, spin: runtime.GOMAXPROCS(0) >= parts, done: make(chan struct{}, 1), helpers: make([]helperSlot, parts-1)}
	pinned := make(chan error, len(st.helpers))
	for i := range st.helpers {
		st.helpers[i].wake = make(chan struct{}, 1)
		core := -1
		if cores != nil {
			core = cores[i]
		}
		go st.helper(i, core, pinned)
	}
	p := &pool{st: st}
	if cores != nil {
		var errs []error
		for range st.helpers {
			errs = append(errs, <-pinned)
		}
		if err := errors.Join(errs...); err != nil {
			p.close()
			return nil, fmt.Errorf("infer: pool helpers: %w", err)
		}
	}
	return p, nil
}

// helper claims parts of every run until the pool is closed: pinned to core, and locked to
// its OS thread, for its life when core >= 0 (the result of pinning goes to pinned).
func (st *poolState) helper(i, core int, pinned chan<- error) {
	if core >= 0 {
		unpin, err := cpus.Pin(core)
		pinned <- err
		if err != nil {
			return // startPool closes the pool
		}
		defer unpin()
	}
	h := &st.helpers[i]
	var seen uint64
	for {
		seen = st.next(h, seen)
		if st.closed.Load() {
			return
		}
		st.work(seen)
	}
}

// work claims parts of run g and runs them until none is left unclaimed (or run g is over:
// a helper that comes late claims nothing). st.f is read only after a claim: until that part
// returns, run g cannot end, and the next run cannot write f.
func (st *poolState) work(g uint64) {
	for {
		s := st.state.Load()
		part := int(s & (1<<32 - 1))
		if s>>32 != g || part >= st.parts {
			return
		}
		if !st.state.CompareAndSwap(s, s+1) {
			continue
		}
		st.f(part, st.parts)
		if st.left.Add(-1) == 0 && st.waiting.Load() {
			signal(st.done)
		}
	}
}

// current is the number of the last run started.
func (st *poolState) current() uint64 { return st.state.Load() >> 32 }

// next returns the first run number after seen: spinning for up to poolSpin, then parked,
// and spinning again when woken (prewake wakes a helper before there is a run). A parked
// helper announces it before its last look at the run number, and run advances the number
// before it looks for parked helpers: one of the two sees the other (the atomics are
// sequentially consistent), so no run is missed. A leftover wake only makes a later park
// look again.
func (st *poolState) next(h *helperSlot, seen uint64) uint64 {
	for {
		if st.spin && spinUntil(func() bool { return st.current() != seen }) {
			return st.current()
		}
		h.parked.Store(true)
		if g := st.current(); g != seen {
			h.parked.Store(false)
			return g
		}
		h.parks.Add(1)
		<-h.wake
		h.parked.Store(false)
		if g := st.current(); g != seen {
			return g
		}
	}
}

// spinUntil polls cond on the core for up to poolSpin and reports whether it came true.
func spinUntil(cond func() bool) bool {
	var deadline time.Time
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i%64 == 63 { // the clock costs more than a poll: look at it now and then
			now := time.Now()
			if deadline.IsZero() {
				deadline = now.Add(poolSpin)
			} else if now.After(deadline) {
				return false
			}
		}
	}
}

// signal leaves a token in c (capacity 1) unless one is there already.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// parts is how many pieces run splits work into.
func (p *pool) parts() int {
	if p == nil {
		return 1
	}
	return p.st.parts
}

// prewake wakes the parked helpers, so that they spin, ready for a run soon to come.
func (p *pool) prewake() {
	if p == nil || !p.st.spin {
		return
	}
	for i := range p.st.helpers {
		if h := &p.st.helpers[i]; h.parked.Load() {
			signal(h.wake)
		}
	}
}

// run calls f(part, parts) for every part, on the cores of the pool (the caller's included),
// and returns when all have returned.
func (p *pool) run(f func(part, parts int)) {
	if p == nil {
		f(0, 1)
		return
	}
	st := p.st
	st.f = f
	st.left.Store(int32(st.parts))
	g := st.current() + 1
	st.state.Store(g << 32) // only run and close advance the number
	for i := range st.helpers {
		if h := &st.helpers[i]; h.parked.Load() {
			signal(h.wake)
		}
	}
	st.work(g)
	st.wait()
}

// wait returns when every part of this run has returned from f (the helpers' last ones):
// spinning first, then parked on done, with the same announce-then-look handshake as next.
func (st *poolState) wait() {
	finished := func() bool { return st.left.Load() == 0 }
	if st.spin && spinUntil(finished) {
		return
	}
	for {
		st.waiting.Store(true)
		if finished() {
			st.waiting.Store(false)
			return
		}
		<-st.done
		st.waiting.Store(false)
		if finished() {
			return
		}
	}
}

// close ends the helpers; a second close does nothing. The pool must not run again.
func (p *pool) close() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		st := p.st
		st.closed.Store(true)
		st.state.Add(1 << 32)
		for i := range st.helpers {
			signal(st.helpers[i].wake)
		}
	})
}

// span is part's share of n items split in parts: [lo, hi).
func span(n, part, parts int) (lo, hi int) {
	return n * part / parts, n * (part + 1) / parts
}
