package testwait_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"retinad/internal/testwait"
)

// recorder is a testing.TB that keeps what a helper reports instead of failing the real test.
type recorder struct {
	testing.TB
	errs  []string
	fatal bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
	panic(r) // as FailNow ends the goroutine: nothing after it runs
}

// A condition that another goroutine makes true is seen soon after, with no failure.
func TestForSeesAnotherGoroutine(t *testing.T) {
	var done atomic.Bool
	time.AfterFunc(20*time.Millisecond, func() { done.Store(true) })
	r := &recorder{TB: t}
	start := time.Now()
	if !testwait.For(r, 10*time.Second, "the flag", done.Load) || len(r.errs) != 0 {
		t.Fatalf("For: %v", r.errs)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("For returned %v after the flag was set 20 ms in", waited)
	}
}

// A condition that never holds fails after the timeout, naming what was awaited; Until says
// false and fails nothing; Must ends the test.
func TestTimeouts(t *testing.T) {
	never := func() bool { return false }
	start := time.Now()
	if testwait.Until(30*time.Millisecond, never) {
		t.Error("Until reported a condition that never holds")
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Errorf("Until gave up after %v, before its 30 ms", waited)
	}
	r := &recorder{TB: t}
	if testwait.For(r, 10*time.Millisecond, "the answer", never) {
		t.Error("For reported a condition that never holds")
	}
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "the answer") || r.fatal {
		t.Errorf("For's report: %q (fatal %v); want one error naming the answer", r.errs, r.fatal)
	}
	r = &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != r {
				panic(p)
			}
		}()
		testwait.Must(r, 10*time.Millisecond, "the answer", never)
		t.Error("Must returned after its timeout")
	}()
	if !r.fatal || len(r.errs) != 1 || !strings.Contains(r.errs[0], "the answer") {
		t.Errorf("Must's report: %q (fatal %v); want a fatal error naming the answer", r.errs, r.fatal)
	}
}
