package onnx

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"retinad/infer"
	"retinad/infer/infertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.onnx from Export")

// TestExportGoldenFiles keeps testdata/{cnn,ln}_small.onnx equal to what Export writes; the
// Python tests (train/tests) run onnx.checker on these files, so that check follows the code.
func TestExportGoldenFiles(t *testing.T) {
	for file, m := range map[string]*infer.Model{
		"testdata/cnn_small.onnx": infertest.CNN(1, infertest.Small),
		"testdata/ln_small.onnx":  infertest.LNModel(4, infertest.Small),
		"testdata/gru_small.onnx": infertest.RecurrentCNN(2, infertest.Small, 3, 3),
	} {
		b, err := Export(m)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		old, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run go test -run ExportGolden -update)", err)
		}
		if !bytes.Equal(old, b) {
			t.Errorf("%s differs from Export's output; run go test ./infer/onnx -run ExportGolden -update", file)
		}
	}
}

// FuzzImport: whatever the bytes, Import returns a valid model or an error, never a panic.
func FuzzImport(f *testing.F) {
	for _, file := range []string{"testdata/cnn_small.onnx", "testdata/ln_small.onnx", "../torchimport/testdata/ln_torch.onnx", "../torchimport/testdata/rbncnn_torch.onnx"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ImportWith(data, Defaults{FrameRate: 100})
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Import returned an invalid model: %v", err)
		}
	})
}
