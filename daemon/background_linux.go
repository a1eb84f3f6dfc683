package daemon

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// loadNice is how much the nice value of the OS thread that loads a model is raised above its
// own (0 is normal, 19 the lowest priority). A load reads the file, decodes it and sizes the
// engine (FFT weights for a CNN): work that, at the normal priority, competes with the frame
// loop and the display for a busy machine's cores and makes refreshes miss. At +10 the kernel
// gives the load about a tenth of a normal thread's share of a contended core, and all of an
// idle one; SCHED_IDLE is not used because under a steady background load it could starve a
// load past its timeout.
const loadNice = 10

// atBackgroundPriority runs fn on an OS thread of its own whose nice value is raised by
// loadNice (to at most 19), and returns when fn has. On Linux the nice value belongs to the
// thread, not the process (setpriority on a thread id), and the goroutine never unlocks the
// thread, so the runtime ends the thread with it: the lowered priority reaches no other
// goroutine. Threads started while fn runs keep the normal priority: the runtime (newm) has
// its template thread make them when the current thread is locked. If the priority cannot be
// set, fn runs at the normal priority and the error is returned, for the caller to log.
func atBackgroundPriority(fn func()) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		err := lowerThreadPriority(loadNice)
		fn()
		done <- err
	}()
	return <-done
}

// lowerThreadPriority raises the calling OS thread's nice value by n, to at most 19.
func lowerThreadPriority(n int) error {
	tid := unix.Gettid()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid) // the raw syscall: 20 - nice
	if err != nil {
		return fmt.Errorf("daemon: thread %d: getpriority: %w", tid, err)
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, min(20-p+n, 19)); err != nil {
		return fmt.Errorf("daemon: thread %d: setpriority: %w", tid, err)
	}
	return nil
}
