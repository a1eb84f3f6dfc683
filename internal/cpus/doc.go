// Package cpus decides which cores an OS thread of this process runs on: it pins the calling
// thread to one core (Pin), moves every other thread of the process off a set of reserved
// cores (Reserve), and checks a list of cores against the ones this process may use (Check).
//
// Why: a thread that must finish its work in a frame (the daemon's frame loop, a model's
// stepping goroutine, the helpers of a step split across cores) loses a core to any other
// thread the kernel puts there, the process's own included: under `taskset -c 1` the Go
// runtime's threads (sysmon, the garbage collector's) share the one core with the stepping
// thread and switch it out in a quarter to a half of its steps. Pinning the one thread and
// moving the rest off its core gives it the core alone.
//
// Threads: Pin locks the calling goroutine to its OS thread (runtime.LockOSThread) until the
// unpin it returns, which the goroutine calls before it ends: no other goroutine ever runs on a
// pinned thread, and the thread goes back to the runtime with the cores the others have. Threads the runtime starts later
// do not inherit a pinned core: when the goroutine that needs a new thread is locked, the
// runtime has its template thread start it (runtime.newm), and the template thread is an
// ordinary thread that Reserve moves with the rest (TestNewThreadsAvoidPinnedCore). Threads a
// C library starts from a pinned thread (cgo) inherit its core: start them before pinning.
//
// Cores are numbered as the kernel numbers them (/sys/devices/system/cpu); a list is written
// as the kernel writes one ("0-3,6", /proc/self/status Cpus_allowed_list). The cores this
// process may use are those it was started with (its affinity at start, which `taskset` or a
// cgroup may have narrowed). Only Linux can pin a thread: elsewhere every function but
// ParseList and FormatList returns ErrUnsupported.
package cpus
