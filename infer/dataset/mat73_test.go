//go:build cgo

package dataset

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteMAT writes a dataset with every kind of extra array as a .mat, reads it back, and has
// h5py check MATLAB's layout: the header, MATLAB_class, the dimensions reversed and the data
// column-major, char matrices, empty arrays.
func TestWriteMAT(t *testing.T) {
	d := small()
	d.Extra = []Array{
		{Name: "pred_ln-2", Shape: []int{d.T, 2}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{Name: "event_label", Shape: []int{2}, Data: []string{"go", "stimulus ü"}},
		{Name: "event_host_ns", Shape: []int{0}, Data: []int64{}},
		{Name: "frame_confirmed", Shape: []int{3}, Data: []uint8{1, 0, 1}},
		{Name: "session", Data: []string{"s1"}},
	}
	path := filepath.Join(t.TempDir(), "d.mat")
	if err := WriteMAT(path, d); err != nil {
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	sameDataset(t, "d.mat", back, d)
	out, err := exec.Command("/usr/bin/python3", "-c", `
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
print(open(sys.argv[1], "rb").read(128)[116:].hex(), f.userblock_size)
s = f["stimulus"]
print(s.attrs["MATLAB_class"].decode(), s.shape, s[:].T.reshape(-1).tolist()[:7])
p = f["pred_ln_2"]
print(p.attrs["MATLAB_class"].decode(), p.shape, p[:].T.tolist())
e = f["event_label"]
print(e.attrs["MATLAB_class"].decode(), e.attrs["MATLAB_int_decode"], ["".join(map(chr, r)).rstrip() for r in e[:].T])
print(f["event_host_ns"].attrs["MATLAB_empty"], f["event_host_ns"][:].tolist(), f["frame_rate"][:].tolist())
print(f["frame_confirmed"].shape, f["frame_confirmed"].attrs["MATLAB_class"].decode(), "".join(map(chr, f["session"][:].ravel())))
`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("h5py: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		"00000000000000000002494d 512",
		"single (3, 2, 5) [-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0]",
		"single (2, 5) [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]",
		"char 2 ['go', 'stimulus ü']",
		"1 [0, 1] [[120.0]]",
		"(1, 3) uint8 s1", ""}, "\n")
	if string(out) != want {
		t.Errorf("h5py read\n%s\nwant\n%s", out, want)
	}
	head, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(head), "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: ") {
		t.Errorf("header %q", head[:116])
	}
}
