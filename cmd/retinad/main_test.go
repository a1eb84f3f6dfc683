package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the command line in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckConfigExamples(t *testing.T) {
	code, out, errs := run(t, "check-config", "../../configs/sim.yaml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("check-config sim.yaml: exit %d\n%s%s", code, out, errs)
	}
	// The rig template names a serial device this machine does not have: the dry-run says so,
	// and finds nothing else wrong.
	code, out, errs = run(t, "check-config", "../../configs/rig.yaml")
	if code != 1 || !strings.Contains(errs, "1 problem(s)") || !strings.Contains(errs, "photodiode.device: /dev/serial/by-id/") {
		t.Errorf("check-config rig.yaml: exit %d, want only the missing device\n%s%s", code, out, errs)
	}
}

func TestCheckConfigReportsThreeMistakes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	src := "rig: r1\ndisplay:\n  refresh: 60Hz\n  colour: blue\nphotodiode:\n  device: \"\"\n  read_timeout: soon\nstimulus:\n  frame_rate: 60Hz\n"
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "check-config", bad)
	if code == 0 {
		t.Fatalf("check-config accepted a bad config:\n%s", errs)
	}
	for _, s := range []string{"3 problem(s)", "line 4: display.colour", "line 6: photodiode.device", "line 7: photodiode.read_timeout"} {
		if !strings.Contains(errs, s) {
			t.Errorf("output lacks %q:\n%s", s, errs)
		}
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := run(t); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
	if code, _, errs := run(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
	code, out, _ := run(t, "help")
	if code != 0 || !strings.Contains(out, "check-config") || !strings.Contains(out, "version") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	if code, out, _ := run(t, "version"); code != 0 || !strings.HasPrefix(out, "retinad ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	if code, _, errs := run(t, "--log-format", "xml", "version"); code != 2 || !strings.Contains(errs, "text or json") {
		t.Errorf("bad --log-format: exit %d, %q", code, errs)
	}
}

// TestCommandTable: every command of the table, and every `model` subcommand, answers --help
// with its synopsis and exit 0.
func TestCommandTable(t *testing.T) {
	if len(commands) != 15 {
		t.Errorf("%d commands in the table, want 15", len(commands))
	}
	for name, c := range commands {
		args := []string{name, "--help"}
		if name == "calibrate" { // it answers --help per subcommand
			args = []string{name, "latency", "--help"}
		}
		if code, out, errs := run(t, args...); code != 0 || !strings.Contains(out+errs, c.args) && name != "calibrate" {
			t.Errorf("%s --help: exit %d, want 0 and the synopsis %q\n%s%s", name, code, c.args, out, errs)
		}
	}
	for name, c := range modelCommands {
		if code, out, errs := run(t, "model", name, "--help"); code != 0 || !strings.Contains(out+errs, "retinad model "+name+" "+c.args) {
			t.Errorf("model %s --help: exit %d, want 0 and its synopsis\n%s%s", name, code, out, errs)
		}
	}
}
