//go:build !linux

package cpus

import "fmt"

// available returns ErrUnsupported: only Linux says which cores a thread may use.
func available() ([]int, error) { return nil, ErrUnsupported }

// Pin returns ErrUnsupported: only Linux can pin a thread.
func Pin(core int) (unpin func(), err error) {
	return nil, fmt.Errorf("cpus: pin to core %d: %w", core, ErrUnsupported)
}

// Reserve returns ErrUnsupported: only Linux can move threads between cores.
func Reserve(field string, cores []int) (release func() error, err error) {
	return nil, fmt.Errorf("cpus: %s: %w", field, ErrUnsupported)
}

// Threads returns ErrUnsupported.
func Threads() ([]int, error) { return nil, fmt.Errorf("cpus: list threads: %w", ErrUnsupported) }

// Allowed returns ErrUnsupported.
func Allowed(tid int) ([]int, error) {
	return nil, fmt.Errorf("cpus: thread %d: %w", tid, ErrUnsupported)
}

// CurrentThread is 0: thread ids are Linux's.
func CurrentThread() int { return 0 }
