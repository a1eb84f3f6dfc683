package main

import (
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
)

func TestModelImport(t *testing.T) {
	dir := t.TempDir()
	for _, src := range []string{"../../infer/torchimport/testdata/bncnn.pt", "../../infer/torchimport/testdata/ln_torch.onnx"} {
		out := filepath.Join(dir, filepath.Base(src)+".rtm")
		code, stdout, stderr := run(t, "model", "import", src, "--out", out)
		if code != 0 {
			t.Fatalf("import %s: exit %d\n%s%s", src, code, stdout, stderr)
		}
		m, err := infer.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if m.Input.FrameRate != 100 || len(m.Cells) != 4 || !strings.Contains(stdout, "4 cells") {
			t.Errorf("%s: loaded %+v, %d cells; printed %q", src, m.Input, len(m.Cells), stdout)
		}
	}
}

func TestModelImportErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"model", "import", "--out", filepath.Join(dir, "x")}, 2, "want one input file and --out"},
		{[]string{"model", "import", filepath.Join(dir, "missing.pt"), "--out", filepath.Join(dir, "x")}, 1, "torchimport: open " + filepath.Join(dir, "missing.pt")},
		{[]string{"model", "import", "../../infer/torchimport/testdata/rates.npy", "--out", filepath.Join(dir, "x")}, 1, "not a torch.save file"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestRecurrentModelThroughONNX: `retinad model export` writes a recurrent model as its ONNX
// step and says so, `retinad predict` runs that file as it runs the native one (PyTorch's
// rates over the golden's 2,400 steps), and `retinad model import` takes the trainer's ONNX
// export of a RecurrentBNCNN (train/export.py) to a native file that predicts PyTorch's rates.
func TestRecurrentModelThroughONNX(t *testing.T) {
	dir, tmp := enginetest.TestdataDir(), t.TempDir()
	predict := func(model, stim, rates string) {
		t.Helper()
		out := filepath.Join(tmp, "r.npy")
		if code, _, errs := run(t, "predict", "--model", model, "--stimulus", stim, "--out", out); code != 0 {
			t.Fatalf("predict %s: exit %d: %s", model, code, errs)
		}
		got, _, err := enginetest.ReadNpy(out)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := enginetest.ReadNpy(rates)
		if err != nil {
			t.Fatal(err)
		}
		if err := enginetest.Check(got, want, filepath.Base(model)); err != nil {
			t.Error(err)
		}
	}
	step := filepath.Join(tmp, "gru.onnx")
	code, out, errs := run(t, "model", "export", filepath.Join(dir, "bncnn_gru.retinad"), "--out", step)
	if code != 0 || !strings.Contains(out, "one step of a recurrent model: input state and output next_state [-1 3 4 4]") {
		t.Fatalf("export: exit %d: %s%s", code, out, errs)
	}
	predict(step, filepath.Join(dir, "bncnn_gru.contrast.stim.npy"), filepath.Join(dir, "bncnn_gru.contrast.rates.npy"))

	td := "../../infer/torchimport/testdata/"
	native := filepath.Join(tmp, "rbncnn.rtm")
	if code, out, errs := run(t, "model", "import", td+"rbncnn_torch.onnx", "--out", native); code != 0 {
		t.Fatalf("import: exit %d: %s%s", code, out, errs)
	}
	predict(native, td+"rbncnn_stimulus.npy", td+"rbncnn_rates.npy")
}
