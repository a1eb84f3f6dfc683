package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var dashboardURL = regexp.MustCompile(`^retinad: dashboard (http://127\.0\.0\.1:\d+); Prometheus metrics at (http://127\.0\.0\.1:\d+/metrics)$`)

// TestRunPrintsDashboard runs `retinad run` with dashboard.listen on port 0: it prints where the
// dashboard and the metrics are, the page and /metrics answer there, and it still ends cleanly
// on SIGINT.
func TestRunPrintsDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	cfg := filepath.Join(dir, "sim.yaml")
	yaml := `rig: sim
display: {mode: auto, refresh: 100Hz}
photodiode: {device: sim}
nats: {embedded: true, listen: "127.0.0.1:0"}
stimulus: {kind: whitenoise, frame_rate: 100Hz, height: 50, width: 50, whitenoise: {checker: 5}}
acquisition: {simulate: true, cells: 8, batch_interval: 20ms}
recording: {enabled: false}
dashboard: {status_every: 100ms, listen: "127.0.0.1:0"}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfg, "--quiet")
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
	kill := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer kill.Stop()
	var m []string
	sc := bufio.NewScanner(stdout)
	for m == nil && sc.Scan() {
		m = dashboardURL.FindStringSubmatch(sc.Text())
	}
	if m == nil {
		cmd.Wait()
		t.Fatalf("no dashboard line before the output ended\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	for url, want := range map[string]string{m[1] + "/": "<title>retinad</title>", m[2]: "retinad_frames_total"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, no %q in %.300s", url, resp.StatusCode, want, b)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGINT: %v\n%s", err, stderr.String())
	}
}
