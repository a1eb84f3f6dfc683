//go:build linux

// Package cpustest gives tests a core to pin to.
package cpustest

import (
	"os"
	"testing"

	"retinad/internal/cpus"
	"retinad/internal/testenv"
)

// LastCore is the last of the cores this process may run on (all), for a test that pins a
// thread there and keeps the others off it: it needs a second core for them, and says so
// (testenv.Missing) if the process has only one.
func LastCore(t testing.TB) (core int, all []int) {
	t.Helper()
	avail, err := cpus.Available()
	if err != nil {
		t.Fatal(err)
	}
	if len(avail) < 2 {
		testenv.Missing(t, "a second core", os.ErrNotExist)
	}
	return avail[len(avail)-1], avail
}
