package main

import (
	"math"
	"path/filepath"
	"testing"

	"retinad/configs"
	"retinad/infer"
	"retinad/infer/dataset"
	"retinad/infer/enginetest"
	"retinad/infer/npy"
)

// TestRecurrentDaemonEndToEnd proves the daemon's half of issue 20 with the real binary at
// every step: `retinad model import` turns the trainer's RecurrentBNCNN checkpoint
// (infer/torchimport/testdata/rbncnn.pt, written by train/) into a native file; `retinad run`
// loads it as the only model on the simulated rig (configs/sim.yaml, its stimulus at the
// model's 10x10 and frame rate, offscreen, ports 0, no dashboard) and records a session;
// `retinad export` writes the session's stimulus and the predictions the daemon published to
// .npz; and `retinad predict` on that exported stimulus gives the same rates (to 1e-4) as the
// daemon's conv-GRU did live, bin by bin, once the frame history is full. Every bin after the
// history has exactly one published prediction, and its rates are finite. predict on the same
// frames started 20 frames later differs, so the match is the GRU's state carried across the
// session, not only the frame window.
func TestRecurrentDaemonEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	model := filepath.Join(dir, "rbncnn.rtm")
	if out, stderr, err := retinad(bin, "model", "import", "../../infer/torchimport/testdata/rbncnn.pt", "--out", model); err != nil {
		t.Fatalf("model import: %v\n%s%s", err, out, stderr)
	}
	m, err := infer.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeE2EConfig(t, dir, "rnn.yaml", filepath.Join(dir, "rec"), func(c *configs.Config) {
		c.Models = []configs.Model{{Name: "rnn", File: model}}
		c.Adaptive.Models = nil
		c.Stimulus.Height, c.Stimulus.Width = m.Input.Height, m.Input.Width
		c.Stimulus.FrameRate = configs.Frequency(m.Input.FrameRate)
	})

	d := startDaemon(t, bin, cfg, "rnn")
	w := watch(t, d.url)
	w.waitFrames(t, "rnn", 300) // 3 s of rig time at 100 Hz
	d.stop(t)
	w.close()

	npz := filepath.Join(dir, "rnn.npz")
	if out, stderr, err := retinad(bin, "export", "--config", cfg, "--session", "rnn", "--out", npz); err != nil {
		t.Fatalf("export: %v\n%s%s", err, out, stderr)
	}
	live := readArray(t, npz, "pred_rnn")
	rates := filepath.Join(dir, "rnn.rates.npy")
	if out, stderr, err := retinad(bin, "predict", "--model", model, "--stimulus", npz, "--out", rates); err != nil {
		t.Fatalf("predict: %v\n%s%s", err, out, stderr)
	}
	offline, shape, err := enginetest.ReadNpy(rates)
	if err != nil {
		t.Fatal(err)
	}
	C := len(m.Cells)
	if len(shape) != 2 || shape[1] != C || len(live) != len(offline) {
		t.Fatalf("predict wrote %v, the export has %d rates; want [T %d] for both", shape, len(live), C)
	}
	T, history := shape[0], m.Input.History
	if T < 250 {
		t.Fatalf("a session of %d bins: too short to compare", T)
	}
	checkOnePerBin(t, w, "rnn", T, history)
	for i := range (history - 1) * C { // before a full history: no prediction, offline or live
		if !math.IsNaN(float64(live[i])) || !math.IsNaN(float64(offline[i])) {
			t.Errorf("rate %d, before the %d-frame history: daemon %v, predict %v; want NaN", i, history, live[i], offline[i])
		}
	}
	compared, maxDiff, lo, hi := 0, 0.0, math.Inf(1), math.Inf(-1)
	for b := history - 1; b < T; b++ {
		for c := range C {
			got, want := live[b*C+c], offline[b*C+c]
			if math.IsNaN(float64(got)) || math.IsInf(float64(got), 0) {
				t.Fatalf("bin %d cell %d: the daemon's rate is %v, want finite after the %d-frame history", b, c, got, history)
			}
			if math.Abs(float64(got-want)) > 1e-4 {
				t.Fatalf("bin %d cell %d: the daemon published %v, `retinad predict` on the recorded frames gives %v", b, c, got, want)
			}
			maxDiff = max(maxDiff, math.Abs(float64(got-want)))
			lo, hi = min(lo, float64(want)), max(hi, float64(want))
			compared++
		}
	}
	if hi-lo < 1 {
		t.Errorf("the rates span %v..%v spikes/s: too flat a session to tell models apart", lo, hi)
	}
	checkStateMatters(t, bin, model, npz, live, C, history)
	t.Logf("%d rates (%d bins x %d cells, %.3g..%.3g spikes/s): the daemon's recurrent rates equal predict's on the recorded frames, at most %.2g apart", compared, T-history+1, C, lo, hi, maxDiff)
}

