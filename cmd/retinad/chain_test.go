package main

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"retinad/infer/enginetest"
)

// TestLabFilesChain: files written by retinad's own commands feed the next command, through
// the file kinds a lab brings. `simulate` writes a dataset; numpy and scipy turn it into what
// labs keep (a uint8 movie with its own scaling, spike times with frame times instead of
// counts, the same as a compressed MATLAB v5 .mat, and a uint8 movie whose scaling is given by
// --stimulus-scale); `fit ln` on each gives the same model as on the float .npz of the same
// contrast, checked by `predict` on the uint8 movie giving identical rates; `fit glm`, `model
// export` and `predict` on the ONNX give the native GLM's rates to 1e-6.
func TestLabFilesChain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if code, out, errs := run(t, "simulate", "--stimulus", "whitenoise", "--duration", "30s", "--seed", "7", "--cells", "4", "--out", p("sim.npz")); code != 0 {
		t.Fatalf("simulate: exit %d\n%s%s", code, out, errs)
	}
	script := `
import sys, numpy as np, scipy.io
d = sys.argv[1]
z = np.load(d + '/sim.npz')
u = np.clip(np.round(z['stimulus'] * 100 + 100), 0, 255).astype(np.uint8)
contrast = ((u.astype(np.float64) - 100) / 100).astype(np.float32)
counts, rate, ids = z['counts'], float(z['frame_rate']), z['cell_ids']
T = len(u)
frames = 5.0 + np.arange(T) / rate
times, cells = [], []
for t, c in zip(*np.nonzero(counts)):
    k = int(counts[t, c])
    times += list(frames[t] + (np.arange(k) + 0.5) / (k * rate))
    cells += [ids[c]] * k
order = np.argsort(times)  # any order is allowed; sorted as a recording would be
times, cells = np.array(times)[order], np.array(cells, np.int64)[order]
np.savez(d + '/ref.npz', stimulus=contrast, counts=counts, frame_rate=rate, cell_ids=ids)
np.savez(d + '/ref_reversed.npz', stimulus=contrast, counts=counts[:, ::-1], frame_rate=rate, cell_ids=ids[::-1])
np.savez(d + '/other_cells.npz', stimulus=contrast, counts=counts, frame_rate=rate, cell_ids=ids + 1000)
spikes = dict(stimulus=u, stimulus_offset=100.0, stimulus_scale=100.0, spike_times=times, spike_cells=cells,
              frame_times=frames, frame_rate=np.int64(rate), cell_ids=ids)
np.savez(d + '/spikes.npz', **spikes)
scipy.io.savemat(d + '/spikes.mat', dict(spikes, spike_cells=cells.astype(float), cell_ids=ids.astype(float)), do_compression=True)
np.savez(d + '/flag.npz', stimulus=u, counts=counts.astype(np.int32), frame_rate=rate, cell_ids=ids)
np.save(d + '/movie.npy', u)
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var want []float32
	for _, c := range []struct{ data, flag string }{{"ref.npz", ""}, {"spikes.npz", ""}, {"spikes.mat", ""}, {"flag.npz", "100,100"}} {
		model := p(c.data + ".rtm")
		args := []string{"fit", "ln", "--data", p(c.data), "--out", model, "--quiet", "--history", "10", "--roi", "7", "--folds", "2", "--workers", "1"}
		if c.flag != "" {
			args = append(args, "--stimulus-scale", c.flag)
		}
		if code, out, errs := run(t, args...); code != 0 {
			t.Fatalf("fit ln %s: exit %d\n%s%s", c.data, code, out, errs)
		}
		rates := p(c.data + ".rates.npy")
		if code, _, errs := run(t, "predict", "--model", model, "--stimulus", p("movie.npy"), "--stimulus-scale", "100,100", "--out", rates); code != 0 {
			t.Fatalf("predict with the model fitted on %s: exit %d: %s", c.data, code, errs)
		}
		got, shape, err := enginetest.ReadNpy(rates)
		if err != nil || shape[0] != 3000 || shape[1] != 4 {
			t.Fatalf("%s: rates %v %v", c.data, shape, err)
		}
		if want == nil {
			if n := countPositive(got); n < len(got)/2 {
				t.Fatalf("%s: only %d of %d rates are positive numbers", c.data, n, len(got))
			}
			want = got
		} else if !reflect.DeepEqual(nanToZero(got), nanToZero(want)) {
			t.Errorf("the LN fitted on %s predicts differently from the one fitted on ref.npz", c.data)
		}
	}

	if code, out, errs := run(t, "fit", "glm", "--data", p("spikes.mat"), "--out", p("glm.rtm"), "--quiet", "--history", "10", "--roi", "7", "--folds", "2"); code != 0 {
		t.Fatalf("fit glm: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := run(t, "model", "export", p("glm.rtm"), "--out", p("glm.onnx")); code != 0 || !strings.Contains(out, "glm model") {
		t.Fatalf("model export: exit %d\n%s%s", code, out, errs)
	}
	var glm [2][]float32
	for i, model := range []string{p("glm.rtm"), p("glm.onnx")} {
		if code, _, errs := run(t, "predict", "--model", model, "--stimulus", p("spikes.mat"), "--out", p("glm.rates.npy")); code != 0 {
			t.Fatalf("predict %s: exit %d: %s", model, code, errs)
		}
		glm[i], _, _ = enginetest.ReadNpy(p("glm.rates.npy"))
	}
	if n := countPositive(glm[0]); n < len(glm[0])/2 {
		t.Fatalf("glm: only %d of %d rates are positive numbers", n, len(glm[0]))
	}
	if worst := relDiff(glm[0], glm[1]); worst > 1e-6 {
		t.Errorf("the exported GLM predicts %.2g relative away from the native one, want <= 1e-6", worst)
	}
	// --observed: the GLM's spike history is the recording's (matched by cell id, whatever the
	// file's order of cells), as the daemon's observed mode has it, not its own mean counts.
	var observed [2][]float32
	for i, data := range []string{p("spikes.mat"), p("ref_reversed.npz")} {
		if code, _, errs := run(t, "predict", "--model", p("glm.rtm"), "--stimulus", data, "--observed", "--out", p("glm.observed.npy")); code != 0 {
			t.Fatalf("predict --observed %s: exit %d: %s", data, code, errs)
		}
		observed[i], _, _ = enginetest.ReadNpy(p("glm.observed.npy"))
	}
	if n := countPositive(observed[0]); n < len(observed[0])/2 {
		t.Fatalf("glm --observed: only %d of %d rates are positive numbers", n, len(observed[0]))
	}
	if worst := relDiff(observed[0], observed[1]); worst != 0 {
		t.Errorf("glm --observed: the cells of ref_reversed.npz, in reverse order, give rates %.2g relative away from spikes.mat's", worst)
	}
	if code, _, errs := run(t, "predict", "--model", p("glm.rtm"), "--stimulus", p("other_cells.npz"), "--observed", "--out", p("x.npy")); code == 0 || !strings.Contains(errs, "other_cells.npz has no counts of cell") {
		t.Errorf("predict --observed on a recording of other cells: exit %d, %s", code, errs)
	}
	if relDiff(observed[0], glm[0]) == 0 {
		t.Errorf("glm --observed predicts exactly what it does on its own counts: the recorded spikes were not fed")
	}
}

// nanToZero copies v with NaN (the rows before a full history) as 0, for comparing.
func nanToZero(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		if x == x {
			out[i] = x
		}
	}
	return out
}

// countPositive is the number of values > 0 (NaN is not).
func countPositive(v []float32) int {
	n := 0
	for _, x := range v {
		if x > 0 {
			n++
		}
	}
	return n
}
