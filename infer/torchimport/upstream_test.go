package torchimport

import (
	"os"
	"os/exec"
	"path/filepath"
	"retinad/internal/testenv"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/onnx"
)

// upstreamFiles runs testdata/upstream.py, which builds a BNCNN in PyTorch with
// torch-deep-retina's constructor defaults and saves it as its training code does, and returns
// the directory holding the files.
func upstreamFiles(t *testing.T) string {
	t.Helper()
	testenv.Path(t, "/usr/bin/python3 with torch (scripts/setup)", "/usr/bin/python3")
	dir := t.TempDir()
	cmd := exec.Command("/usr/bin/python3", "infer/torchimport/testdata/upstream.py", dir)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("upstream.py: %v\n%s", err, out)
	}
	return dir
}

// predictWindows runs m's reference engine on each normalised window of x [N, hist, H, W]
// (un-normalising it, since the engine normalises raw frames) and returns [N, cells].
func predictWindows(t *testing.T, m *infer.Model, x []float32, shape []int) []float32 {
	t.Helper()
	n, hist, hw := shape[0], shape[1], shape[2]*shape[3]
	e, err := infer.NewReference(m, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nc := len(m.Cells)
	out := make([]float32, n*nc)
	frame := make([]float32, hw)
	for i := 0; i < n; i++ {
		e.Reset()
		for h := 0; h < hist; h++ {
			for j, v := range x[(i*hist+h)*hw : (i*hist+h+1)*hw] {
				frame[j] = float32(float64(v)*m.Input.Std + m.Input.Mean)
			}
			if ok := e.Step(frame, out[i*nc:(i+1)*nc]); ok != (h == hist-1) {
				t.Fatalf("window %d frame %d: engine ready %v", i, h, ok)
			}
		}
	}
	return out
}

// TestUpstreamCheckpoint: a BNCNN saved with torch-deep-retina's defaults (linear_bias=None,
// tuples, inference_exp, recurrent, no frame_rate) imports and predicts PyTorch's eval output
// to 1e-4, with its norm_stats; without norm_stats it imports with a warning naming the flags.
func TestUpstreamCheckpoint(t *testing.T) {
	dir := upstreamFiles(t)
	x, xs := readNpy(t, filepath.Join(dir, "x.npy"))
	want, _ := readNpy(t, filepath.Join(dir, "y.npy"))
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	m, err := ImportWarn(filepath.Join(dir, "upstream.pt"), onnx.Defaults{FrameRate: 100}, warn)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q for a checkpoint with norm_stats", warnings)
	}
	if m.Input.Mean != float64(float32(0.1)) || m.Input.Std != float64(float32(0.7)) || m.OutputScale != 1 {
		t.Errorf("input %+v output scale %v, want norm_stats 0.1/0.7 and outputs taken as spikes/s", m.Input, m.OutputScale)
	}
	checkRates(t, "upstream.pt", predictWindows(t, m, x, xs), want)

	nonorm := filepath.Join(dir, "nonorm.pt")
	m, err = ImportWarn(nonorm, onnx.Defaults{FrameRate: 100, Mean: 0.1, Std: 0.7}, warn)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], nonorm+": no norm_stats: normalising the stimulus with mean 0.1, std 0.7") || !strings.Contains(warnings[0], "--norm-mean") {
		t.Errorf("warnings %q, want one naming the file, the values used and the flags", warnings)
	}
	checkRates(t, "nonorm.pt with --norm-mean/--norm-std", predictWindows(t, m, x, xs), want)
}

