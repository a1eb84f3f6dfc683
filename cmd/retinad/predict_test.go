package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
	"retinad/infer/onnx/ortpeer"
)

// TestPredictMatchesPyTorch runs `retinad predict` on a golden fixture and holds the .npy it
// writes to PyTorch's rates (NaN rows included).
func TestPredictMatchesPyTorch(t *testing.T) {
	dir := enginetest.TestdataDir()
	for _, name := range []string{"bncnn_small.natural", "ln.whitenoise"} {
		model := filepath.Join(dir, strings.Split(name, ".")[0]+".retinad")
		out := filepath.Join(t.TempDir(), "r.npy")
		code, _, errs := run(t, "predict", "--model", model, "--stimulus", filepath.Join(dir, name+".stim.npy"), "--out", out)
		if code != 0 {
			t.Fatalf("predict: exit %d: %s", code, errs)
		}
		got, shape, err := enginetest.ReadNpy(out)
		if err != nil {
			t.Fatal(err)
		}
		want, wshape, err := enginetest.ReadNpy(filepath.Join(dir, name+".rates.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) != 2 || shape[0] != wshape[0] || shape[1] != wshape[1] {
			t.Fatalf("%s: shape %v, want %v", name, shape, wshape)
		}
		if !math.IsNaN(float64(got[0])) {
			t.Errorf("%s: row 0 is %v, want NaN before a full history", name, got[0])
		}
		if err := enginetest.Check(got, want, name); err != nil {
			t.Error(err)
		}
	}
}

func TestPredictErrors(t *testing.T) {
	dir := enginetest.TestdataDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", filepath.Join(dir, "ln.retinad"), "--stimulus", filepath.Join(dir, "bncnn_sigmoid.natural.stim.npy"), "--out", filepath.Join(t.TempDir(), "x.npy")}, "frames of 18x15, model"},
		{[]string{"--model", filepath.Join(dir, "ln.natural.stim.npy"), "--stimulus", "x", "--out", "y"}, "not a native retinad model file"},
		{[]string{"--model", filepath.Join(dir, "ln.retinad")}, "predict needs --model, --stimulus and --out"},
		{[]string{"--model", filepath.Join(dir, "ln.retinad"), "--stimulus", "x.npz", "--observed", "--out", "y"}, "is a ln model, which has no spike history"},
	} {
		code, _, errs := run(t, append([]string{"predict"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("predict %v: exit %d, stderr %q, want it to contain %q", c.args, code, errs, c.want)
		}
	}
}

func TestModelInspect(t *testing.T) {
	code, out, errs := run(t, "model", "inspect", filepath.Join(enginetest.TestdataDir(), "bncnn_paper.retinad"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, s := range []string{"kind: cnn", "input: 40 frames x 50 x 50 at 100 Hz", "cells: 16", "conv2d    weight [8 40 15 15] bias true -> [8 36 36]", "batchnorm per unit, 10368 values", "parameters: 229456", "FLOPs per step:"} {
		if !strings.Contains(out, s) {
			t.Errorf("inspect output lacks %q:\n%s", s, out)
		}
	}
	if code, _, errs := run(t, "model", "frobnicate"); code != 2 || !strings.Contains(errs, `unknown subcommand "frobnicate", want one of`) {
		t.Errorf("model frobnicate: exit %d, %s", code, errs)
	}
}

func TestBenchJSON(t *testing.T) {
	t.Run("cnn", func(t *testing.T) { benchJSON(t, filepath.Join(enginetest.TestdataDir(), "bncnn_small.retinad")) })
	// A GLM's peer is its ONNX export, fed zero spike history as the engine's first window is.
	glm := filepath.Join(t.TempDir(), "glm.rtm")
	if err := infer.Save(glm, infertest.GLMModel(2, infertest.Small, true)); err != nil {
		t.Fatal(err)
	}
	t.Run("glm", func(t *testing.T) { benchJSON(t, glm) })
	// A recurrent model's peer is its ONNX step, fed its own next state from run to run: over
	// its first ten windows it gives the engine's rates only if the state is carried.
	t.Run("recurrent", func(t *testing.T) {
		if res := benchJSON(t, filepath.Join(enginetest.TestdataDir(), "bncnn_gru.retinad")); res["recurrent"] != true {
			t.Errorf("recurrent = %v, want true", res["recurrent"])
		}
	})
}

func benchJSON(t *testing.T, model string) map[string]any {
	code, out, errs := run(t, "bench", "--model", model, "--steps", "100", "--peer-steps", "20", "--roofline-mb", "16", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	for _, k := range []string{"step_p50_us", "step_p99_us", "steps_per_s", "allocs_per_step", "process_allocs_per_step", "peer", "peer_p50_us", "ratio", "bytes_read_per_step", "floor_us", "memory_floor_us", "cache_read_gbytes_per_s", "read_gbytes_per_s", "peak_gflops", "unswitched_thread_cpu_p99_us", "switched_share"} {
		if _, ok := res[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
	if p50, _ := res["step_p50_us"].(float64); !(p50 > 0) {
		t.Errorf("step_p50_us %v", res["step_p50_us"])
	}
	if a := res["allocs_per_step"]; a != 0.0 {
		t.Errorf("allocs_per_step %v: the engine's step allocates", a)
	}
	if floor, _ := res["floor_us"].(float64); !(floor > 0) {
		t.Errorf("floor_us %v", res["floor_us"])
	}
	if res["peer"] == nil {
		if _, err := ortpeer.Library(); err == nil {
			t.Errorf("ONNX Runtime is installed but the peer is missing: %v", res["peer_missing"])
		}
		t.Logf("peer missing: %v", res["peer_missing"])
	} else if d, _ := res["peer_max_abs_diff"].(float64); d > 1e-2 {
		t.Errorf("ONNX Runtime and the streaming engine differ by %v spikes/s on the same window", d)
	}
	return res
}

// TestBenchSweep: bench --sweep times every model of a folder, one table row each (name order)
// with its size, the figures of issue #24 and the ratio to ONNX Runtime in the same run; a
// folder with no model is refused, naming it.
func TestBenchSweep(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"bncnn_small.retinad", "ln.retinad"} {
		if err := os.Symlink(filepath.Join(enginetest.TestdataDir(), name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := run(t, "bench", "--sweep", dir, "--steps", "40", "--peer-steps", "20", "--threads", "2", "--roofline-mb", "16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "| model | history x grid, cells | MFLOP/step | MB read/step | step p50 | floor L3 / memory | p50/floor |") || !strings.HasPrefix(lines[5], "floor: ") {
		t.Fatalf("want a header, a rule, 2 rows and what the floor was measured against:\n%s", out)
	}
	for i, want := range []string{"| bncnn_small.retinad | 6 x 20x20, 4 |", "| ln.retinad | 6 x 20x20, 4 |"} {
		row := lines[2+i]
		if !strings.HasPrefix(row, want) || strings.Count(row, "|") != 18 {
			t.Errorf("row %d: %q, want it to start %q with 17 columns", i, row, want)
		}
		if !strings.Contains(row, "missing") && !strings.Contains(row, "x |") {
			t.Errorf("row %d has neither a ratio nor a missing peer: %q", i, row)
		}
	}
	if !strings.Contains(lines[5], "GB/s from memory") || !strings.Contains(lines[5], "GFLOP/s") {
		t.Errorf("no bandwidth or peak in %q", lines[5])
	}
	empty := t.TempDir()
	if code, _, errs := run(t, "bench", "--sweep", empty); code == 0 || !strings.Contains(errs, "bench: --sweep "+empty+": no *.retinad") {
		t.Errorf("empty folder: exit %d, %s", code, errs)
	}
	if code, _, errs := run(t, "bench", "--sweep", dir, "--model", "x"); code != 2 || !strings.Contains(errs, "one of them") {
		t.Errorf("--sweep with --model: exit %d, %s", code, errs)
	}
}
