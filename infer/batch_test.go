package infer_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
)

// TestPredictMatchesReference runs the batch engine over a movie long enough for several
// chunks and compares every row with the reference engine stepping through it.
func TestPredictMatchesReference(t *testing.T) {
	for name, m := range map[string]*infer.Model{
		"cnn": infertest.CNN(1, infertest.Size{History: 3, Height: 9, Width: 8, C1: 2, C2: 2, K1: 3, K2: 3, Cells: 2}),
		"ln":  infertest.LNModel(2, infertest.Small),
		"glm": infertest.GLMModel(3, infertest.Small, true),
		// recurrent: its state runs through all 4,500 bins, across what would be chunks
		"gru": infertest.RecurrentCNN(12, infertest.Size{History: 3, Height: 9, Width: 8, C1: 2, C2: 2, K1: 3, K2: 3, Cells: 2}, 2, 3),
	} {
		t.Run(name, func(t *testing.T) {
			T := 4500
			if m.Kind != infer.CNN {
				T = 300
			}
			frames := enginetest.Frames(m, T, 4)
			hw := m.Input.Height * m.Input.Width
			flat := make([]float32, 0, T*hw)
			for _, f := range frames {
				flat = append(flat, f...)
			}
			var observed *tensor.Dense
			obs := make([]float32, T*len(m.Cells))
			if m.Kind == infer.GLM {
				for i := range obs {
					obs[i] = float32(i % 3 / 2)
				}
				observed = tensor.New(tensor.WithShape(T, len(m.Cells)), tensor.WithBacking(obs))
			}
			got, err := infer.Predict(context.Background(), m, tensor.New(tensor.WithShape(T, m.Input.Height, m.Input.Width), tensor.WithBacking(flat)), infer.BatchOptions{Workers: 3, Observed: observed})
			if err != nil {
				t.Fatal(err)
			}
			if s := got.Shape(); s[0] != T || s[1] != len(m.Cells) {
				t.Fatalf("shape %v", s)
			}
			ref, _ := infer.NewReference(m, infer.Options{})
			C := len(m.Cells)
			want := make([]float32, T*C)
			for i, f := range frames {
				row := want[i*C : (i+1)*C]
				if !ref.Step(f, row) {
					for c := range row {
						row[c] = float32(math.NaN())
					}
				} else if observed != nil {
					ref.Observe(obs[i*C : (i+1)*C])
				}
			}
			if err := enginetest.Check(got.Data().([]float32), want, name); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestPredictRefusesBadStimulus(t *testing.T) {
	m := infertest.LNModel(2, infertest.Small)
	_, err := infer.Predict(context.Background(), m, tensor.New(tensor.WithShape(3, 4, 5), tensor.Of(tensor.Float32)), infer.BatchOptions{})
	if err == nil || err.Error() != "infer: stimulus: float32 (3, 4, 5), want float32 [T, 16, 16]" {
		t.Errorf("error %v", err)
	}
}

// TestPredictGolden holds the batch engine to PyTorch's rates on every golden fixture (the
// 100x100 grid and 512 cells included).
func TestPredictGolden(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join(enginetest.TestdataDir(), "*.retinad"))
	if len(models) == 0 {
		t.Fatal("no golden fixtures")
	}
	for _, path := range models {
		m, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		stims, _ := filepath.Glob(strings.TrimSuffix(path, ".retinad") + ".*.stim.npy")
		for _, sp := range stims {
			stim, shape, err := enginetest.ReadNpy(sp)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := enginetest.ReadNpy(strings.TrimSuffix(sp, ".stim.npy") + ".rates.npy")
			if err != nil {
				t.Fatal(err)
			}
			got, err := infer.Predict(context.Background(), m, tensor.New(tensor.WithShape(shape...), tensor.WithBacking(stim)), infer.BatchOptions{Workers: 2})
			if err != nil {
				t.Fatalf("%s: %v", sp, err)
			}
			if err := enginetest.Check(got.Data().([]float32), want, filepath.Base(sp)); err != nil {
				t.Error(err)
			}
		}
	}
}
