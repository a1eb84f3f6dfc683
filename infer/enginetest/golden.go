package enginetest

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/npy"
)

// TestdataDir is infer/testdata, where infer/testdata/golden.py writes the PyTorch fixtures:
// NAME.retinad (the model), NAME.stim.npy (float32 [T,H,W]) and NAME.rates.npy (PyTorch's
// rates, float32 [T,C] spikes/s, NaN before a full history).
func TestdataDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// ReadNpy reads a .npy file as float32, and its shape.
func ReadNpy(path string) ([]float32, []int, error) {
	a, err := npy.OpenFile(path)
	if err != nil {
		return nil, nil, err
	}
	defer a.Close()
	v, err := npy.ReadAll[float32](a)
	return v, a.Shape, err
}

// Golden runs every PyTorch fixture through the engine and holds it to PyTorch's rates.
func Golden(t *testing.T, newEngine New) {
	models, _ := filepath.Glob(filepath.Join(TestdataDir(), "*.retinad"))
	if len(models) == 0 {
		t.Fatalf("no golden fixtures in %s (run /usr/bin/python3 infer/testdata/golden.py)", TestdataDir())
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".retinad")
		t.Run(name, func(t *testing.T) {
			if testing.Short() && strings.Contains(name, "paper") {
				t.Skip("full-size model in -short mode")
			}
			m, err := infer.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			stims, _ := filepath.Glob(filepath.Join(TestdataDir(), name+".*.stim.npy"))
			if len(stims) == 0 {
				t.Fatalf("no stimulus for %s", name)
			}
			for _, sp := range stims {
				stim, shape, err := ReadNpy(sp)
				if err != nil {
					t.Fatal(err)
				}
				want, _, err := ReadNpy(strings.TrimSuffix(sp, ".stim.npy") + ".rates.npy")
				if err != nil {
					t.Fatal(err)
				}
				e, err := newEngine(m, infer.Options{})
				if err != nil {
					t.Fatal(err)
				}
				T, hw, C := shape[0], shape[1]*shape[2], len(m.Cells)
				got := make([]float32, T*C)
				for i := 0; i < T; i++ {
					row := got[i*C : (i+1)*C]
					if !e.Step(stim[i*hw:(i+1)*hw], row) {
						for c := range row {
							row[c] = float32(nan())
						}
					}
				}
				if err := Check(got, want, filepath.Base(sp)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
