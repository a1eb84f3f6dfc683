//go:build !cgo

package dataset

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHDF5NamedWithoutCgo: a build without cgo registers no HDF5 container, so an HDF5 file
// (written by h5py) is refused saying what it is and how to convert it, by Read and by
// ReadStimulus.
func TestHDF5NamedWithoutCgo(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 with h5py to write the file")
	}
	dir := t.TempDir()
	script := `
import sys, numpy as np, h5py
with h5py.File(sys.argv[1] + "/d.h5", "w") as f:
    f["stimulus"] = np.zeros((3, 2, 2), np.float32)
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "d.h5")
	want := path + ": not a dataset file retinad reads (it reads MATLAB v5 .mat, npz) (it is HDF5, which this build does not read: write stimulus, counts and frame_rate with numpy.savez)"
	if _, err := Read(path); err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Read: %v\nwant ...%s", err, want)
	}
	if _, _, _, _, err := ReadStimulus(path); err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("ReadStimulus: %v\nwant ...%s", err, want)
	}
}
