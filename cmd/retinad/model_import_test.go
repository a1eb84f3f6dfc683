package main

import (
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer"
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
