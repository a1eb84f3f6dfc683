package main

import (
	"reflect"
	"runtime"
	"testing"

	"retinad/infer"
)

// sinks keeps allocate's allocations on the heap.
var sinks [16]*[64]byte

// allocate makes n heap allocations (n <= 16).
//
//go:noinline
func allocate(n int) {
	for i := range n {
		sinks[i] = new([64]byte)
	}
}

// TestAllocsUnder: allocsUnder counts every allocation made under the named function and none
// made elsewhere, which is how bench tells a step's allocations from other goroutines'.
func TestAllocsUnder(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	const fn = "retinad/cmd/retinad.allocate"
	a0, b0 := allocsUnder(fn), allocsUnder("retinad/cmd/retinad.notCalled")
	allocate(10)
	other := make([]*[64]byte, 5) // not under allocate
	for i := range other {
		other[i] = new([64]byte)
	}
	if got := allocsUnder(fn) - a0; got != 10 {
		t.Errorf("%d allocations under %s, want 10", got, fn)
	}
	if got := allocsUnder("retinad/cmd/retinad.notCalled") - b0; got != 0 {
		t.Errorf("%d allocations under a function never called", got)
	}
	runtime.KeepAlive(other)
}

// TestStepFunc: the name bench counts a step's allocations under is Stream.Step's.
func TestStepFunc(t *testing.T) {
	if got := runtime.FuncForPC(reflect.ValueOf((*infer.Stream).Step).Pointer()).Name(); got != stepFunc {
		t.Errorf("Stream.Step is %q, bench looks for %q", got, stepFunc)
	}
}
