package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"retinad/calib/photodiode"
)

// TestCalibratedLatencyReachesRun runs the chain from calibration to the rig: `retinad calibrate
// latency` measures the fake device (12 ms latency) and writes the calibration file the config
// names; a real `retinad run` process on the same config then starts its photodiode link from
// that file's prior, which its log says (value and file).
func TestCalibratedLatencyReachesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	cal := filepath.Join(dir, "rig.calibration.json")
	cfg := writeFile(t, dir, "sim.yaml", []byte(`rig: sim
display: {mode: auto, refresh: 100Hz}
photodiode: {device: sim, calibration: rig.calibration.json, sim: {latency: 12ms, jitter: 200us}}
nats: {embedded: true, listen: ""}
stimulus: {kind: whitenoise, frame_rate: 100Hz, height: 50, width: 50, whitenoise: {checker: 5}}
acquisition: {simulate: false}
recording: {enabled: false}
`))
	if code, out, errs := run(t, "calibrate", "latency", "--config", cfg, "--frames", "150"); code != 0 {
		t.Fatalf("calibrate latency: exit %d\n%s%s", code, out, errs)
	}
	c, err := photodiode.ReadCalibration(cal)
	if err != nil || c.Latency == nil {
		t.Fatalf("calibration file after calibrate: %+v, %v", c, err)
	}
	if c.Latency.MeanMs < 10 || c.Latency.MeanMs > 14 {
		t.Errorf("calibrated latency %.3f ms, want about the device's 12 ms", c.Latency.MeanMs)
	}
	want, err := photodiode.LatencyPrior(c)
	if err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(dir, "retinad")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "--config", cfg, "--duration", "1s", "--quiet")
	done := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer done.Stop()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`msg="rig: photodiode latency prior" prior=(\S+) from=(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("run's log does not say which latency prior it used:\n%s", out)
	}
	if got := string(m[1]); got != want.String() || string(m[2]) != cal {
		t.Errorf("run used prior %s from %s, want %v from %s", got, m[2], want, cal)
	}
	t.Logf("calibrated %.3f ms; run: %s", c.Latency.MeanMs, strings.TrimSpace(string(m[0])))
}
