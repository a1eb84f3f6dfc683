package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"retinad/infer/enginetest"
	"retinad/internal/cpus"
	"retinad/internal/cpus/cpustest"
)

// TestBenchCPU: bench --cpu N steps on a thread that may run on core N alone while every other
// thread of the process is off it, as the process itself reads them (sched_getaffinity) when
// the timing begins; without --cpu every thread may run anywhere.
func TestBenchCPU(t *testing.T) {
	core, avail := cpustest.LastCore(t)
	model := filepath.Join(enginetest.TestdataDir(), "bncnn_small.retinad")
	bench := func(extra ...string) map[string]any {
		t.Helper()
		code, out, errs := run(t, append([]string{"bench", "--model", model, "--steps", "50", "--peer-steps", "5", "--roofline-mb", "0", "--json"}, extra...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		return res
	}
	res := bench("--cpu", strconv.Itoa(core))
	if res["cpu"] != float64(core) || res["thread_cpus"] != strconv.Itoa(core) {
		t.Errorf("--cpu %d: cpu %v, the stepping thread on %v", core, res["cpu"], res["thread_cpus"])
	}
	others, err := cpus.ParseList(res["other_threads_cpus"].(string))
	if err != nil || len(others) == 0 {
		t.Errorf("--cpu %d: other threads on %q (%v)", core, res["other_threads_cpus"], err)
	}
	for _, c := range others {
		if c == core {
			t.Errorf("--cpu %d: other threads on %v, the pinned core among them", core, res["other_threads_cpus"])
		}
	}
	all := cpus.FormatList(avail)
	if res := bench(); res["cpu"] != nil || res["thread_cpus"] != all || res["other_threads_cpus"] != all {
		t.Errorf("no --cpu: cpu %v, the stepping thread on %v, the others on %v; want every core (%s)", res["cpu"], res["thread_cpus"], res["other_threads_cpus"], all)
	}
}

// TestBenchCPURefused: cores the process does not have, every core, helper cores that do not
// match --threads, and helper cores without --cpu are refused, naming the flags.
func TestBenchCPURefused(t *testing.T) {
	avail, err := cpus.Available()
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(enginetest.TestdataDir(), "bncnn_small.retinad")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cpu", "1023"}, "bench: cpus: --cpu and --helper-cpus: core 1023 is not one of this process's cores (" + cpus.FormatList(avail) + ")"},
		{[]string{"--cpu", strconv.Itoa(avail[0]), "--threads", "3", "--helper-cpus", "1"}, "--helper-cpus \"1\": 1 cores for --threads 3: want one per helper (2)"},
		{[]string{"--helper-cpus", "1", "--threads", "2"}, "--helper-cpus needs --cpu"},
		{[]string{"--cpu", "0", "--threads", "2", "--helper-cpus", "x"}, "bench: --helper-cpus: cpus: list \"x\""},
	} {
		code, _, errs := run(t, append([]string{"bench", "--model", model, "--steps", "5", "--roofline-mb", "0"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %s; want an error saying %s", c.args, code, errs, c.want)
		}
	}
	if len(avail) >= 2 { // every core pinned: none left for the other threads
		code, _, errs := run(t, "bench", "--model", model, "--steps", "5", "--roofline-mb", "0", "--cpu", strconv.Itoa(avail[0]), "--threads", strconv.Itoa(len(avail)), "--helper-cpus", cpus.FormatList(avail[1:]))
		if code == 0 || !strings.Contains(errs, "would leave none of this process's cores") {
			t.Errorf("every core pinned: exit %d, %s", code, errs)
		}
	}
}
