package daemon

import (
	"fmt"

	"retinad/internal/cpus"
)

// pinCores gives the frame loop and the models their cores of their own (Parts.FrameLoopCPU,
// Model.CPUs): every other thread of the process moves off them (internal/cpus.Reserve), and
// the calling goroutine, which runs the frame loop, is pinned to its core. The model
// goroutines pin themselves (startRunner), their engines' helpers were pinned when the engines
// were made. The returned undo, called on the same goroutine once every other goroutine of Run
// has ended, gives the cores back. With no core configured nothing is done: no thread is
// pinned by default, which is safe on a machine of any size.
func (d *Daemon) pinCores() (undo func(), err error) {
	frameLoop, reserved := -1, []int(nil)
	if c := d.p.FrameLoopCPU; c != nil {
		frameLoop, reserved = *c, append(reserved, *c)
	}
	for _, r := range d.models.Load().runners {
		reserved = append(reserved, r.CPUs...)
	}
	if len(reserved) == 0 {
		return func() {}, nil
	}
	unhold, err := cpus.Hold("cpus.frame_loop and models[].cpus", reserved, frameLoop)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return func() {
		if err := unhold(); err != nil {
			d.p.Log.Warn("daemon: giving the pinned cores back", "err", err)
		}
	}, nil
}

// runPinned runs fn with the calling goroutine pinned to the first of cores, locked to its OS
// thread, and unpinned when fn returns; with no cores, fn runs as it is.
func runPinned(what string, cores []int, fn func() error) error {
	if len(cores) == 0 {
		return fn()
	}
	unpin, err := cpus.Pin(cores[0])
	if err != nil {
		return fmt.Errorf("daemon: %s: %w", what, err)
	}
	defer unpin()
	return fn()
}
