package onnx

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/infertest"
	"retinad/infer/onnx/ortpeer"
	"retinad/internal/testenv"
)

// engineRates runs a model's streaming and reference engines over frames [T, H*W] and returns
// both rate tables [T, cells] (NaN before a full history).
func engineRates(t *testing.T, m *infer.Model, frames []float32, T int) (stream, ref []float32) {
	t.Helper()
	s, err := infer.NewStream(m, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := infer.NewReference(m, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hw, nc := m.Input.Height*m.Input.Width, len(m.Cells)
	stream, ref = make([]float32, T*nc), make([]float32, T*nc)
	for i := 0; i < T; i++ {
		f := frames[i*hw : (i+1)*hw]
		if !s.Step(f, stream[i*nc:(i+1)*nc]) {
			for j := range nc {
				stream[i*nc+j] = float32(math.NaN())
			}
		}
		if !r.Step(f, ref[i*nc:(i+1)*nc]) {
			for j := range nc {
				ref[i*nc+j] = float32(math.NaN())
			}
		}
	}
	return stream, ref
}

func compare(t *testing.T, name string, got, want []float32, rel, abs float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	worst, n := 0.0, 0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(w) {
			if !math.IsNaN(g) {
				t.Fatalf("%s: value %d = %v, want NaN (no full history yet)", name, i, g)
			}
			continue
		}
		d := math.Abs(g - w)
		if d > abs && d > rel*math.Abs(w) {
			t.Fatalf("%s: value %d = %v, want %v (relative error %.2g)", name, i, g, w, d/math.Abs(w))
		}
		worst = math.Max(worst, d/math.Max(math.Abs(w), 1e-12))
		n++
	}
	t.Logf("%s: %d rates agree, worst relative error %.2g", name, n, worst)
}

// TestImportMatchesPyTorch: PyTorch's own ONNX exports, imported and run by retinad's
// streaming and reference engines on raw frames, give PyTorch's rates to 1e-4 relative.
func TestImportMatchesPyTorch(t *testing.T) {
	const dir = "../torchimport/testdata/"
	stim, ss := readNpy(t, dir+"stimulus.npy")
	for _, tc := range []struct{ model, rates string }{{"bncnn_torch.onnx", "rates.npy"}, {"ln_torch.onnx", "ln_rates.npy"}} {
		g := loadGraph(t, dir+tc.model)
		m, err := ImportGraph(g, Defaults{})
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if m.Input.Mean != 0.05 || m.Input.Std != 0.8 || m.Input.FrameRate != 100 || m.OutputScale != 100 {
			t.Errorf("%s: input %+v output scale %v, want the metadata's", tc.model, m.Input, m.OutputScale)
		}
		want, _ := readNpy(t, dir+tc.rates)
		s, r := engineRates(t, m, stim, ss[0])
		compare(t, tc.model+" stream", s, want, 1e-4, 1e-5)
		compare(t, tc.model+" reference", r, want, 1e-4, 1e-5)
	}
}

func smallModels() map[string]*infer.Model {
	s := infertest.Small
	return map[string]*infer.Model{
		"cnn":         infertest.CNN(1, s),
		"cnn-exp":     infertest.CNNVariant(2, s, infer.Exp),
		"cnn-sigmoid": infertest.CNNVariant(3, s, infer.Sigmoid),
		"ln":          infertest.LNModel(4, s),
	}
}

func frames(T, hw int, seed uint64) []float32 {
	f := make([]float32, T*hw)
	x := seed
	for i := range f {
		x = x*6364136223846793005 + 1442695040888963407
		f[i] = float32(int64(x>>33)%1000)/1000 - 0.5
	}
	return f
}

// TestExportImportRoundTrip: a model exported and imported again runs to the same rates.
func TestExportImportRoundTrip(t *testing.T) {
	for name, m := range smallModels() {
		b, err := Export(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := Import(b)
		if err != nil {
			t.Fatalf("%s: import of export: %v", name, err)
		}
		if back.Kind != m.Kind || back.Input != m.Input || len(back.Cells) != len(m.Cells) || back.Cells[0] != m.Cells[0] {
			t.Errorf("%s: came back as %s %+v cells %v", name, back.Kind, back.Input, back.Cells)
		}
		T := 30
		f := frames(T, m.Input.Height*m.Input.Width, 9)
		_, want := engineRates(t, m, f, T)
		_, got := engineRates(t, back, f, T)
		compare(t, name, got, want, 1e-5, 1e-6)
	}
}

// TestExportRunsInONNXRuntime: ONNX Runtime runs the exported graph to the reference
// engine's rates (the input is the normalised window, as the metadata says).
func TestExportRunsInONNXRuntime(t *testing.T) {
	for name, m := range smallModels() {
		b, err := Export(m)
		if err != nil {
			t.Fatal(err)
		}
		in := m.Input
		hw, T := in.Height*in.Width, 24
		f := frames(T, hw, 5)
		_, want := engineRates(t, m, f, T)
		n := T - in.History + 1
		x := make([]float32, 0, n*in.History*hw)
		for i := 0; i < n; i++ {
			for _, v := range f[i*hw : (i+in.History)*hw] {
				x = append(x, float32((float64(v)-in.Mean)/in.Std))
			}
		}
		got, err := ortpeer.Run(b, "stimulus", x, []int64{int64(n), int64(in.History), int64(in.Height), int64(in.Width)}, "rates", int64(len(m.Cells)))
		if errors.Is(err, ortpeer.ErrUnavailable) {
			testenv.Missing(t, "ONNX Runtime (RETINAD_ONNXRUNTIME, scripts/setup)", err)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		compare(t, name+" in ONNX Runtime", got, want[(in.History-1)*len(m.Cells):], 1e-4, 1e-5)
	}
}

// A GLM comes back from its export with the same filters, output scale and input spec, with
// history and coupling, with history only, and with neither (no spikes input then).
func TestExportGLMRoundTrip(t *testing.T) {
	plain := infertest.GLMModel(1, infertest.Small, false)
	g := plain.GLM
	bare, err := infer.NewGLM(plain.Input, plain.Cells, g.StimulusFilter.Data, g.Bias.Data, 0, nil, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*infer.Model{"coupled": infertest.GLMModel(1, infertest.Small, true), "history": plain, "bare": bare} {
		b, err := Export(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Import(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back.GLM, m.GLM) || back.OutputScale != m.OutputScale || back.Input != m.Input || !reflect.DeepEqual(back.Cells, m.Cells) {
			t.Errorf("%s: import(export(m)) is not m:\n%+v\n%+v", name, back, m)
		}
		gr, _ := Unmarshal(b)
		if want := map[string]int{"bare": 1}[name]; want == 1 && len(gr.Inputs) != 1 {
			t.Errorf("%s: %d inputs, want the stimulus only", name, len(gr.Inputs))
		}
	}
}

func TestImportNeedsFrameRate(t *testing.T) {
	g := loadGraph(t, "../torchimport/testdata/ln_torch.onnx")
	g.Meta = nil
	if _, err := ImportGraph(g, Defaults{}); err == nil || !strings.Contains(err.Error(), "does not say its frame rate") {
		t.Errorf("error %v", err)
	}
	m, err := ImportGraph(g, Defaults{FrameRate: 60, Mean: 0.5, Std: 2, Cells: []int64{5, 6, 7, 8}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Input.FrameRate != 60 || m.Input.Mean != 0.5 || m.Input.Std != 2 || m.Cells[3] != 8 {
		t.Errorf("defaults not applied: %+v %v", m.Input, m.Cells)
	}
}
