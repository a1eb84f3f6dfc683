package infer

import (
	"slices"
	"strings"
	"testing"

	"retinad/internal/cpus"
	"retinad/internal/cpus/cpustest"
)

// threadsOn counts the threads of the process that may run on core alone.
func threadsOn(t *testing.T, core int) int {
	t.Helper()
	tids, err := cpus.Threads()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tid := range tids {
		if got, err := cpus.Allowed(tid); err == nil && slices.Equal(got, []int{core}) {
			n++
		}
	}
	return n
}

// TestStreamHelperCPUs: with Options.HelperCPUs each helper's thread runs on its core alone
// (as sched_getaffinity reports it) while the engine lives, the engine steps as one without
// pinned helpers does, and Close gives the thread back to the runtime unpinned.
func TestStreamHelperCPUs(t *testing.T) {
	core, _ := cpustest.LastCore(t)
	m, err := Load("testdata/bncnn_small.retinad")
	if err != nil {
		t.Fatal(err)
	}
	waitHelpers(t, 0)
	before := threadsOn(t, core)
	pinned, err := NewStream(m, Options{Threads: 2, HelperCPUs: []int{core}})
	if err != nil {
		t.Fatal(err)
	}
	if n := threadsOn(t, core); n != before+1 {
		t.Errorf("%d threads on core %d alone with a pinned helper, %d before", n, core, before)
	}
	plain, err := NewStream(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	hw := m.Input.Height * m.Input.Width
	frame, a, b := make([]float32, hw), make([]float32, len(m.Cells)), make([]float32, len(m.Cells))
	for k := range m.Input.History + 3 {
		for i := range frame {
			frame[i] = float32((k*31+i*7)%13)/6 - 1
		}
		pinned.Step(frame, a)
		plain.Step(frame, b)
	}
	for c := range a {
		if d := a[c] - b[c]; d > 1e-4*max(1, b[c]) || d < -1e-4*max(1, b[c]) {
			t.Errorf("cell %d: %g with a pinned helper, %g on one core", c, a[c], b[c])
		}
	}
	pinned.Close()
	waitHelpers(t, 0)
	if n := threadsOn(t, core); n != before {
		t.Errorf("%d threads on core %d alone after Close, %d before", n, core, before)
	}
}

// TestStreamHelperCPUsRefused: helper cores that do not match the helpers, or that the process
// does not have, are errors naming them.
func TestStreamHelperCPUsRefused(t *testing.T) {
	m, err := Load("testdata/bncnn_small.retinad")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Threads: 3, HelperCPUs: []int{0}}, "infer: helper cpus 0: 1 cores for 2 helpers (threads 3): want one per helper"},
		{Options{Threads: 1, HelperCPUs: []int{0}}, "infer: helper cpus 0: 1 cores for 0 helpers (threads 1)"},
		{Options{Threads: 2, HelperCPUs: []int{cpus.MaxCore}}, "infer: cpus: helper cpus: core 1023 is not one of this process's cores"},
	} {
		if _, err := NewStream(m, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opt, err, c.want)
		}
	}
}
