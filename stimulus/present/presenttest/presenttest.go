// Package presenttest runs a test binary's GL work on the main OS thread, where GL must live:
// a test package calls Main from its TestMain and hands GL calls to OnMain from any test.
package presenttest

import (
	"runtime"
	"testing"
)

// init runs on the main goroutine; locking keeps it on the process's main OS thread.
func init() { runtime.LockOSThread() }

var calls = make(chan func())

// Main runs the tests on another goroutine while the main goroutine serves OnMain, and returns
// their exit code: func TestMain(m *testing.M) { os.Exit(presenttest.Main(m)) }.
func Main(m *testing.M) int {
	code := make(chan int)
	go func() { code <- m.Run() }()
	for {
		select {
		case f := <-calls:
			f()
		case c := <-code:
			return c
		}
	}
}

// OnMain runs f on the main OS thread and waits for it. Only valid while Main runs.
func OnMain(f func()) {
	done := make(chan struct{})
	calls <- func() { defer close(done); f() }
	<-done
}
