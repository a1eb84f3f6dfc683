//go:build cgo

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer/dataset"
)

// TestExportNWBAndMAT records a session with the real binary on the simulated rig (LN model,
// one mark made over control), exports it with `retinad export` to .npz, to NWB (--format
// nwb) and to MATLAB (a .mat, the format taken from the extension), and holds the two to the
// .npz: acquisition/testdata/nwb_check.py validates the NWB file against the NWB 2.6.0 schema
// with hdmf and compares stimulus, frame times, spike times, predictions, events and config
// with h5py; infer/dataset/testdata/mat_check.py compares every array of the .mat. Then
// `retinad fit ln` on the .mat and on the .npz writes the same model file.
func TestExportNWBAndMAT(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	cfg := writeE2EConfig(t, dir, "natural.yaml", filepath.Join(dir, "rec"), nil)
	d := startDaemon(t, bin, cfg, "lab")
	w := watch(t, d.url)
	w.waitFrames(t, "lab", 100)
	control(t, bin, d.url, "mark", "flash", "the first mark")
	w.waitFrames(t, "lab", 400)
	d.stop(t)
	w.close()

	npz, nwb, mat := filepath.Join(dir, "lab.npz"), filepath.Join(dir, "lab.h5"), filepath.Join(dir, "lab.mat")
	for _, args := range [][]string{{"--out", npz}, {"--out", nwb, "--format", "nwb"}, {"--out", mat}} {
		args = append([]string{"export", "--config", cfg, "--session", "lab"}, args...)
		if out, stderr, err := retinad(bin, args...); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, stderr)
		}
	}
	ds, err := dataset.Read(npz)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := exec.Command("/usr/bin/python3", "-c", `import sys, numpy; print(numpy.load(sys.argv[1])["event_label"].tolist())`, npz).CombinedOutput()
	if err != nil || strings.TrimSpace(string(labels)) != "['flash']" {
		t.Errorf("the export's marks: %s %v, want ['flash']", labels, err)
	}
	if ds.Spikes(0, 0, ds.T) == 0 || ds.T < 300 {
		t.Fatalf("a session of %d bins with %v spikes of cell 0: too little to compare", ds.T, ds.Spikes(0, 0, ds.T))
	}
	for _, check := range [][]string{
		{"../../acquisition/testdata/nwb_check.py", nwb, npz},
		{"../../infer/dataset/testdata/mat_check.py", mat, npz},
	} {
		out, err := exec.Command("/usr/bin/python3", check...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("%s: %v\n%s", filepath.Base(check[0]), err, out)
		}
	}
	sameFit(t, dir, npz, mat)
}

// TestFitLabFiles: testdata/lab_files.py's recording as an HDF5 file (uint8 movie, spike
// times) and as a MATLAB v7.3 file give `retinad fit ln` the same model as the .npz, and
// `retinad predict` the same rates from their movies.
func TestFitLabFiles(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("/usr/bin/python3", "../../infer/dataset/testdata/lab_files.py", dir, "3000", "8", "8").CombinedOutput(); err != nil {
		t.Fatalf("lab_files.py: %v\n%s", err, out)
	}
	files := []string{filepath.Join(dir, "lab.npz"), filepath.Join(dir, "lab.h5"), filepath.Join(dir, "lab.mat")}
	sameFit(t, dir, files...)
	var first []byte
	for _, stim := range files {
		out := stim + ".rates.npy"
		if code, _, errs := run(t, "predict", "--model", files[0]+".model", "--stimulus", stim, "--out", out); code != 0 {
			t.Fatalf("predict --stimulus %s: exit %d\n%s", stim, code, errs)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Errorf("predict --stimulus %s: rates that differ from the .npz's", filepath.Base(stim))
		}
	}
}

// sameFit fits an LN model to each file with `retinad fit ln` and wants the same model file.
func sameFit(t *testing.T, dir string, files ...string) {
	t.Helper()
	var first []byte
	for i, data := range files {
		model := filepath.Join(dir, filepath.Base(data)+".model")
		if code, _, errs := run(t, "fit", "ln", "--data", data, "--out", model, "--history", "10", "--quiet"); code != 0 {
			t.Fatalf("fit ln --data %s: exit %d\n%s", data, code, errs)
		}
		b, err := os.ReadFile(model)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Errorf("fit ln on %s: a model file that differs from %s's", filepath.Base(data), filepath.Base(files[0]))
		}
	}
}

// TestExportFormatFlag: an unknown --format, or an --out extension that does not say one, is a
// usage error before anything is read.
func TestExportFormatFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", "x.nwb", "--format", "xls"}, `--format "xls": want npz, nwb or mat`},
		{[]string{"--out", "x.h5"}, "--out x.h5: say which format with --format npz, nwb or mat"},
	} {
		code, _, errs := run(t, append([]string{"export", "--session", "s"}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("export %v: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
}
