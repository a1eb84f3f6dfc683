package torchimport

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"retinad/internal/testenv"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/onnx"
	"retinad/infer/onnx/ortpeer"
)

func readNpy(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	data, shape, err := enginetest.ReadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, shape
}

// windows stacks normalised history windows: row i is frames i..i+hist-1 of stim [T,H,W].
func windows(stim []float32, T, hist, hw int, mean, std float64) []float32 {
	n := T - hist + 1
	out := make([]float32, 0, n*hist*hw)
	for i := 0; i < n; i++ {
		for _, v := range stim[i*hw : (i+hist)*hw] {
			out = append(out, float32((float64(v)-mean)/std))
		}
	}
	return out
}

func TestReadCheckpoint(t *testing.T) {
	ck, err := Read("testdata/bncnn.pt")
	if err != nil {
		t.Fatal(err)
	}
	if ck.ModelType != "BNCNN" || ck.FrameRate != 100 {
		t.Errorf("model_type %q frame_rate %v", ck.ModelType, ck.FrameRate)
	}
	if math.Abs(ck.NormMean-0.05) > 1e-7 || math.Abs(ck.NormStd-0.8) > 1e-7 {
		t.Errorf("norm_stats %v %v, want 0.05 0.8 (numpy float32 scalars)", ck.NormMean, ck.NormStd)
	}
	if got := ck.State["sequential.0.weight"].Shape; len(got) != 4 || got[0] != 3 || got[1] != 8 || got[2] != 5 {
		t.Errorf("sequential.0.weight shape %v", got)
	}
	if _, ok := ck.State["sequential.12.running_var"]; !ok {
		t.Error("no sequential.12.running_var")
	}
}

// TestGoldenONNXRuntime runs the checkpoint's converted graph and PyTorch's own export through
// ONNX Runtime and checks both against PyTorch's rates to 1e-4 relative.
func TestGoldenONNXRuntime(t *testing.T) {
	ck, err := Read("testdata/bncnn.pt")
	if err != nil {
		t.Fatal(err)
	}
	g, err := ck.Graph()
	if err != nil {
		t.Fatal(err)
	}
	stim, ss := readNpy(t, "testdata/stimulus.npy")
	want, ws := readNpy(t, "testdata/rates.npy")
	T, hw, hist, cells := ss[0], ss[1]*ss[2], 8, ws[1]
	torchONNX, err := os.ReadFile("testdata/bncnn_torch.onnx")
	if err != nil {
		t.Fatal(err)
	}
	for name, model := range map[string][]byte{"checkpoint": onnx.Marshal(g), "torch.onnx.export": torchONNX} {
		x := windows(stim, T, hist, hw, ck.NormMean, ck.NormStd)
		n := int64(T - hist + 1)
		got, err := ortpeer.Run(model, "stimulus", x, []int64{n, int64(hist), int64(ss[1]), int64(ss[2])}, "rates", int64(cells))
		if errors.Is(err, ortpeer.ErrUnavailable) {
			testenv.Missing(t, "ONNX Runtime (RETINAD_ONNXRUNTIME, scripts/setup)", err)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkRates(t, name, got, want[(hist-1)*cells:])
	}
}

func checkRates(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rates, want %d", name, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		rel := d / math.Max(math.Abs(float64(want[i])), 1e-3)
		worst = math.Max(worst, rel)
		if rel > 1e-4 && d > 1e-5 {
			t.Errorf("%s: rate %d = %v, PyTorch %v (relative error %.2g)", name, i, got[i], want[i], rel)
			return
		}
	}
	t.Logf("%s: %d rates match PyTorch, worst relative error %.2g", name, len(got), worst)
}

