package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

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
