//go:build cgo

package dataset

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// labFiles writes testdata/lab_files.py's three files of one recording into a new folder.
func labFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("/usr/bin/python3", "testdata/lab_files.py", dir).CombinedOutput(); err != nil {
		t.Fatalf("lab_files.py: %v\n%s", err, out)
	}
	return dir
}

func sameDataset(t *testing.T, name string, got, want *Dataset) {
	t.Helper()
	switch {
	case got.T != want.T || got.H != want.H || got.W != want.W || got.C != want.C:
		t.Errorf("%s: T H W C %d %d %d %d, want %d %d %d %d", name, got.T, got.H, got.W, got.C, want.T, want.H, want.W, want.C)
	case !slices.Equal(got.Stimulus, want.Stimulus):
		t.Errorf("%s: stimulus differs", name)
	case !slices.Equal(got.Counts, want.Counts):
		t.Errorf("%s: counts differ", name)
	case got.FrameRate != want.FrameRate || !slices.Equal(got.CellIDs, want.CellIDs):
		t.Errorf("%s: frame rate %v ids %v, want %v %v", name, got.FrameRate, got.CellIDs, want.FrameRate, want.CellIDs)
	}
}

// TestLabFiles: the HDF5 file (uint8 movie, spike times binned on frame times) and the MATLAB
// v7.3 file (column-major, double counts, ids as a row) read as the same dataset as the .npz.
func TestLabFiles(t *testing.T) {
	dir := labFiles(t)
	want, err := Read(filepath.Join(dir, "lab.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if want.Spikes(0, 0, want.T) == 0 || want.Stimulus[0] == want.Stimulus[1] {
		t.Fatalf("the .npz is degenerate")
	}
	for _, name := range []string{"lab.h5", "lab.mat"} {
		got, err := Read(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sameDataset(t, name, got, want)
		movie, T, H, W, err := ReadStimulus(filepath.Join(dir, name))
		if err != nil || T != want.T || H != want.H || W != want.W || !slices.Equal(movie, want.Stimulus) {
			t.Errorf("ReadStimulus %s: %dx%dx%d, %v", name, T, H, W, err)
		}
	}
}

// TestHDF5Read: an HDF5 file without frame_rate is refused for that (not for being HDF5), and
// its stimulus alone is a movie for ReadStimulus.
func TestHDF5Read(t *testing.T) {
	dir := t.TempDir()
	script := `
import sys, numpy as np, h5py
with h5py.File(sys.argv[1] + "/d.h5", "w") as f:
    f["stimulus"] = np.zeros((3, 2, 2), np.float32)
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	h5 := filepath.Join(dir, "d.h5")
	if _, err := Read(h5); err == nil || !strings.Contains(err.Error(), h5+`: array "frame_rate" missing (has stimulus)`) {
		t.Errorf("Read d.h5: %v", err)
	}
	if _, T, H, W, err := ReadStimulus(h5); err != nil || T != 3 || H != 2 || W != 2 {
		t.Errorf("ReadStimulus d.h5: %dx%dx%d, %v", T, H, W, err)
	}
}

// TestHDF5Refused: HDF5 files (and MATLAB v7.3 ones) that are not datasets are refused naming
// the file, the array and what it should be.
func TestHDF5Refused(t *testing.T) {
	dir := t.TempDir()
	script := `
import sys, numpy as np, h5py
d = sys.argv[1]
def w(name, **arrays):
    with h5py.File(d + "/" + name + ".h5", "w") as f:
        for k, v in arrays.items():
            f[k] = v
m = np.zeros((4, 2, 2), np.uint8)
w("nocounts", stimulus=m, frame_rate=100)
w("flat", stimulus=np.zeros((4, 2)), counts=np.zeros((4, 1)), frame_rate=100)
w("text", stimulus=np.array([b"a", b"b"]), frame_rate=100)
w("stranger", stimulus=m, frame_rate=100, spike_times=[0.1], spike_cells=[5], frame_times=[0, .01, .02, .03], cell_ids=[1, 2])
w("backwards", stimulus=m, frame_rate=100, spike_times=[0.1], spike_cells=[5], frame_times=[0, .01, .005, .03])
w("short", stimulus=m, frame_rate=100, spike_times=[0.1, 0.2], spike_cells=[5], frame_times=[0, .01, .02, .03])
w("rows", stimulus=m, frame_rate=100, counts=np.zeros((3, 2)))
with h5py.File(d + "/group.h5", "w") as f:
    f.create_group("stimulus").create_dataset("data", data=m)
    f["frame_rate"] = 100
w("half", stimulus=m, frame_rate=100, counts=np.zeros((4, 2)), cell_ids=[1, 4.5])
w("nan", stimulus=m.astype(np.float32) * np.nan, frame_rate=100, counts=np.zeros((4, 2)))
def mat(name, **arrays):  # MATLAB v7.3: column-major, MATLAB_class, MATLAB's header
    with h5py.File(d + "/" + name + ".h5", "w", userblock_size=512) as f:
        for k, (v, cls) in arrays.items():
            f[k] = np.asarray(v).T
            f[k].attrs["MATLAB_class"] = np.bytes_(cls)
    with open(d + "/" + name + ".h5", "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8 + b"\x00\x02IM")
mat("mathalf", stimulus=(m, "uint8"), frame_rate=([[100.0]], "double"), counts=(np.zeros((4, 2)), "double"), cell_ids=([[1.0, 4.5]], "double"))
mat("matcell", stimulus=(np.zeros((4, 2), np.uint64), "cell"), frame_rate=([[100.0]], "double"))
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for name, want := range map[string]string{
		"nocounts":  `array "counts" missing (has frame_rate, stimulus); want float32 [T,C] spike counts (or float64 or integers), or spike_times and spike_cells`,
		"flat":      "stimulus: shape [4 2], want [T,H,W]",
		"text":      "stimulus: string elements, want numbers",
		"stranger":  "spike_cells: id 5 at spike 0 is not in cell_ids [1 2]",
		"backwards": "frame_times: 0.005 at frame 2, want finite times in seconds, strictly increasing",
		"short":     "spike_cells: shape [1], want [2]",
		"rows":      "counts: 3 bins but stimulus has 4 frames",
		"group":     "stimulus: a group, want an array (retinad reads the datasets at the file's root)",
		"nan":       "stimulus: NaN at frame 0, pixel (0,0)",
		"half":      "cell_ids: float64 elements, want integers",
		"mathalf":   "cell_ids: 4.5 at element 1 (column-major), want whole numbers",
		"matcell":   "stimulus: a MATLAB cell, want a numeric array",
	} {
		path := filepath.Join(dir, name+".h5")
		_, err := Read(path)
		if err == nil || !strings.HasPrefix(err.Error(), "dataset: "+path+": ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v\nwant %q", name, err, want)
		}
	}
}

// FuzzBinSpikes: any spike times, cells and frame times bin without a panic (every container's
// spike times go through binSpikes), every spike inside the bins is counted once, and none
// outside.
func FuzzBinSpikes(f *testing.F) {
	f.Add(0.0, 0.01, 0.5, 0.015, int64(3), 0.2, int64(4), uint8(4))
	f.Fuzz(func(t *testing.T, t0, dt, jitter, s1 float64, c1 int64, s2 float64, c2 int64, n uint8) {
		T := int(n%16) + 1
		start := make([]float64, T)
		for i := range start {
			start[i] = t0 + float64(i)*dt + jitter*dt*float64(i%2)/2
		}
		times, cells := []float64{s1, s2}, []int64{c1, c2}
		ids := slices.Compact(slices.Sorted(slices.Values(cells)))
		counts, err := binSpikes(times, cells, start, 100, ids)
		if err != nil {
			return // bad frame or spike times, refused
		}
		end := start[T-1] + 0.01
		inside := 0
		for _, s := range times {
			if s >= start[0] && s < end {
				inside++
			}
		}
		var total float32
		for _, c := range counts {
			total += c
		}
		if int(total) != inside || len(counts) != T*len(ids) {
			t.Fatalf("counted %v of %d spikes inside [%v, %v) over %d bins, %d cells", total, inside, start[0], end, T, len(ids))
		}
	})
}