func TestBadCheckpoints(t *testing.T) {
	dir := t.TempDir()
	notZip := filepath.Join(dir, "junk.pt")
	os.WriteFile(notZip, []byte("not a checkpoint"), 0o644)
	if _, err := Read(notZip); err == nil || !strings.HasPrefix(err.Error(), "torchimport: "+notZip+": not a torch.save file") {
		t.Errorf("junk file: %v", err)
	}
	ck, err := Read("testdata/bncnn.pt")
	if err != nil {
		t.Fatal(err)
	}
	ck.ModelType = "VaryModel"
	if _, err := ck.Graph(); err == nil || !strings.Contains(err.Error(), `model_type "VaryModel" not supported`) {
		t.Errorf("model type: %v", err)
	}
	ck.ModelType = "BNCNN"
	ck.State["sequential.6.weight"].Shape = []int{4, 3, 5, 5}
	if _, err := ck.Graph(); err == nil || !strings.Contains(err.Error(), "sequential.6.weight has shape [4 3 5 5], want [4 3 3 3]") {
		t.Errorf("shape: %v", err)
	}
	ck.State["sequential.6.weight"].Shape = []int{4, 3, 3, 3}
	delete(ck.Hyps, "chans")
	if _, err := ck.Graph(); err == nil || !strings.Contains(err.Error(), `hyps has no "chans"`) {
		t.Errorf("hyps: %v", err)
	}
}

