// Package testwait is the tests' one way to wait for something another goroutine or process
// does: poll a condition until it holds or a timeout passes, on the machine's real clock (what
// is waited for runs in real time: a NATS server, a pseudo-terminal's reader, a child process).
// A test on a virtual clock waits on that clock's events instead. Tests only: no non-test code
// imports it (cmd/retinad's TestNoFakeLinked checks).
//
// The condition is polled quickly at first (50 us), so that a test waiting for a goroutine that
// is about to finish loses no time, and then less often, up to every 10 ms, so that a long wait
// costs a shared machine nothing.
package testwait

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

const (
	firstPoll = 50 * time.Microsecond
	maxPoll   = 10 * time.Millisecond
)

// Until polls cond until it holds (true) or timeout has passed (false). It fails nothing: the
// caller says what a timeout means.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	poll := firstPoll
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(poll)
		poll = min(2*poll, maxPoll)
	}
	return true
}

// For waits as Until does and, on a timeout, marks t failed naming what it waited for, and
// returns false; the test goes on (the caller decides whether it can). Safe from any goroutine.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) bool {
	t.Helper()
	if Until(timeout, cond) {
		return true
	}
	t.Errorf("waited %v for %s", timeout, what)
	return false
}

// Must waits as Until does and, on a timeout, ends the test naming what it waited for. Call it
// from the test's own goroutine only (it calls t.Fatalf).
func Must(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("waited %v for %s", timeout, what)
	}
}

// Started counts the goroutines that function fn started (fn as a stack trace names it, e.g.
// "retinad/infer.startPool"), running or not yet running, by their stacks' "created by" line. A
// test that counts what it started does so rather than diff runtime.NumGoroutine, which other
// tests' goroutines ending meanwhile move.
func Started(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by "+fn+" ")
		}
		buf = make([]byte, 2*len(buf))
	}
}
