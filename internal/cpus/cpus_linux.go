package cpus

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// start is this process's affinity when it started (read by the main thread in package
// init, before anything here could narrow it): the cores Available returns.
var start, startErr = func() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	return fromSet(&set), nil
}()

// state is the process's assignment: the threads Pin has pinned (thread id to core) and the
// cores Reserve keeps the other threads off.
var state struct {
	sync.Mutex
	pinned   map[int]int
	reserved []int
}

// available is the cores this process started with, or why they are not known.
func available() ([]int, error) { return start, startErr }

// Pin locks the calling goroutine to its OS thread and has the thread run on core alone, until
// the returned unpin, which must be called on the same goroutine before it ends (defer it): it
// gives the thread the cores every other thread has (all of Available but the reserved ones)
// and unlocks it. (A goroutine that ended pinned would leave its thread id here, and, on the
// main thread, which the runtime parks for good instead of ending, its core too.) On an error
// the goroutine is left as it was.
func Pin(core int) (unpin func(), err error) {
	if err := Check("pin", []int{core}); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	state.Lock()
	defer state.Unlock()
	if err := setAffinity(tid, []int{core}); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cpus: pin thread %d to core %d: %w", tid, core, err)
	}
	if state.pinned == nil {
		state.pinned = map[int]int{}
	}
	state.pinned[tid] = core
	return func() {
		if t := unix.Gettid(); t != tid {
			panic("cpus: unpin called on thread " + strconv.Itoa(t) + ", pinned thread " + strconv.Itoa(tid))
		}
		state.Lock()
		defer state.Unlock()
		delete(state.pinned, tid)
		// The thread goes back to the runtime's pool: with the other threads' cores, or
		// locked for good (it then ends with its goroutine) if that cannot be done.
		if setAffinity(tid, othersLocked()) == nil {
			runtime.UnlockOSThread()
		}
	}, nil
}

// Reserve moves every thread of the process that Pin has not pinned off cores (to the rest of
// Available) and keeps later unpinned threads off them, until release, which gives them every
// core of Available again. One reservation at a time: a second Reserve before release is an
// error. cores must leave at least one core of Available; field names them in errors.
func Reserve(field string, cores []int) (release func() error, err error) {
	if err := Check(field, cores); err != nil {
		return nil, err
	}
	rest, err := Others(field, cores)
	if err != nil {
		return nil, err
	}
	state.Lock()
	defer state.Unlock()
	if state.reserved != nil {
		return nil, fmt.Errorf("cpus: %s: cores %s are reserved already", field, FormatList(state.reserved))
	}
	if err := moveOthersLocked(rest); err != nil {
		moveOthersLocked(start) // put back what moved
		return nil, fmt.Errorf("cpus: %s: %w", field, err)
	}
	state.reserved = append([]int{}, cores...)
	return func() error {
		state.Lock()
		defer state.Unlock()
		state.reserved = nil
		if err := moveOthersLocked(start); err != nil {
			return fmt.Errorf("cpus: %s: release: %w", field, err)
		}
		return nil
	}, nil
}

// othersLocked is the cores of threads that are not pinned. state is locked.
func othersLocked() []int {
	if state.reserved == nil {
		return start
	}
	rest, _ := Others("", state.reserved) // Reserve checked that some are left
	return rest
}

// moveOthersLocked sets the affinity of every thread not pinned to cores. A thread made while
// it runs by one not yet moved is found by the next pass over /proc/self/task: it ends after a
// pass that finds none it has not moved. A thread that ends meanwhile is skipped. state is
// locked.
func moveOthersLocked(cores []int) error {
	moved := map[int]bool{}
	for {
		tids, err := threads()
		if err != nil {
			return err
		}
		fresh := false
		for _, tid := range tids {
			if _, ok := state.pinned[tid]; ok || moved[tid] {
				continue
			}
			fresh = true
			moved[tid] = true
			if err := setAffinity(tid, cores); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("move thread %d to cores %s: %w", tid, FormatList(cores), err)
			}
		}
		if !fresh {
			return nil
		}
	}
}

// Threads lists the ids of this process's threads (/proc/self/task).
func Threads() ([]int, error) { return threads() }

func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("cpus: list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Allowed is the cores thread tid of this process may run on now (sched_getaffinity).
func Allowed(tid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &set); err != nil {
		return nil, fmt.Errorf("cpus: thread %d: sched_getaffinity: %w", tid, err)
	}
	return fromSet(&set), nil
}

// CurrentThread is the calling OS thread's id (meaningful while the goroutine is locked to it).
func CurrentThread() int { return unix.Gettid() }

func setAffinity(tid int, cores []int) error {
	var set unix.CPUSet
	for _, c := range cores {
		set.Set(c)
	}
	return unix.SchedSetaffinity(tid, &set)
}

func fromSet(set *unix.CPUSet) []int {
	var cores []int
	for c := 0; c <= MaxCore; c++ {
		if set.IsSet(c) {
			cores = append(cores, c)
		}
	}
	return cores
}
