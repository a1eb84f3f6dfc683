package daemon

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// threadNice is the nice value of the calling OS thread (the raw getpriority syscall returns
// 20 - nice).
func threadNice(t *testing.T) int {
	t.Helper()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatalf("getpriority: %v", err)
	}
	return 20 - p
}

// A load runs on a thread at loadNice (clamped to 19), and the caller's thread keeps its own
// priority before and after.
func TestLoadRunsAtBackgroundPriority(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)
	var during, tid int
	if err := atBackgroundPriority(func() { during, tid = threadNice(t), unix.Gettid() }); err != nil {
		t.Fatalf("atBackgroundPriority: %v", err)
	}
	if want := min(before+loadNice, 19); during != want {
		t.Errorf("load ran at nice %d, want %d (caller's %d + %d)", during, want, before, loadNice)
	}
	if tid == unix.Gettid() {
		t.Errorf("load ran on the caller's thread %d", tid)
	}
	if after := threadNice(t); after != before {
		t.Errorf("caller's thread at nice %d after the load, was %d", after, before)
	}
}
