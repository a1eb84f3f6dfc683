package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retinad/calib"
	"retinad/calib/photodiode"
	"retinad/configs"
	"retinad/stimulus/present"
)

// calibrate gamma against the fake device (display gamma 2.2) recovers the exponent, writes
// a table the presenter accepts and the fit into the calibration file.
func TestCalibrateGammaSim(t *testing.T) {
	dir := t.TempDir()
	cal, lut := filepath.Join(dir, "sim.calibration.json"), filepath.Join(dir, "sim.gamma.lut")
	code, out, errs := run(t, "calibrate", "gamma", "--config", "../../configs/sim.yaml", "--steps", "24", "--hold", "30ms",
		"--out", cal, "--lut", lut, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	var got struct {
		Exponent float64 `json:"exponent"`
		Steps    int     `json:"steps"`
		LUT      string  `json:"lut"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	t.Logf("fitted gamma %.4f over %d steps", got.Exponent, got.Steps)
	if math.Abs(got.Exponent-2.2) > 0.03 || got.Steps != 24 || got.LUT != lut {
		t.Errorf("got %+v, want exponent 2.2 +/- 0.03 over 24 steps, table %s", got, lut)
	}
	c, err := photodiode.ReadCalibration(cal)
	if err != nil || c.Gamma == nil || c.Gamma.Exponent != got.Exponent {
		t.Errorf("calibration file: %+v, %v; want the gamma block", c, err)
	}
	if _, err := present.InverseGamma(configs.Gamma{LUT: lut}); err != nil {
		t.Errorf("the presenter rejects the table: %v", err)
	}
}

// calibrate threshold against the fake device (dark 0, bright 1 of full scale) sets the
// threshold midway with 20% of the gap as hysteresis, checks 30 flips with it and writes the
// threshold block, which photodiode.Open then takes instead of the config's.
func TestCalibrateThresholdSim(t *testing.T) {
	cal := filepath.Join(t.TempDir(), "sim.calibration.json")
	code, out, errs := run(t, "calibrate", "threshold", "--config", "../../configs/sim.yaml", "--hold", "200ms", "--verify", "30",
		"--out", cal, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	var got struct {
		Dark, Bright, Threshold, Hysteresis, Margin float64
		Verified                                    int
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	t.Logf("%+v", got)
	if math.Abs(got.Threshold-0.5) > 0.01 || math.Abs(got.Hysteresis-0.2) > 0.01 || got.Margin != 0.2 || got.Verified != 30 {
		t.Errorf("got %+v, want threshold 0.5 and hysteresis 0.2 (+/- 0.01), margin 0.2, 30 flips verified", got)
	}
	c, err := photodiode.ReadCalibration(cal)
	if err != nil || c.Threshold == nil || c.Threshold.Threshold != got.Threshold {
		t.Fatalf("calibration file: %+v, %v; want the threshold block", c, err)
	}
	cfg := configs.Default().Photodiode
	cfg.Calibration = cal
	p, err := photodiode.Open(cfg, 0, calib.Options{OnOnset: func(calib.Onset) {}})
	if err != nil {
		t.Fatal(err)
	}
	if p.ThresholdFrom != cal {
		t.Errorf("photodiode.Open took its threshold from %q, want the calibration file %s", p.ThresholdFrom, cal)
	}
	for _, bad := range []string{"none", "/dev/null/no-such-port"} {
		cfgPath := filepath.Join(t.TempDir(), "c.yaml")
		writeConfigWithDevice(t, cfgPath, bad)
		if code, _, errs := run(t, "calibrate", "threshold", "--config", cfgPath, "--out", cal); code == 0 || !strings.Contains(errs, "calibrate threshold: photodiode.device") {
			t.Errorf("device %s: exit %d, stderr %q: want a refusal naming photodiode.device", bad, code, errs)
		}
	}
}

// writeConfigWithDevice writes configs/sim.yaml to path with photodiode.device set to dev and
// the models and folders it names made absolute.
func writeConfigWithDevice(t *testing.T, path, dev string) {
	t.Helper()
	b, err := os.ReadFile("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("../..")
	s := strings.ReplaceAll(string(b), "../models/", root+"/models/")
	s = strings.ReplaceAll(s, "../var/", filepath.Dir(path)+"/")
	s = strings.Replace(s, "device: sim", "device: "+dev, 1)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// check-config on photodiode.device: avr with a firmware that is not there names
// photodiode.avr.firmware and says how to build it; with a baud other than the firmware's
// 115200 it names photodiode.baud.
func TestCheckConfigAVR(t *testing.T) {
	for _, c := range []struct{ insert, want string }{
		{"  avr: {firmware: /nonexistent/photodiode.hex}\n", "photodiode.avr.firmware"},
		{"  baud: 9600\n", "photodiode.baud"},
	} {
		cfgPath := filepath.Join(t.TempDir(), "c.yaml")
		writeConfigWithDevice(t, cfgPath, "avr")
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), "  device: avr", c.insert+"  device: avr", 1)
		if err := os.WriteFile(cfgPath, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := run(t, "check-config", cfgPath)
		if code == 0 || !strings.Contains(out+errs, c.want) {
			t.Errorf("check-config with %q: exit %d\n%s%s\nwant %s named", c.insert, code, out, errs, c.want)
		}
		t.Logf("%s", errs)
	}
}
