package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
)

// TestModelExportRoundTrip: `model export` writes every CNN variant and the LN as ONNX, and
// `predict` on the exported file gives the native model's rates to 1e-6 relative.
func TestModelExportRoundTrip(t *testing.T) {
	dir := enginetest.TestdataDir()
	tmp := t.TempDir()
	for _, name := range []string{"bncnn_small", "bncnn_perchannel_exp", "bncnn_sigmoid", "bncnn_softplus_param", "ln"} {
		native := filepath.Join(dir, name+".retinad")
		exported := filepath.Join(tmp, name+".onnx")
		code, stdout, errs := run(t, "model", "export", native, "--out", exported)
		if code != 0 || !strings.Contains(stdout, exported+": ") {
			t.Fatalf("%s: model export: exit %d: %s%s", name, code, stdout, errs)
		}
		stim := filepath.Join(dir, name+".natural.stim.npy")
		var rates [2][]float32
		for i, model := range []string{native, exported} {
			out := filepath.Join(tmp, name+"."+filepath.Ext(model)[1:]+".npy")
			if code, _, errs := run(t, "predict", "--model", model, "--stimulus", stim, "--out", out); code != 0 {
				t.Fatalf("%s: predict %s: exit %d: %s", name, model, code, errs)
			}
			r, _, err := enginetest.ReadNpy(out)
			if err != nil {
				t.Fatal(err)
			}
			rates[i] = r
		}
		worst := 0.0
		for i, want := range rates[0] {
			got := rates[1][i]
			if math.IsNaN(float64(want)) != math.IsNaN(float64(got)) {
				t.Fatalf("%s: rate %d is %v, native %v", name, i, got, want)
			}
			if !math.IsNaN(float64(want)) {
				worst = math.Max(worst, math.Abs(float64(got-want))/math.Max(math.Abs(float64(want)), 1e-3))
			}
		}
		if worst > 1e-6 {
			t.Errorf("%s: exported model's rates differ from the native model's by %.2g relative, want <= 1e-6", name, worst)
		}
	}
}

// TestModelExportGLM: a GLM cannot be exported yet (its spike history is a second, recurrent
// input); the refusal names the file and says why.
func TestModelExportGLM(t *testing.T) {
	tmp := t.TempDir()
	glm := filepath.Join(tmp, "glm.rtm")
	if err := infer.Save(glm, infertest.GLMModel(1, infertest.Small, true)); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "model", "export", glm, "--out", filepath.Join(tmp, "glm.onnx"))
	if code == 0 || !strings.Contains(errs, glm+": onnx: export: glm models are not exported") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}
