//go:build cgo

package hdf5

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRoundTrip writes every supported kind of dataset and attribute, reads the numbers back
// converted to other types, and has h5py read the file too.
func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.h5")
	f, err := Create(path, CreateOptions{Userblock: 512})
	if err != nil {
		t.Fatal(err)
	}
	root := f.Root()
	g, err := root.CreateGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	big := make([]uint8, 40*50*50) // chunked and compressed
	for i := range big {
		big[i] = uint8(i * 7)
	}
	must := func(d *Dataset, err error) *Dataset {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	must(g.Write("movie", big, 40, 50, 50))
	d := must(g.Write("f32", []float32{1.5, -2, 3}))
	if err := d.SetAttr("unit", "seconds"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetAttr("interval", int32(1)); err != nil {
		t.Fatal(err)
	}
	if err := d.SetAttr("target", Ref("/g/movie")); err != nil {
		t.Fatal(err)
	}
	if err := d.SetAttr("MATLAB_class", ASCII("single")); err != nil {
		t.Fatal(err)
	}
	if err := g.SetAttr("colnames", []string{"a", "bé"}); err != nil {
		t.Fatal(err)
	}
	must(g.Write("i64", []int64{-1, 1 << 40}, 2, 1))
	must(g.Write("empty", []float64{}))
	must(g.Write("text", []string{"x", "", "ü"}))
	must(root.WriteScalar("id", "session-1"))
	must(root.WriteScalar("rate", 100.0))
	if names, err := root.Names(); err != nil || !slices.Equal(names, []string{"g", "id", "rate"}) {
		t.Errorf("root names %q, %v", names, err)
	}
	if _, err := g.Write("bad", []float32{1, 2}, 3); err == nil || !strings.Contains(err.Error(), "/g/bad") {
		t.Errorf("2 values for shape [3]: err %v, want one naming /g/bad", err)
	}
	if _, err := g.Write("movie", []float32{1}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("second /g/movie: err %v, want one naming the file", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	f, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Root().OpenDataset("g/movie")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Shape(); !slices.Equal(s, []int{40, 50, 50}) {
		t.Errorf("movie shape %v", s)
	}
	if c, size, _ := m.Type(); c != Uint || size != 1 {
		t.Errorf("movie type %v %d, want uint 1", c, size)
	}
	asFloat := make([]float32, len(big))
	if err := m.Read(asFloat); err != nil {
		t.Fatal(err)
	}
	for i, v := range asFloat {
		if v != float32(big[i]) {
			t.Fatalf("movie[%d] = %v, want %d", i, v, big[i])
		}
	}
	if err := m.Read(make([]float32, 3)); err == nil || !strings.Contains(err.Error(), "/g/movie") {
		t.Errorf("short destination: err %v", err)
	}
	i64 := make([]float64, 2)
	if err := must(f.Root().OpenDataset("/g/i64")).Read(i64); err != nil || i64[1] != 1<<40 {
		t.Errorf("i64 as float64: %v, %v", i64, err)
	}
	f32 := must(f.Root().OpenDataset("/g/f32"))
	if s, err := f32.AttrString("MATLAB_class"); s != "single" || err != nil {
		t.Errorf("MATLAB_class %q, %v", s, err)
	}
	if s, err := f32.AttrString("unit"); s != "seconds" || err != nil {
		t.Errorf("unit %q, %v", s, err)
	}
	if _, err := f.Root().OpenDataset("nope"); err == nil || !strings.Contains(err.Error(), "/nope") {
		t.Errorf("missing dataset: err %v", err)
	}

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", `
import h5py, sys
f = h5py.File(sys.argv[1], "r")
g = f["g"]
print(g["movie"].shape, g["movie"].compression, g["movie"][1, 2, 3])
d = g["f32"]
print(list(d[:]), d.attrs["unit"], d.attrs["interval"], f[d.attrs["target"]].name, d.attrs["MATLAB_class"])
print(list(g.attrs["colnames"]), g["i64"].shape, g["empty"].shape, [s.decode() for s in g["text"][:]])
print(f["id"][()].decode(), f["rate"][()], f.userblock_size)
`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("h5py: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		"(40, 50, 50) gzip " + strconv.Itoa(int(big[1*2500+2*50+3])),
		"[1.5, -2.0, 3.0] seconds 1 /g/movie b'single'",
		"['a', 'bé'] (2, 1) (0,) ['x', '', 'ü']",
		"session-1 100.0 512", ""}, "\n")
	if string(out) != want {
		t.Errorf("h5py read\n%s\nwant\n%s", out, want)
	}
}

func TestOpenNotHDF5(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npz")
	if err := os.WriteFile(path, []byte("PK\x03\x04 not hdf5"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || err.Error() != "hdf5: "+path+": not an HDF5 file" {
		t.Errorf("err %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none.h5")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err %v", err)
	}
}

// TestNumelRefusesWhatTheFileCannotHold: a dataset whose shape promises far more than its
// storage (here h5py's 4 GB dataset never written, as a corrupt shape would) is refused
// before anyone allocates for it; one that fits is counted.
func TestNumelRefusesWhatTheFileCannotHold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.h5")
	py := `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("huge", shape=(10**9,), dtype="f4", chunks=(1 << 16,))
    f["small"] = np.arange(6, dtype=np.int16).reshape(2, 3)
`
	if out, err := exec.Command("/usr/bin/python3", "-c", py, path).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	huge, err := f.Root().OpenDataset("huge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := huge.Numel(); err == nil || !strings.Contains(err.Error(), path+": /huge: shape [1000000000] (4000000000 bytes) in 0 bytes of storage") {
		t.Errorf("huge: %v", err)
	}
	small, err := f.Root().OpenDataset("small")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := small.Numel(); n != 6 || err != nil {
		t.Errorf("small: %d, %v", n, err)
	}
}

// TestWriteRows fills a created dataset in slabs (converting int16 to the file's float64) and
// refuses a slab that is not whole rows or runs past the end.
func TestWriteRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.h5")
	f, err := Create(path, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := f.Root().Create("m", []float64(nil), 3, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteRows(0, []int16{0, 1, 2, 3, 4, 5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteRows(2, []int16{8, 9, 10, 11}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		first int
		data  []int16
	}{{0, []int16{1, 2, 3}}, {2, make([]int16, 8)}, {-1, make([]int16, 4)}} {
		if err := d.WriteRows(bad.first, bad.data); err == nil || !strings.Contains(err.Error(), "/m: ") {
			t.Errorf("WriteRows(%d, %d values): %v", bad.first, len(bad.data), err)
		}
	}
	got := make([]float64, 12)
	if err := d.Read(got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Errorf("read %v", got)
	}
	if _, err := f.Root().Create("s", []string(nil), 3); err == nil {
		t.Errorf("a string dataset to fill by rows: no error")
	}
}
