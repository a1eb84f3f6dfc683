package infer

import (
	"fmt"
	"retinad/internal/testwait"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolRunsEveryPart: run calls every part once, each with the pool's size, and returns
// only when all have returned; close ends the helpers (twice is harmless).
func TestPoolRunsEveryPart(t *testing.T) {
	before := runtime.NumGoroutine()
	p := newPool(3)
	var seen [3]atomic.Int32
	f := func(part, parts int) {
		if parts != 3 {
			t.Errorf("part %d of %d, want of 3", part, parts)
		}
		seen[part].Add(1)
	}
	for range 100 {
		p.run(f)
	}
	for i := range seen {
		if n := seen[i].Load(); n != 100 {
			t.Errorf("part %d ran %d times, want 100", i, n)
		}
	}
	if a := testing.AllocsPerRun(100, func() { p.run(f) }); a != 0 {
		t.Errorf("run: %v allocations, want 0", a)
	}
	p.close()
	p.close()
	waitGoroutines(t, before)
	var nilPool *pool
	calls := 0
	nilPool.run(func(part, parts int) { calls += parts })
	if calls != 1 || nilPool.parts() != 1 {
		t.Errorf("nil pool: %d parts run, parts() %d; want 1, 1", calls, nilPool.parts())
	}
}

// TestStreamHelpersEndWithoutClose: an engine with helpers that is dropped without Close
// ends them once it is garbage.
func TestStreamHelpersEndWithoutClose(t *testing.T) {
	before := runtime.NumGoroutine()
	m, err := Load("testdata/bncnn_small.retinad")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStream(m, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if runtime.NumGoroutine() != before+1 {
		t.Fatalf("%d goroutines after NewStream with 2 threads, want %d", runtime.NumGoroutine(), before+1)
	}
	s = nil
	_ = s
	waitGoroutines(t, before)
}

// waitGoroutines waits (collecting garbage) until no more than n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	testwait.Must(t, 10*time.Second, fmt.Sprintf("at most %d goroutines", n), func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= n
	})
}

func TestSpan(t *testing.T) {
	for _, c := range []struct{ n, parts int }{{0, 2}, {1, 2}, {2, 3}, {7, 3}, {8, 2}} {
		next := 0
		for part := range c.parts {
			lo, hi := span(c.n, part, c.parts)
			if lo != next || hi < lo {
				t.Fatalf("span(%d, %d, %d) = [%d, %d), want it to start at %d", c.n, part, c.parts, lo, hi, next)
			}
			next = hi
		}
		if next != c.n {
			t.Errorf("spans of %d in %d end at %d", c.n, c.parts, next)
		}
	}
}

// TestStreamThreadsRange: NewStream refuses a negative thread count and one above MaxThreads.
func TestStreamThreadsRange(t *testing.T) {
	m, err := Load("testdata/bncnn_small.retinad")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{-1, MaxThreads + 1} {
		if _, err := NewStream(m, Options{Threads: n}); err == nil || !strings.Contains(err.Error(), "threads: want 0 to 64") {
			t.Errorf("%d threads: %v", n, err)
		}
	}
}