// TestGoldenEngines: the checkpoint imported in Go and run by retinad's streaming and
// reference engines on raw frames gives PyTorch's rates to 1e-4 relative, as does the same
// model through torch.onnx.export and onnx.Import, and both imports are the same model.
func TestGoldenEngines(t *testing.T) {
	m, err := Import("testdata/bncnn.pt", onnx.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	noise := 0
	for _, l := range m.Layers {
		if l.Type == infer.Noise && l.Std == 0.05 {
			noise++
		}
	}
	if noise != 2 {
		t.Errorf("%d noise layers of std 0.05, want 2 (after each hidden batch norm)", noise)
	}
	if m.Input.Mean != float64(float32(0.05)) || m.Input.Std != float64(float32(0.8)) || m.Input.FrameRate != 100 || m.OutputScale != 100 {
		t.Errorf("input %+v output scale %v", m.Input, m.OutputScale)
	}
	b, err := os.ReadFile("testdata/bncnn_torch.onnx")
	if err != nil {
		t.Fatal(err)
	}
	viaONNX, err := onnx.Import(b)
	if err != nil {
		t.Fatal(err)
	}
	stim, ss := readNpy(t, "testdata/stimulus.npy")
	want, _ := readNpy(t, "testdata/rates.npy")
	for name, model := range map[string]*infer.Model{"checkpoint import": m, "onnx import": viaONNX} {
		for engine, newEngine := range map[string]func(*infer.Model, infer.Options) (stepper, error){
			"stream":    func(m *infer.Model, o infer.Options) (stepper, error) { return infer.NewStream(m, o) },
			"reference": func(m *infer.Model, o infer.Options) (stepper, error) { return infer.NewReference(m, o) },
		} {
			e, err := newEngine(model, infer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			hw, nc := ss[1]*ss[2], len(model.Cells)
			got := make([]float32, ss[0]*nc)
			for i := 0; i < ss[0]; i++ {
				if !e.Step(stim[i*hw:(i+1)*hw], got[i*nc:(i+1)*nc]) {
					for j := 0; j < nc; j++ {
						got[i*nc+j] = float32(math.NaN())
					}
				}
			}
			checkRates(t, name+" "+engine, got[7*nc:], want[7*nc:])
		}
	}
	var pa, pb int
	var noNoise []infer.Layer
	for _, l := range m.Layers {
		if l.Type != infer.Noise {
			noNoise = append(noNoise, l)
		}
	}
	for i := range noNoise {
		for _, ts := range [][2]*infer.Tensor{{noNoise[i].Weight, viaONNX.Layers[i].Weight}, {noNoise[i].RunningVar, viaONNX.Layers[i].RunningVar}} {
			if (ts[0] == nil) != (ts[1] == nil) {
				t.Fatalf("layer %d differs between the imports", i)
			}
			if ts[0] != nil {
				pa += len(ts[0].Data)
				pb += len(ts[1].Data)
			}
		}
	}
	if len(m.Layers) != len(viaONNX.Layers)+2 || pa != pb {
		t.Errorf("checkpoint import has %d layers (%d weights), onnx import %d (%d)", len(m.Layers), pa, len(viaONNX.Layers), pb)
	}
}

type stepper interface {
	Step(frame, rates []float32) bool
}

func TestImportNeedsFrameRateWithoutOne(t *testing.T) {
	ck, err := Read("testdata/bncnn.pt")
	if err != nil {
		t.Fatal(err)
	}
	ck.FrameRate = 0
	g, err := ck.Graph()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.ImportGraph(g, onnx.Defaults{}); err == nil || !strings.Contains(err.Error(), "frame rate") {
		t.Errorf("error %v, want one asking for the frame rate", err)
	}
	m, err := onnx.ImportGraph(g, onnx.Defaults{FrameRate: 50})
	if err != nil {
		t.Fatal(err)
	}
	if m.OutputScale != 1 || m.Input.FrameRate != 50 {
		t.Errorf("output scale %v frame rate %v, want 1 (outputs in spikes/s) and 50", m.OutputScale, m.Input.FrameRate)
	}
}

// TestPythonNativeFiles: the native files train/native.py writes load in Go and run to
// PyTorch's rates (the trainer's writer and infer.Load agree on the format).
func TestPythonNativeFiles(t *testing.T) {
	stim, ss := readNpy(t, "testdata/stimulus.npy")
	for file, rates := range map[string]string{"testdata/bncnn_python.rtm": "testdata/rates.npy", "testdata/ln_python.rtm": "testdata/ln_rates.npy"} {
		m, err := infer.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := readNpy(t, rates)
		e, err := infer.NewStream(m, infer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		hw, nc := ss[1]*ss[2], len(m.Cells)
		got := make([]float32, ss[0]*nc)
		for i := 0; i < ss[0]; i++ {
			e.Step(stim[i*hw:(i+1)*hw], got[i*nc:(i+1)*nc])
		}
		checkRates(t, file, got[7*nc:], want[7*nc:])
	}
}

// TestRecurrentCheckpoint imports retinad's trainer's RecurrentBNCNN checkpoint (a convgru
// after the convolutions) and holds both engines to PyTorch's rates over a 600-bin session
// whose contrast steps every 100 bins (train/golden.py recurrent).
func TestRecurrentCheckpoint(t *testing.T) {
	m, err := Import("testdata/rbncnn.pt", onnx.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Recurrent() || m.Input.FrameRate != 100 || m.OutputScale != 100 || m.Input.Std != float64(float32(0.8)) {
		t.Fatalf("imported %+v, output scale %v, recurrent %v", m.Input, m.OutputScale, m.Recurrent())
	}
	var types []string
	for _, l := range m.Layers {
		types = append(types, string(l.Type))
	}
	if got := strings.Join(types, " "); got != "conv2d batchnorm noise relu conv2d batchnorm noise relu convgru dense batchnorm softplus" {
		t.Errorf("layers %s", got)
	}
	stim, ss := readNpy(t, "testdata/rbncnn_stimulus.npy")
	want, _ := readNpy(t, "testdata/rbncnn_rates.npy")
	for engine, newEngine := range map[string]func(*infer.Model, infer.Options) (stepper, error){
		"stream":    func(m *infer.Model, o infer.Options) (stepper, error) { return infer.NewStream(m, o) },
		"reference": func(m *infer.Model, o infer.Options) (stepper, error) { return infer.NewReference(m, o) },
	} {
		e, err := newEngine(m, infer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		hw, nc := ss[1]*ss[2], len(m.Cells)
		got := make([]float32, ss[0]*nc)
		for i := 0; i < ss[0]; i++ {
			e.Step(stim[i*hw:(i+1)*hw], got[i*nc:(i+1)*nc])
		}
		h := m.Input.History
		checkRates(t, "recurrent checkpoint "+engine, got[(h-1)*nc:], want[(h-1)*nc:])
	}
}

// TestRecurrentCheckpointRefusals: what a RecurrentBNCNN checkpoint lacks or has extra is named.
func TestRecurrentCheckpointRefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(ck *Checkpoint)
		want   string
	}{
		{"no hidden", func(ck *Checkpoint) { delete(ck.Hyps, "hidden") }, `hyps has no "hidden"`},
		{"hidden too big", func(ck *Checkpoint) { ck.Hyps["hidden"] = 3 }, "gru.ih.weight has shape [6 4 3 3], want [9 4 3 3]"},
		{"no state kernels", func(ck *Checkpoint) { delete(ck.State, "gru.hh.weight") }, `model_state_dict has no "gru.hh.weight"`},
		{"extra key", func(ck *Checkpoint) {
			ck.State["gru.extra"] = &Tensor{Shape: []int{1}, Data: []float32{0}}
			ck.Keys = append(ck.Keys, "gru.extra")
		}, `key "gru.extra" is not part of a RecurrentBNCNN`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck, err := Read("testdata/rbncnn.pt")
			if err != nil {
				t.Fatal(err)
			}
			c.change(ck)
			_, err = ck.recurrentModel(onnx.Defaults{})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "torchimport: ") {
				t.Errorf("error %v, want one starting \"torchimport: \" containing %q", err, c.want)
			}
		})
	}
}

// TestRecurrentONNXExport: train/export.py's ONNX step of the same RecurrentBNCNN
// (rbncnn_torch.onnx, torch.onnx.export at opset 13) imports to the model the checkpoint
// imports to (the same rates to 1e-6 over the 600-bin session) and to PyTorch's rates; and
// ONNX Runtime, stepping that export over 2,400 bins with its next state fed back, gives the
// streaming engine's rates to 1e-4.
func TestRecurrentONNXExport(t *testing.T) {
	fromCk, err := Import("testdata/rbncnn.pt", onnx.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/rbncnn_torch.onnx")
	if err != nil {
		t.Fatal(err)
	}
	fromONNX, err := onnx.Import(b)
	if err != nil {
		t.Fatalf("rbncnn_torch.onnx: %v", err)
	}
	if !fromONNX.Recurrent() || fromONNX.Input != fromCk.Input || fromONNX.OutputScale != fromCk.OutputScale {
		t.Fatalf("imported %+v scale %v recurrent %v, want %+v scale %v", fromONNX.Input, fromONNX.OutputScale, fromONNX.Recurrent(), fromCk.Input, fromCk.OutputScale)
	}
	run := func(m *infer.Model, stim []float32, hw int) []float32 {
		s, err := infer.NewStream(m, infer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		nc := len(m.Cells)
		T := len(stim) / hw
		got := make([]float32, T*nc)
		for i := 0; i < T; i++ {
			if !s.Step(stim[i*hw:(i+1)*hw], got[i*nc:(i+1)*nc]) {
				for c := range nc {
					got[i*nc+c] = float32(math.NaN())
				}
			}
		}
		return got
	}
	stim, ss := readNpy(t, "testdata/rbncnn_stimulus.npy")
	want, _ := readNpy(t, "testdata/rbncnn_rates.npy")
	hw, h, nc := ss[1]*ss[2], fromCk.Input.History, len(fromCk.Cells)
	a, c := run(fromONNX, stim, hw), run(fromCk, stim, hw)
	checkRates(t, "onnx import against PyTorch", a[(h-1)*nc:], want[(h-1)*nc:])
	for i := (h - 1) * nc; i < len(a); i++ {
		if d := math.Abs(float64(a[i]) - float64(c[i])); d > 1e-6*math.Max(1, math.Abs(float64(c[i]))) {
			t.Fatalf("rate %d: onnx import %v, checkpoint import %v", i, a[i], c[i])
		}
	}
	// 2,400 bins: the golden session four times over, contrast steps every 100 bins.
	long := make([]float32, 0, 4*len(stim))
	for range 4 {
		long = append(long, stim...)
	}
	g, err := onnx.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ortpeer.StepRecurrent(b, fromONNX, g.Inputs[1].Dims[1:], long)
	if errors.Is(err, ortpeer.ErrUnavailable) {
		testenv.Missing(t, "ONNX Runtime (RETINAD_ONNXRUNTIME, scripts/setup)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	checkRates(t, "ONNX Runtime stepping the torch export against the streaming engine", got[(h-1)*nc:], run(fromCk, long, hw)[(h-1)*nc:])
}
