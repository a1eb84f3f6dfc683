package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"retinad/acquisition"
	"retinad/daemon"
	"retinad/daemon/daemontest"
	"retinad/internal/testwait"
	"retinad/proto/contract"
)

// TestControlCommand runs `retinad control` against a running daemon (software vsync, test
// models) whose control service is on a real server over loopback TCP: status, a model loaded
// from a file and unloaded, a session stopped and another started, and the error of a bad
// request with its exit status.
func TestControlCommand(t *testing.T) {
	b, _ := startTestBus(t, "")
	subj, err := contract.SubjectsFor("test")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "m.model")
	if err := os.WriteFile(file, []byte("4"), 0o644); err != nil {
		t.Fatal(err)
	}
	ids := []int32{1, 2, 3, 4}
	load := func(_ context.Context, req daemon.LoadRequest) (daemon.Model, error) {
		if _, err := os.Stat(req.File); err != nil {
			return daemon.Model{}, err
		}
		return daemon.Model{Engine: &daemontest.Engine{Cells: 4, Gain: 1}, CellIDs: ids, BinRate: 100}, nil
	}
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "one", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(b.Conn(), 4096, nil), FrameRate: 100, Height: 8, Width: 8, Clock: clock, Load: load,
		Models: []daemon.Model{{Name: "first", Engine: &daemontest.Engine{Cells: 4, Gain: 1}, CellIDs: ids, BinRate: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := acquisition.Serve(ctx, b.Conn(), subj, d.Controller(), acquisition.ControlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	run := func(args ...string) (map[string]any, int, string) {
		var out, errb bytes.Buffer
		code := runMain(context.Background(), append([]string{"control", "--server", b.ClientURL(), "--rig", "test"}, args...), &out, &errb)
		var m map[string]any
		if code == 0 {
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Fatalf("control %v: %v: %q", args, err, out.String())
			}
		}
		return m, code, errb.String()
	}
	m, code, stderr := run("status")
	if code != 0 || fmt.Sprint(m["status"].(map[string]any)["session"]) != "one" {
		t.Fatalf("status: %v exit %d %s", m, code, stderr)
	}
	if m, code, stderr = run("load", "second", file); code != 0 || fmt.Sprint(m["model"].(map[string]any)["name"]) != "second" {
		t.Fatalf("load: %v exit %d %s", m, code, stderr)
	}
	stepping := func() bool {
		for _, mf := range d.Figures().Models {
			if mf.Name == "second" && mf.Steps > 0 {
				return true
			}
		}
		return false
	}
	if !testwait.Until(10*time.Second, stepping) {
		t.Errorf("the loaded model is not stepping: %v", d.Figures())
	}
	if _, code, stderr = run("load", "third", file+".missing"); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("load of a missing file: exit %d, %q", code, stderr)
	}
	if _, code, stderr = run("unload", "second"); code != 0 {
		t.Errorf("unload: exit %d %s", code, stderr)
	}
	if m, code, stderr = run("stop"); code != 0 || m["session"] != "one" {
		t.Errorf("stop: %v exit %d %s", m, code, stderr)
	}
	if m, code, stderr = run("start", "two"); code != 0 || m["session"] != "two" {
		t.Errorf("start: %v exit %d %s", m, code, stderr)
	}
	if _, code, _ = run("load", "x"); code != 2 {
		t.Errorf("load without a file: exit %d, want 2 (usage)", code)
	}
}
