package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"retinad/internal/testenv"
	"strings"
	"testing"

	"retinad/infer/enginetest"
)

// upstreamFiles runs infer/torchimport/testdata/upstream.py: a torch-deep-retina BNCNN built
// in PyTorch with its upstream defaults, saved as its training code saves it and exported by
// plain torch.onnx.export with a dynamic batch, with PyTorch's output on a movie.
func upstreamFiles(t *testing.T) string {
	t.Helper()
	testenv.Path(t, "/usr/bin/python3 with torch (scripts/setup)", "/usr/bin/python3")
	dir := t.TempDir()
	cmd := exec.Command("/usr/bin/python3", "../../infer/torchimport/testdata/upstream.py", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("upstream.py: %v\n%s", err, out)
	}
	return dir
}

// TestPredictBenchForeignONNX: `predict` and `bench` take an ONNX file that retinad did not
// write: predict with --frame-rate (and a clear refusal without it), bench with none; the
// .pt checkpoint goes through `model import` to PyTorch's rates with its norm_stats.
func TestPredictBenchForeignONNX(t *testing.T) {
	dir := upstreamFiles(t)
	model, movie := filepath.Join(dir, "bncnn.onnx"), filepath.Join(dir, "movie.npy")
	want, _, err := enginetest.ReadNpy(filepath.Join(dir, "movie_rates.npy"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "r.npy")
	code, _, errs := run(t, "predict", "--model", model, "--stimulus", movie, "--out", out)
	if code == 0 || !strings.Contains(errs, "bncnn.onnx: onnx: the model does not say its frame rate") || !strings.Contains(errs, "--frame-rate") {
		t.Errorf("predict without --frame-rate: exit %d, stderr %q", code, errs)
	}
	code, _, errs = run(t, "predict", "--model", model, "--frame-rate", "100", "--stimulus", movie, "--out", out)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, errs)
	}
	got, _, err := enginetest.ReadNpy(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := enginetest.Check(got, want, "predict bncnn.onnx"); err != nil {
		t.Error(err)
	}

	native := filepath.Join(dir, "bncnn.rtm")
	code, _, errs = run(t, "model", "import", filepath.Join(dir, "upstream.pt"), "--frame-rate", "100", "--out", native)
	if code != 0 {
		t.Fatalf("model import upstream.pt: exit %d: %s", code, errs)
	}
	code, _, errs = run(t, "predict", "--model", native, "--stimulus", movie, "--out", out)
	if code != 0 {
		t.Fatalf("predict imported checkpoint: exit %d: %s", code, errs)
	}
	// upstream.pt's norm_stats (0.1, 0.7) travel with the native model.
	got, _, err = enginetest.ReadNpy(out)
	if err != nil {
		t.Fatal(err)
	}
	wantNorm, _, err := enginetest.ReadNpy(filepath.Join(dir, "movie_rates_norm.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := enginetest.Check(got, wantNorm, "predict imported upstream.pt"); err != nil {
		t.Error(err)
	}

	// The checkpoint straight to ONNX (model export), and back through predict.
	exported := filepath.Join(dir, "upstream.onnx")
	if code, _, errs = run(t, "model", "export", filepath.Join(dir, "upstream.pt"), "--frame-rate", "100", "--out", exported); code != 0 {
		t.Fatalf("model export upstream.pt: exit %d: %s", code, errs)
	}
	if code, _, errs = run(t, "predict", "--model", exported, "--stimulus", movie, "--out", out); code != 0 {
		t.Fatalf("predict exported checkpoint: exit %d: %s", code, errs)
	}
	if got, _, err = enginetest.ReadNpy(out); err != nil {
		t.Fatal(err)
	}
	if err := enginetest.Check(got, wantNorm, "predict upstream.pt exported to ONNX"); err != nil {
		t.Error(err)
	}

	code, stdout, errs := run(t, "bench", "--model", model, "--steps", "50", "--peer-steps", "5", "--json")
	if code != 0 {
		t.Fatalf("bench bncnn.onnx: exit %d: %s", code, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if p50, _ := res["step_p50_us"].(float64); !(p50 > 0) {
		t.Errorf("bench: step_p50_us %v", res["step_p50_us"])
	}
}
