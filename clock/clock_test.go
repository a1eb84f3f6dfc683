package clock_test

import (
	"testing"
	"time"

	"retinad/clock"
)

// TestSystem checks the real clock's timers, ticker and AfterFunc on real time (short waits
// for events, with a generous limit: the machine may be loaded).
func TestSystem(t *testing.T) {
	c := clock.System{}
	t0 := c.Now()
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire")
	}
	if d := c.Now() - t0; d < int64(time.Millisecond) {
		t.Errorf("timer fired after %v, want >= 1ms", time.Duration(d))
	}
	tm.Reset(time.Hour)
	tm.Stop()
	select {
	case <-tm.C():
		t.Error("a stopped timer fired")
	default:
	}

	tk := c.NewTicker(time.Millisecond)
	for i := range 3 {
		select {
		case <-tk.C():
		case <-time.After(5 * time.Second):
			t.Fatalf("ticker: tick %d did not come", i)
		}
	}
	tk.Stop()
	tk.Reset(time.Millisecond)
	select {
	case <-tk.C():
	case <-time.After(5 * time.Second):
		t.Fatal("ticker: no tick after Reset")
	}
	tk.Stop()

	ran := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc did not run")
	}
	stopped := c.AfterFunc(time.Hour, func() { t.Error("a stopped AfterFunc ran") })
	stopped.Stop()

	at := c.Now() + int64(2*time.Millisecond)
	clock.SleepUntil(c, at)
	if c.Now() < at {
		t.Errorf("SleepUntil returned %v early", time.Duration(at-c.Now()))
	}
}

// TestNowAllocatesNothing: the frame loop stamps every flip with Now.
func TestNowAllocatesNothing(t *testing.T) {
	var c clock.Clock = clock.System{}
	if n := testing.AllocsPerRun(1000, func() { _ = c.Now() }); n != 0 {
		t.Errorf("Now: %v allocations, want 0", n)
	}
}

func BenchmarkNow(b *testing.B) {
	var c clock.Clock = clock.System{}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Now()
	}
}
