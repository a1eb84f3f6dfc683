package daemon

import "sync/atomic"

// ring is a bounded single-producer single-consumer queue of preallocated records. The producer
// fills the record Reserve returns and calls Commit; the consumer reads the record Peek returns
// and calls Release. Neither side blocks, locks or allocates.
type ring[T any] struct {
	buf  []T
	mask uint64
	head atomic.Uint64 // next record to consume; written by the consumer
	tail atomic.Uint64 // next record to produce; written by the producer
}

// newRing returns a ring of at least n records (a power of two), each set up by init.
func newRing[T any](n int, init func(*T)) *ring[T] {
	size := 1
	for size < n {
		size <<= 1
	}
	r := &ring[T]{buf: make([]T, size), mask: uint64(size - 1)}
	if init != nil {
		for i := range r.buf {
			init(&r.buf[i])
		}
	}
	return r
}

// Reserve returns the next free record, or nil when the ring is full. Producer only.
func (r *ring[T]) Reserve() *T {
	t := r.tail.Load()
	if t-r.head.Load() == uint64(len(r.buf)) {
		return nil
	}
	return &r.buf[t&r.mask]
}

// Commit publishes the record Reserve returned. Producer only.
func (r *ring[T]) Commit() { r.tail.Add(1) }

// Peek returns the oldest record, or nil when the ring is empty. Consumer only.
func (r *ring[T]) Peek() *T {
	h := r.head.Load()
	if h == r.tail.Load() {
		return nil
	}
	return &r.buf[h&r.mask]
}

// Release frees the record Peek returned. Consumer only.
func (r *ring[T]) Release() { r.head.Add(1) }

// Len returns the number of records waiting.
func (r *ring[T]) Len() int { return int(r.tail.Load() - r.head.Load()) }

// wake is a level-triggered doorbell: Ring never blocks or allocates, and a waiter on C sees
// at least one signal after any number of rings.
type wake chan struct{}

func newWake() wake { return make(wake, 1) }

// Ring signals the waiter without blocking.
func (w wake) Ring() {
	select {
	case w <- struct{}{}:
	default:
	}
}
