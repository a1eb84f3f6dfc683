//go:build cgo

package dataset

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadHDF5 reads mutated HDF5 datasets: an error or a dataset, never a crash. libhdf5
// parses the file; this checks the reader around it, and whatever of libhdf5 it reaches.
func FuzzReadHDF5(f *testing.F) {
	dir := f.TempDir()
	d := small()
	path := filepath.Join(dir, "seed.mat")
	if err := WriteMAT(path, d); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, uint16(600), byte(1))
	f.Fuzz(func(t *testing.T, file []byte, at uint16, x byte) {
		if len(file) > 0 {
			file[int(at)%len(file)] ^= x
		}
		p := filepath.Join(t.TempDir(), "f.h5")
		if err := os.WriteFile(p, file, 0o644); err != nil {
			t.Fatal(err)
		}
		if d, err := Read(p); err == nil {
			if err := d.Check(p); err != nil {
				t.Fatalf("Read returned a dataset that fails Check: %v", err)
			}
		}
	})
}
