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

// newPool is startPool with no cores to pin to, which cannot fail.
func newPool(parts int) *pool {
	p, _ := startPool(parts, nil)
	return p
}

// TestPoolRunsEveryPart: run calls every part once, each with the pool's size, and returns
// only when all have returned; close ends the helpers (twice is harmless). Both with spinning
// (a core for every part) and without (GOMAXPROCS 1: every wait parks).
func TestPoolRunsEveryPart(t *testing.T) {
	for _, procs := range []int{max(runtime.GOMAXPROCS(0), 3), 1} {
		t.Run(fmt.Sprintf("gomaxprocs=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			waitHelpers(t, 0)
			p := newPool(3)
			if p.st.spin != (procs >= 3) {
				t.Errorf("spin %v with GOMAXPROCS %d and 3 parts", p.st.spin, procs)
			}
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
			if a := testing.AllocsPerRun(100, func() { p.prewake(); p.run(f) }); a != 0 {
				t.Errorf("prewake and run: %v allocations, want 0", a)
			}
			p.close()
			p.close()
			waitHelpers(t, 0)
		})
	}
	var nilPool *pool
	calls := 0
	nilPool.prewake()
	nilPool.run(func(part, parts int) { calls += parts })
	if calls != 1 || nilPool.parts() != 1 {
		t.Errorf("nil pool: %d parts run, parts() %d; want 1, 1", calls, nilPool.parts())
	}
}

// TestPoolParksAndWakes: helpers that have spun out park; prewake wakes them (they spin
// again, then park once more), and a run reaches them whether they are parked or spinning.
func TestPoolParksAndWakes(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 3)))
	waitHelpers(t, 0)
	p := newPool(3)
	var runs atomic.Int32
	f := func(part, parts int) { runs.Add(1) }
	hs := p.st.helpers
	parked := func() bool { return hs[0].parked.Load() && hs[1].parked.Load() }
	for round := range 3 {
		testwait.Must(t, 10*time.Second, "the helpers to park", parked)
		if round == 1 {
			p0, p1 := hs[0].parks.Load(), hs[1].parks.Load()
			p.prewake()
			testwait.Must(t, 10*time.Second, "prewake to wake the helpers", func() bool { return hs[0].parks.Load() > p0 && hs[1].parks.Load() > p1 })
		}
		p.run(f)
		if n := runs.Load(); n != int32(3*(round+1)) {
			t.Fatalf("round %d: %d parts run in all, want %d", round, n, 3*(round+1))
		}
	}
	p.close()
	waitHelpers(t, 0)
}

// TestPoolCallerTakesUnclaimedParts: parts no helper has claimed are run by the caller, so
// that a helper the scheduler does not run (here: GOMAXPROCS 1, and the caller never gives
// the core up) does not hold the run up. Every part still runs once; none on a helper.
func TestPoolCallerTakesUnclaimedParts(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	waitHelpers(t, 0)
	p := newPool(3)
	defer p.close()
	var seen [3]int
	onHelper := 0
	f := func(part, parts int) {
		seen[part]++
		buf := make([]byte, 4096)
		if !strings.Contains(string(buf[:runtime.Stack(buf, false)]), "TestPoolCallerTakesUnclaimedParts") {
			onHelper++
		}
	}
	for range 20 {
		p.run(f)
	}
	if seen != [3]int{20, 20, 20} || onHelper != 0 {
		t.Errorf("parts run %v times (want 20 each), %d of them on a helper (want 0)", seen, onHelper)
	}
}

// TestPoolLateHelperClaimsNothing: a helper that wakes for a run already over claims none of
// the next run's parts by mistake and runs no stale function: every run's parts run once,
// with that run's function, the helpers spinning between runs or parked (every 97th run).
func TestPoolLateHelperClaimsNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 3)))
	waitHelpers(t, 0)
	p := newPool(3)
	defer p.close()
	const runs = 2000
	counts := make([][3]atomic.Int32, runs)
	fs := make([]func(part, parts int), runs)
	for r := range fs {
		fs[r] = func(part, parts int) { counts[r][part].Add(1) }
	}
	hs := p.st.helpers
	for r := range runs {
		if r%97 == 0 { // the helpers parked: this run must wake them
			testwait.Must(t, 10*time.Second, "the helpers to park", func() bool { return hs[0].parked.Load() && hs[1].parked.Load() })
		}
		p.run(fs[r])
	}
	for r := range counts {
		for part := range counts[r] {
			if n := counts[r][part].Load(); n != 1 {
				t.Fatalf("run %d: part %d ran %d times, want 1", r, part, n)
			}
		}
	}
}

// TestStreamHelpersEndWithoutClose: an engine with helpers that is dropped without Close
// ends them once it is garbage.
func TestStreamHelpersEndWithoutClose(t *testing.T) {
	waitHelpers(t, 0) // earlier tests' engines, collected
	m, err := Load("testdata/bncnn_small.retinad")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStream(m, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n := poolHelpers(); n != 1 {
		t.Fatalf("%d pool helpers after NewStream with 2 threads, want 1", n)
	}
	s = nil
	_ = s
	waitHelpers(t, 0)
}

// poolHelpers counts the goroutines pools started: their helpers.
func poolHelpers() int { return testwait.Started("retinad/infer.startPool") }

// waitHelpers waits (collecting garbage) until no more than n pool helpers run.
func waitHelpers(t *testing.T, n int) {
	t.Helper()
	testwait.Must(t, 10*time.Second, fmt.Sprintf("at most %d pool helpers", n), func() bool {
		runtime.GC()
		return poolHelpers() <= n
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

// BenchmarkPoolRun is the cost of one run of two parts of no work: the handoff to a spinning
// helper and back (a step calls run five times or so). When the machine leaves the helper no
// core, the caller claims both parts and the run costs about as little.
func BenchmarkPoolRun(b *testing.B) {
	p := newPool(2)
	defer p.close()
	var n atomic.Int64
	f := func(part, parts int) { n.Add(1) }
	b.ReportAllocs()
	for b.Loop() {
		p.run(f)
	}
}
