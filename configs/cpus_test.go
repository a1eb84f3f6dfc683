package configs

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"retinad/internal/cpus"
	"retinad/internal/testenv"
)

// TestCPUs: cpus.frame_loop and models[].cpus decode as cores, and a core assignment that
// cannot be is refused with every problem's field, line and the machine's cores: a core the
// machine does not have, one named twice, a model's cores not one per thread, every core
// pinned.
func TestCPUs(t *testing.T) {
	avail, err := cpus.Available()
	if err != nil {
		t.Fatal(err)
	}
	if len(avail) < 2 {
		testenv.Missing(t, "a second core", os.ErrNotExist)
	}
	file := filepath.Join(t.TempDir(), "m.rtm")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := strconv.Itoa(avail[0]), strconv.Itoa(avail[len(avail)-1])
	parse := func(src string) (*Config, error) {
		return Parse("c.yaml", []byte("acquisition: {simulate: true}\n"+src))
	}
	c, err := parse("cpus: {frame_loop: " + a + "}\nmodels: [{name: m, file: " + file + "}]\n")
	if err != nil || c.CPUs.FrameLoop == nil || *c.CPUs.FrameLoop != avail[0] {
		t.Fatalf("frame_loop %s: %v", a, err)
	}
	if c, err := parse("models: [{name: m, file: " + file + ", cpus: [" + b + "]}]\n"); err != nil || len(c.Models[0].CPUs) != 1 {
		t.Fatalf("models[0].cpus [%s]: %v", b, err)
	}
	if c, err := parse(""); err != nil || c.CPUs.FrameLoop != nil {
		t.Fatalf("no cpus: frame loop %v, %v; want none pinned", c.CPUs.FrameLoop, err)
	}
	machine := "(" + cpus.FormatList(avail) + ")"
	for _, c := range []struct{ src, want string }{
		{"cpus:\n  frame_loop: 1023\n", "line 3: cpus.frame_loop: core 1023 is not one of this machine's cores " + machine},
		{"cpus: {frame_loop: -1}\n", "cpus.frame_loop: core -1 is not one of this machine's cores"},
		{"cpus: {frame_loop: " + a + "}\nmodels: [{name: m, file: " + file + ", cpus: [" + a + "]}]\n", "models[0].cpus: core " + a + " is cpus.frame_loop's already: want a core of its own for each thread"},
		{"models: [{name: m, file: " + file + ", threads: 2, cpus: [" + b + "]}]\n", "models[0].cpus: 1 cores for threads 2: want one per thread"},
		{"models: [{name: m, file: " + file + ", cpus: [" + a + ", " + b + "]}]\n", "models[0].cpus: 2 cores for threads 0"},
		{"models: [{name: m, file: " + file + ", cpus: \"" + a + "-" + b + "\"}]\n", "models[0].cpus"},
	} {
		_, err := parse(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v\nwant a problem saying %s", c.src, err, c.want)
		}
	}
	// Every core pinned: the frame loop on the first, a model's threads on the rest.
	rest := make([]string, len(avail)-1)
	for i, c := range avail[1:] {
		rest[i] = strconv.Itoa(c)
	}
	src := "cpus: {frame_loop: " + a + "}\nmodels: [{name: m, file: " + file + ", threads: " + strconv.Itoa(len(rest)) + ", cpus: [" + strings.Join(rest, ", ") + "]}]\n"
	if _, err := parse(src); err == nil || !strings.Contains(err.Error(), "cpus: cpus.frame_loop and models[].cpus pin every core of this machine "+machine+": leave one for the daemon's other threads") {
		t.Errorf("every core pinned: %v", err)
	}
}
