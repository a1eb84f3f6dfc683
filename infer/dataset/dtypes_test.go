package dataset

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"retinad/internal/testenv"
)

// TestIntegerArrays: numpy's own .npz with a uint8 movie, int64 counts and an integer frame
// rate reads as the float dataset with the stated scaling (uint8 v -> (v - 127.5) / 127.5),
// and a uint16 .npy movie and an int8 one through ReadStimulus likewise.
func TestIntegerArrays(t *testing.T) {
	testenv.Path(t, "/usr/bin/python3 with numpy (scripts/setup)", "/usr/bin/python3")
	dir := t.TempDir()
	script := `
import sys, numpy as np
d = sys.argv[1]
movie = np.array([0, 255, 128, 64, 1, 254], np.uint8).reshape(3, 1, 2)
np.savez(d + "/ints.npz", stimulus=movie, counts=np.array([[0, 2], [1, 0], [3, 1]], np.int64), frame_rate=60)
np.save(d + "/u16.npy", np.array([0, 65535, 32768], np.uint16).reshape(3, 1, 1))
np.save(d + "/i8.npy", np.array([-1, 0, 1], np.int8).reshape(3, 1, 1))
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	d, err := Read(filepath.Join(dir, "ints.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if d.FrameRate != 60 || d.T != 3 || d.C != 2 {
		t.Errorf("frame rate %v, %d frames, %d cells; want 60, 3, 2", d.FrameRate, d.T, d.C)
	}
	for i, v := range []uint8{0, 255, 128, 64, 1, 254} {
		if want := float32((float64(v) - 127.5) / 127.5); d.Stimulus[i] != want {
			t.Errorf("stimulus[%d] = %v, want %v (uint8 %d)", i, d.Stimulus[i], want, v)
		}
	}
	for i, want := range []float32{0, 2, 1, 0, 3, 1} {
		if d.Counts[i] != want {
			t.Errorf("counts[%d] = %v, want %v", i, d.Counts[i], want)
		}
	}
	for file, want := range map[string][]float32{"u16.npy": {-1, 1, float32(0.5 / 32767.5)}, "i8.npy": {-1, 0, 1}} {
		s, _, _, _, err := ReadStimulus(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if s[i] != want[i] {
				t.Errorf("%s: stimulus[%d] = %v, want %v", file, i, s[i], want[i])
			}
		}
	}
}

// TestOtherFormatsNamed: a file no registered container reads is refused by Read naming the
// containers there are and, for a kind labs keep data in, what it is and how to convert it: a
// lone .npy given as a dataset. (With cgo HDF5 is read, hdf5_test.go; without, the refusal
// names it the same way, otherFormat.)
func TestOtherFormatsNamed(t *testing.T) {
	testenv.Path(t, "/usr/bin/python3 with numpy (scripts/setup)", "/usr/bin/python3")
	dir := t.TempDir()
	script := `
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/d.npy", np.zeros((3, 2, 2), np.float32))
open(d + "/d.txt", "w").write("stimulus,counts\n")
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for file, want := range map[string]string{"d.npy": " (it is a single .npy array: a dataset needs stimulus, counts and frame_rate together, numpy.savez)", "d.txt": ")"} {
		path := filepath.Join(dir, file)
		_, err := Read(path)
		if err == nil || !strings.Contains(err.Error(), path+": not a dataset file retinad reads (it reads ") || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("Read %s: %v", file, err)
		}
	}
}