// TestUpstreamWholeModule: torch.save(model) is read without executing anything: the state
// dict and hyperparameters come back from the modules' pickled __dict__, and the model
// predicts PyTorch's output; it has no norm_stats, so the import warns.
func TestUpstreamWholeModule(t *testing.T) {
	dir := upstreamFiles(t)
	x, xs := readNpy(t, filepath.Join(dir, "x.npy"))
	want, _ := readNpy(t, filepath.Join(dir, "y.npy"))
	whole := filepath.Join(dir, "whole.pt")
	ck, err := Read(whole)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Read(filepath.Join(dir, "upstream.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.ModelType != "BNCNN" || len(ck.Keys) != len(ref.Keys) {
		t.Errorf("model_type %q, keys %v; want BNCNN and the state dict's keys %v", ck.ModelType, ck.Keys, ref.Keys)
	}
	for i, k := range ref.Keys {
		if i < len(ck.Keys) && ck.Keys[i] != k {
			t.Errorf("key %d is %q, state_dict has %q", i, ck.Keys[i], k)
		}
	}
	var warnings []string
	m, err := ImportWarn(whole, onnx.Defaults{FrameRate: 100, Mean: 0.1, Std: 0.7}, func(s string) { warnings = append(warnings, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "no norm_stats") {
		t.Errorf("warnings %q, want one about norm_stats", warnings)
	}
	checkRates(t, "whole.pt", predictWindows(t, m, x, xs), want)
}

// TestUpstreamRefusals: what retinad cannot run yet is refused with the class named and what
// to do, not a raw unpickler error.
func TestUpstreamRefusals(t *testing.T) {
	dir := upstreamFiles(t)
	_, err := Import(filepath.Join(dir, "rnn.pt"), onnx.Defaults{FrameRate: 100})
	if err == nil || !strings.Contains(err.Error(), `model_type "RNNCNN" is recurrent`) || strings.Count(err.Error(), "torchimport: ") != 1 || !strings.HasPrefix(err.Error(), "torchimport: "+filepath.Join(dir, "rnn.pt")+": ") {
		t.Errorf("recurrent: %v (want the package and file named once, first)", err)
	}
	ck, err := Read(filepath.Join(dir, "upstream.pt"))
	if err != nil {
		t.Fatal(err)
	}
	ck.Hyps["inference_exp"] = true
	if _, err := ck.Graph(); err == nil || !strings.Contains(err.Error(), `hyps["inference_exp"] is true`) {
		t.Errorf("inference_exp: %v", err)
	}
	ck.Hyps["inference_exp"] = nil
	ck.Hyps["linear_bias"] = 3
	if _, err := ck.Graph(); err == nil || !strings.Contains(err.Error(), `hyps["linear_bias"] is int, want a bool or None`) {
		t.Errorf("linear_bias int: %v", err)
	}
	ck.Hyps["linear_bias"] = nil
	ck.ModelType = "LinearStackedBNCNN"
	if _, err := ck.Graph(); err == nil || !strings.Contains(err.Error(), `model_type "LinearStackedBNCNN" not supported`) || !strings.Contains(err.Error(), "torch.onnx.export") {
		t.Errorf("other class: %v", err)
	}
}

// TestUpstreamONNX: the same module through plain torch.onnx.export, with a dynamic batch
// (x.view(x.size(0), -1) becomes a Shape/Gather/Unsqueeze/Concat subgraph) and with a fixed
// one (Reshape [2 -1]), imports and predicts PyTorch's output to 1e-4.
func TestUpstreamONNX(t *testing.T) {
	dir := upstreamFiles(t)
	x, xs := readNpy(t, filepath.Join(dir, "x.npy"))
	want, _ := readNpy(t, filepath.Join(dir, "y.npy"))
	for _, name := range []string{"bncnn.onnx", "bncnn_static.onnx"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnx.ImportWith(b, onnx.Defaults{FrameRate: 100})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkRates(t, name, predictWindows(t, m, x, xs), want)
	}
}

// FuzzRead: whatever the bytes of a torch.save file (the zip's data.pkl or a legacy pickle),
// Read returns a checkpoint or an error, never a panic, and executes nothing.
func FuzzRead(f *testing.F) {
	for _, p := range []string{"testdata/bncnn.pt"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("\x80\x02}q\x00."))
	f.Add([]byte("\x80\x02c__builtin__\nset\nq\x00]q\x01\x85q\x02Rq\x03."))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.pt")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := Read(path)
		if err == nil {
			ck.Graph() // may refuse; must not panic
		}
	})
}
