package clocktest_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"retinad/clock"
	"retinad/clock/clocktest"
)

const ms = int64(time.Millisecond)

// TestTimerFiresAtItsDeadline: Advance fires a due timer with Now at its deadline, and holds
// time (not Quiet) until the receiver acknowledges the tick.
func TestTimerFiresAtItsDeadline(t *testing.T) {
	c := clocktest.NewVirtualClock(1000)
	tm := c.NewTimer(10 * time.Millisecond)
	var at int64
	var settles int
	c.SetSettle(func() {
		settles++
		select {
		case <-tm.C():
			at = c.Now()
			if c.Quiet() {
				t.Error("Quiet with a tick received and not acknowledged")
			}
			clock.Ack(tm)
		default:
		}
	})
	c.Advance(9 * time.Millisecond)
	if at != 0 {
		t.Fatalf("fired at %d, before its deadline", at)
	}
	c.Advance(5 * time.Millisecond)
	if at != 1000+10*ms || c.Now() != 1000+14*ms || !c.Quiet() {
		t.Errorf("fired at %d, now %d, quiet %v; want 1000+10ms, 1000+14ms, quiet", at, c.Now(), c.Quiet())
	}
	if settles != 5 { // two steps: before and after each, plus after the firing
		t.Errorf("%d settles, want 5", settles)
	}
	c.Advance(time.Second)
	if at != 1000+10*ms {
		t.Error("a one-shot timer fired twice")
	}
}

// TestStopAndResetDiscardUnreadTicks: a tick that nobody received counts as handled when
// Stop or Reset throws it away, so a stopped timer never holds time.
func TestStopAndResetDiscardUnreadTicks(t *testing.T) {
	c := clocktest.NewVirtualClock(0)
	tm := c.NewTimer(time.Millisecond)
	c.Advance(time.Millisecond)
	if c.Quiet() {
		t.Fatal("quiet with an unread tick")
	}
	tm.Reset(time.Millisecond)
	if !c.Quiet() || c.Armed() != 1 {
		t.Fatalf("after Reset: quiet %v, armed %d; want quiet, 1 armed", c.Quiet(), c.Armed())
	}
	c.Advance(time.Millisecond)
	tm.Stop()
	if !c.Quiet() || c.Armed() != 0 {
		t.Fatalf("after Stop: quiet %v, armed %d; want quiet, 0 armed", c.Quiet(), c.Armed())
	}
	c.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Error("a stopped timer fired")
	default:
	}
}

// TestTickerTicksEveryPeriod: a ticker's ticks come at exact multiples of its period, in time
// order with other timers, and an unread tick merges with the next.
func TestTickerTicksEveryPeriod(t *testing.T) {
	c := clocktest.NewVirtualClock(0)
	tk := c.NewTicker(10 * time.Millisecond)
	tm := c.NewTimer(25 * time.Millisecond)
	var got []string
	c.SetSettle(func() {
		select {
		case <-tk.C():
			got = append(got, "tick@"+time.Duration(c.Now()).String())
			clock.Ack(tk)
		case <-tm.C():
			got = append(got, "timer@"+time.Duration(c.Now()).String())
			clock.Ack(tm)
		default:
		}
	})
	c.Advance(40 * time.Millisecond)
	want := []string{"tick@10ms", "tick@20ms", "timer@25ms", "tick@30ms", "tick@40ms"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	c.SetSettle(nil)
	c.Advance(30 * time.Millisecond) // three ticks, none read: one tick waits
	if c.Quiet() {
		t.Error("quiet with an unread tick")
	}
	<-tk.C()
	clock.Ack(tk)
	if !c.Quiet() {
		t.Error("three unread ticks counted as more than one")
	}
	tk.Reset(5 * time.Millisecond)
	c.Advance(5 * time.Millisecond)
	select {
	case <-tk.C():
		clock.Ack(tk)
	default:
		t.Error("no tick 5 ms after Reset(5ms)")
	}
}

// TestAfterFunc: the function runs once at its deadline, and the clock is not Quiet until it
// has returned; a stopped one never runs.
func TestAfterFunc(t *testing.T) {
	c := clocktest.NewVirtualClock(0)
	var mu sync.Mutex
	var at []int64
	release := make(chan struct{})
	c.AfterFunc(3*time.Millisecond, func() {
		<-release
		mu.Lock()
		at = append(at, c.Now())
		mu.Unlock()
	})
	stopped := c.AfterFunc(2*time.Millisecond, func() { t.Error("a stopped AfterFunc ran") })
	stopped.Stop()
	c.Advance(5 * time.Millisecond)
	if c.Quiet() {
		t.Error("quiet while an AfterFunc runs")
	}
	close(release)
	for !c.Quiet() {
		time.Sleep(time.Millisecond) // the AfterFunc's goroutine returns; nothing to wait on but Quiet
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(at, []int64{5 * ms}) {
		t.Errorf("ran at %v, want once, at 5ms (the clock had moved on when it read Now)", at)
	}
}

// TestSleepUntil: a sleeper waits for the test to advance the clock; a solo sleeper moves it.
func TestSleepUntil(t *testing.T) {
	c := clocktest.NewVirtualClock(0)
	woke := make(chan int64)
	go func() { c.SleepUntil(7 * ms); woke <- c.Now() }()
	for c.Armed() == 0 {
		time.Sleep(time.Millisecond) // until the sleeper has armed its timer
	}
	c.Advance(6 * time.Millisecond)
	select {
	case <-woke:
		t.Fatal("woke before its time")
	default:
	}
	c.Advance(time.Millisecond)
	if at := <-woke; at != 7*ms {
		t.Errorf("woke at %d, want %d", at, 7*ms)
	}
	for !c.Quiet() {
		time.Sleep(time.Millisecond)
	}
	if c.Timers() != 0 {
		t.Errorf("%d timers left by SleepUntil, want 0", c.Timers())
	}

	c.SetSolo(true)
	tm := c.NewTimer(time.Millisecond)
	clock.SleepUntil(c, 20*ms)
	if c.Now() != 20*ms {
		t.Errorf("solo SleepUntil(20ms) left the clock at %d", c.Now())
	}
	select {
	case <-tm.C():
	default:
		t.Error("solo SleepUntil did not fire a timer due on the way")
	}
}
