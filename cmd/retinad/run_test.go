package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunCtrlC builds retinad, runs `retinad run` on the simulated rig as a subprocess (real GL
// under Xvfb or EGL, the fake photodiode over a pty, the embedded NATS server with JetStream,
// the virtual retina), waits for its status lines, sends SIGINT and checks that it exits with
// code 0 within a second.
func TestRunCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "retinad")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "sim.yaml")
	yaml := `rig: sim
display: {mode: auto, refresh: 100Hz}
photodiode: {device: sim}
nats: {embedded: true, listen: "127.0.0.1:0"}
stimulus: {kind: whitenoise, frame_rate: 100Hz, height: 50, width: 50, whitenoise: {checker: 5}}
acquisition: {simulate: true, cells: 8, batch_interval: 20ms, clock_offset: 3s, clock_drift_ppm: 20}
recording: {enabled: true, dir: ` + filepath.Join(dir, "rec") + `}
dashboard: {status_every: 100ms}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	status := 0
	var watch string
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for status < 10 && lines.Scan() {
		l := lines.Text()
		if strings.HasPrefix(l, "frames ") {
			status++
		}
		if strings.Contains(l, "watch with") {
			watch = l
		}
	}
	if status < 10 {
		cmd.Wait()
		t.Fatalf("saw %d status lines before the output ended\n%s", status, stderr.String())
	}
	if !strings.Contains(watch, "retinad tap --server nats://127.0.0.1:") {
		t.Errorf("no hint of where to watch: %q", watch)
	}
	go func() { // keep draining stdout
		for lines.Scan() {
		}
	}()
	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	took := time.Since(t0)
	t.Logf("exited %v after SIGINT: %v", took, err)
	if err != nil {
		t.Errorf("exit: %v\n%s", err, stderr.String())
	}
	if took > time.Second {
		t.Errorf("took %v to exit after SIGINT, want under a second", took)
	}
	if !strings.Contains(stderr.String(), "session ended") {
		t.Errorf("no final figures in the log:\n%s", stderr.String())
	}
}
