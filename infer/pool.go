package infer

import "sync"

// pool splits one Step across cores: a fixed set of helper goroutines, started once by
// NewStream, each waiting on its own channel for the next piece of work. run hands the same
// function to every helper, does part 0 itself and waits for the others: no goroutine is
// started and nothing is allocated per step (the functions are bound once, when the layers are
// built). A nil *pool runs everything on the calling goroutine.
type pool struct {
	start []chan func(part, parts int) // one per helper: part i+1
	done  chan struct{}
	once  sync.Once
}

// newPool returns a pool of parts-1 helpers, or nil for parts <= 1.
func newPool(parts int) *pool {
	if parts <= 1 {
		return nil
	}
	p := &pool{start: make([]chan func(int, int), parts-1), done: make(chan struct{}, parts-1)}
	for i := range p.start {
		c := make(chan func(int, int))
		p.start[i] = c
		go helper(c, p.done, i+1, parts)
	}
	return p
}

// helper runs part of every function it is handed until its channel is closed. It holds the
// channels only, not the pool, so that a pool dropped without close can still be collected
// (Stream's cleanup closes it).
func helper(start <-chan func(int, int), done chan<- struct{}, part, parts int) {
	for f := range start {
		f(part, parts)
		done <- struct{}{}
	}
}

// parts is how many pieces run splits work into.
func (p *pool) parts() int {
	if p == nil {
		return 1
	}
	return len(p.start) + 1
}

// run calls f(part, parts) for every part, on every core of the pool, and returns when all
// have returned.
func (p *pool) run(f func(part, parts int)) {
	if p == nil {
		f(0, 1)
		return
	}
	for _, c := range p.start {
		c <- f
	}
	f(0, len(p.start)+1)
	for range p.start {
		<-p.done
	}
}

// close ends the helpers; a second close does nothing. The pool must not run again.
func (p *pool) close() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		for _, c := range p.start {
			close(c)
		}
	})
}

// span is part's share of n items split in parts: [lo, hi).
func span(n, part, parts int) (lo, hi int) {
	return n * part / parts, n * (part + 1) / parts
}
