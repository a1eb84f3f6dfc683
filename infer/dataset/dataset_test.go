package dataset

import (
	"archive/zip"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer/npy"
)

func small() *Dataset {
	d := &Dataset{T: 5, H: 2, W: 3, C: 2, FrameRate: 120, CellIDs: []int64{7, 9}}
	d.Stimulus = make([]float32, d.T*d.H*d.W)
	for i := range d.Stimulus {
		d.Stimulus[i] = float32(i)*0.5 - 3
	}
	d.Counts = []float32{0, 1, 2, 0, 0, 0, 1, 3, 0, 0}
	return d
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.npz")
	want := small()
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.T != want.T || got.H != want.H || got.W != want.W || got.C != want.C || got.FrameRate != want.FrameRate {
		t.Fatalf("shape: got %+v", got)
	}
	for i := range want.Stimulus {
		if got.Stimulus[i] != want.Stimulus[i] {
			t.Fatalf("stimulus[%d] = %v, want %v", i, got.Stimulus[i], want.Stimulus[i])
		}
	}
	for i := range want.Counts {
		if got.Counts[i] != want.Counts[i] {
			t.Fatalf("counts[%d] = %v, want %v", i, got.Counts[i], want.Counts[i])
		}
	}
	if got.CellIDs[0] != 7 || got.CellIDs[1] != 9 {
		t.Fatalf("cell_ids = %v", got.CellIDs)
	}
	if s := got.SilentCells(0, 2); len(s) != 0 {
		t.Errorf("SilentCells(0,2) = %v, want none", s)
	}
	if s := got.SilentCells(4, 5); len(s) != 2 {
		t.Errorf("SilentCells(4,5) = %v, want both", s)
	}
}

// writeRaw writes an .npz holding the given npy entries (name -> header dtype, shape, body).
type entry struct {
	dtype string
	shape []int
	body  []byte
}

func writeRaw(t *testing.T, entries map[string]entry) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, e := range entries {
		w, err := zw.Create(name + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(npy.AppendHeader(nil, e.dtype, e.shape))
		w.Write(e.body)
	}
	zw.Close()
	path := filepath.Join(t.TempDir(), "bad.npz")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func f32(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		bits := math.Float32bits(x)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
	return b
}

func f64(x float64) []byte {
	bits := math.Float64bits(x)
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(bits >> (8 * i))
	}
	return b
}

func TestBadDatasets(t *testing.T) {
	nan := float32(math.NaN())
	good := func() map[string]entry {
		return map[string]entry{
			"stimulus":   {"<f4", []int{3, 1, 1}, f32(1, -1, 1)},
			"counts":     {"<f4", []int{3, 2}, f32(0, 1, 1, 0, 2, 1)},
			"frame_rate": {"<f8", nil, f64(100)},
		}
	}
	cases := []struct {
		name  string
		edit  func(m map[string]entry)
		wants []string
	}{
		{"missing counts", func(m map[string]entry) { delete(m, "counts") }, []string{`array "counts" missing`, "float32 [T,C]"}},
		{"missing frame_rate", func(m map[string]entry) { delete(m, "frame_rate") }, []string{`"frame_rate" missing`}},
		{"mismatched lengths", func(m map[string]entry) { m["counts"] = entry{"<f4", []int{2, 2}, f32(0, 1, 1, 0)} }, []string{"counts: 2 bins but stimulus has 3 frames"}},
		{"stimulus rank", func(m map[string]entry) { m["stimulus"] = entry{"<f4", []int{3}, f32(1, 2, 3)} }, []string{"stimulus: shape [3], want [T,H,W]"}},
		{"nan stimulus", func(m map[string]entry) { m["stimulus"] = entry{"<f4", []int{3, 1, 1}, f32(1, nan, 1)} }, []string{"stimulus: NaN at frame 1"}},
		{"nan count", func(m map[string]entry) { m["counts"] = entry{"<f4", []int{3, 2}, f32(0, 1, 1, nan, 2, 1)} }, []string{"counts: NaN at bin 1 for cell 1 (id 1)"}},
		{"negative count", func(m map[string]entry) { m["counts"] = entry{"<f4", []int{3, 2}, f32(0, 1, 1, 0, -2, 1)} }, []string{"counts: -2 at bin 2 for cell 0"}},
		{"wrong dtype", func(m map[string]entry) { m["counts"] = entry{"<c8", []int{3, 2}, make([]byte, 48)} }, []string{"counts: unsupported dtype", "<c8"}},
		{"truncated", func(m map[string]entry) { m["counts"] = entry{"<f4", []int{3, 2}, f32(0, 1, 1)} }, []string{"counts: truncated"}},
		{"bytes after the data", func(m map[string]entry) { m["counts"] = entry{"<f4", []int{3, 2}, f32(0, 1, 1, 0, 2, 1, 7)} }, []string{"counts: 4 bytes after the 6 elements of shape [3 2]"}},
		{"zero frame rate", func(m map[string]entry) { m["frame_rate"] = entry{"<f8", nil, f64(0)} }, []string{"frame_rate: 0"}},
		{"cell ids length", func(m map[string]entry) { m["cell_ids"] = entry{"<i8", []int{3}, make([]byte, 24)} }, []string{"cell_ids: shape [3], want [2]"}},
		{"duplicate ids", func(m map[string]entry) { m["cell_ids"] = entry{"<i8", []int{2}, make([]byte, 16)} }, []string{"cell_ids: id 0 used by cells 0 and 1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := good()
			c.edit(m)
			path := writeRaw(t, m)
			_, err := Read(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "dataset: "+path+": ") {
				t.Errorf("error %q does not start with the package and file", msg)
			}
			for _, w := range c.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
	if _, err := Read(writeRaw(t, good())); err != nil {
		t.Fatalf("the good dataset: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	path := filepath.Join(f.TempDir(), "d.npz")
	if err := Write(path, small()); err != nil {
		f.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	b.Write(raw)
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:len(raw)/2])
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(bytes.NewReader(data), int64(len(data)), "fuzz.npz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dataset: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		if err := d.Check("fuzz.npz"); err != nil {
			t.Fatalf("Decode accepted a dataset that Check refuses: %v", err)
		}
	})
}

// TestFlippedByteIsCorrupt: a byte flipped inside an entry of a stored (uncompressed) .npz is
// found by its CRC-32 (Python's zipfile says "Bad CRC-32"); archive/zip only checks it when an
// entry is read to its end, which Read now always does.
func TestFlippedByteIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.npz")
	if err := Write(path, small()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte("stimulus.npy")) + len("stimulus.npy") + 128 + 2 // a data byte
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() error{
		"Read":         func() error { _, err := Read(path); return err },
		"ReadStimulus": func() error { _, _, _, _, err := ReadStimulus(path); return err },
	} {
		if err := read(); err == nil || !strings.Contains(err.Error(), "stimulus: corrupt: zip: checksum error") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s of a flipped byte: %v, want a checksum error naming the file", name, err)
		}
	}
}