// checkStateMatters: the comparison above holds the daemon to the GRU's state, not only to
// the frame window: `retinad predict` on the exported frames rewritten as a .npy gives the
// daemon's rates (so the rewrite keeps them), and on the same frames without the first 20 (a
// state that starts later) differs from them beyond 1e-4 somewhere after its own history.
func checkStateMatters(t *testing.T, bin, model, npz string, live []float32, C, history int) {
	t.Helper()
	d, err := dataset.Read(npz)
	if err != nil {
		t.Fatal(err)
	}
	for _, skip := range []int{0, 20} {
		var frames []float32
		for b := skip; b < d.T; b++ {
			frames = append(frames, d.Frame(b)...)
		}
		stim, rates := filepath.Join(t.TempDir(), "stim.npy"), filepath.Join(t.TempDir(), "rates.npy")
		if err := npy.WriteFile(stim, []int{d.T - skip, d.H, d.W}, frames); err != nil {
			t.Fatal(err)
		}
		if out, stderr, err := retinad(bin, "predict", "--model", model, "--stimulus", stim, "--out", rates); err != nil {
			t.Fatalf("predict: %v\n%s%s", err, out, stderr)
		}
		late, _, err := enginetest.ReadNpy(rates)
		if err != nil {
			t.Fatal(err)
		}
		maxDiff := 0.0
		for i := (history - 1) * C; i < len(late); i++ {
			maxDiff = max(maxDiff, math.Abs(float64(late[i]-live[skip*C+i])))
		}
		if skip == 0 && maxDiff > 1e-4 {
			t.Errorf("predict on the exported frames as .npy: up to %.3g spikes/s from the daemon's rates, want 1e-4", maxDiff)
		}
		if skip > 0 && maxDiff <= 1e-4 {
			t.Errorf("predict from frame %d gives the daemon's rates (at most %.2g apart): the comparison does not see the recurrent state", skip, maxDiff)
		}
		t.Logf("predict from frame %d: up to %.3g spikes/s from the daemon's rates", skip, maxDiff)
	}
}

// checkOnePerBin: the watcher saw exactly one prediction of model rnn for each bin from the
// first it saw (it subscribed after the session began) to the session's last whole bin.
func checkOnePerBin(t *testing.T, w *watcher, session string, T, history int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := make([]int, T)
	first := T
	for _, p := range w.preds[session] {
		if p.Model == "rnn" && p.Bin < uint64(T) {
			seen[p.Bin]++
			first = min(first, int(p.Bin))
		}
	}
	if first > T/2 {
		t.Fatalf("the first prediction seen is for bin %d of %d", first, T)
	}
	for b := max(first, history-1); b < T; b++ {
		if seen[b] != 1 {
			t.Fatalf("bin %d: %d predictions published, want one", b, seen[b])
		}
	}
	t.Logf("one prediction published per bin from bin %d (the first the watcher saw) to %d", first, T-1)
}

// readArray reads one float32 array of an exported .npz.
func readArray(t *testing.T, path, name string) []float32 {
	t.Helper()
	z, err := npy.OpenArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	a, err := z.Open(name)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer a.Close()
	v, err := npy.ReadAll[float32](a)
	if err != nil {
		t.Fatalf("%s: array %s: %v", path, name, err)
	}
	return v
}
