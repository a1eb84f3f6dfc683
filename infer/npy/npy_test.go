package npy

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// numpy writes one file per dtype, both byte orders and both orders of axes, of the values
// 0..5 in shape (2,3); every one must read back as [[0 1 2] [3 4 5]].
func TestNumpyFiles(t *testing.T) {
	dir := t.TempDir()
	script := `
import numpy as np, sys
d = sys.argv[1]
v = np.arange(6).reshape(2, 3)
for t in ['<f4','>f4','<f8','>f8','|u1','|i1','<u2','>u2','<i2','<u4','<i4','>i4','<u8','<i8','>i8']:
    np.save(f'{d}/{t[1:]}{"be" if t[0]==">" else ""}.npy', v.astype(t))
    np.save(f'{d}/{t[1:]}{"be" if t[0]==">" else ""}F.npy', np.asfortranarray(v.astype(t)))
np.save(f'{d}/b1.npy', np.array([[0,1,1],[1,0,1]], dtype=bool))
np.savez(f'{d}/s.npz', a=v.astype('<f4'), scalar=np.float64(2.5))
np.savez_compressed(f'{d}/c.npz', a=v.astype('|u1'))
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	want := []float32{0, 1, 2, 3, 4, 5}
	files, _ := filepath.Glob(filepath.Join(dir, "*.npy"))
	if len(files) != 31 {
		t.Fatalf("%d files", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		a, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadAll[float32](a)
		a.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "b1.npy" {
			if w := []float32{0, 1, 1, 1, 0, 1}; !reflect.DeepEqual(got, w) {
				t.Errorf("%s: %v, want %v", name, got, w)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(a.Shape, []int{2, 3}) {
			t.Errorf("%s: %v %v, want %v [2 3]", name, got, a.Shape, want)
		}
		if strings.HasPrefix(name, "f") {
			continue
		}
		a, _ = OpenFile(path)
		ints, err := ReadAll[int64](a)
		a.Close()
		if err != nil || !reflect.DeepEqual(ints, []int64{0, 1, 2, 3, 4, 5}) {
			t.Errorf("%s as int64: %v %v", name, ints, err)
		}
	}
	for _, name := range []string{"s.npz", "c.npz"} {
		z, err := OpenArchive(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		a, err := z.Open("a")
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadAll[float32](a)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v %v", name, got, err)
		}
		z.Close()
	}
}

// Floats are refused where integers are wanted, and strings everywhere, by name.
func TestRefusals(t *testing.T) {
	var b bytes.Buffer
	Write(&b, []int{2}, []float32{1.5, 2})
	a, err := newArray("x.npy", &b, nil, uint64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll[int64](a); err == nil || !strings.Contains(err.Error(), "x.npy: <f4 [2]: unsupported dtype: floats (f4), want integers") {
		t.Errorf("floats as ints: %v", err)
	}
	b.Reset()
	WriteStrings(&b, []int{1}, []string{"hi"})
	if _, err := newArray("s.npy", &b, nil, uint64(b.Len())); err == nil || !strings.Contains(err.Error(), `npy: s.npy: unsupported dtype "<U2" (unicode strings)`) {
		t.Errorf("strings: %v", err)
	}
}

// An array must hold exactly what its shape promises, and an .npz entry its CRC.
func TestSizes(t *testing.T) {
	var b bytes.Buffer
	Write(&b, []int{3}, []float32{1, 2, 3})
	full := b.Bytes()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"short", full[:len(full)-1], "truncated: shape [3] of <f4 needs 12 bytes, the file holds 11"},
		{"long", append(bytes.Clone(full), 0, 0), "2 bytes after the 3 elements of shape [3]"},
		{"header", full[:20], "header truncated"},
		{"magic", append([]byte("xNUMPY"), full[6:]...), "no \\x93NUMPY magic"},
	} {
		path := filepath.Join(t.TempDir(), tc.name+".npy")
		os.WriteFile(path, tc.data, 0o644)
		a, err := OpenFile(path)
		if err == nil {
			_, err = ReadAll[float32](a)
			a.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want %q naming the file", tc.name, err, tc.want)
		}
	}
	// A flipped data byte in an .npz entry fails its CRC at the end of the entry.
	var z bytes.Buffer
	w := NewArchiveWriter(&z)
	Add(w, "a", []int{3}, []float32{1, 2, 3})
	w.Close()
	raw := z.Bytes()
	i := bytes.Index(raw, full[len(full)-12:])
	raw[i+1] ^= 0x40
	ar, err := NewArchive(bytes.NewReader(raw), int64(len(raw)), "z.npz")
	if err != nil {
		t.Fatal(err)
	}
	a, err := ar.Open("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll[float32](a); err == nil || !strings.Contains(err.Error(), "z.npz:a: corrupt: zip: checksum error") {
		t.Errorf("flipped byte: %v", err)
	}
}

// What Write and the ArchiveWriter write, numpy reads as the same values, dtypes and shapes.
func TestNumpyReadsOurs(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "a.npy"), []int{2, 2}, []float32{1, 2, 3, 4.5}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Create(filepath.Join(dir, "z.npz"))
	w := NewArchiveWriter(f)
	Add(w, "u", []int{3}, []uint8{0, 128, 255})
	Add(w, "i", nil, []int64{-7})
	w.AddStrings("s", []int{2}, []string{"héllo", "x"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	script := `
import numpy as np, sys
d = sys.argv[1]
a = np.load(d + '/a.npy'); assert a.dtype == np.float32 and a.tolist() == [[1, 2], [3, 4.5]], a
z = np.load(d + '/z.npz')
assert z['u'].dtype == np.uint8 and z['u'].tolist() == [0, 128, 255]
assert z['i'].shape == () and z['i'] == -7
assert z['s'].tolist() == ['héllo', 'x'], z['s']
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
}

// A header of any length round-trips, and the data starts on a 64-byte boundary.
func TestHeaderRoundTrip(t *testing.T) {
	for _, shape := range [][]int{nil, {0}, {5}, {60000, 50, 50}, make([]int, 9000)} {
		b := AppendHeader(nil, "<f8", shape)
		h, n, err := ParseHeader(b)
		if err != nil || n != len(b) || n%64 != 0 || h.Dtype != "<f8" || h.Fortran || len(h.Shape) != len(shape) {
			t.Errorf("shape %d dims: %+v %d %v", len(shape), h, n, err)
		}
		h2, err := ReadHeader(bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Errorf("ReadHeader: %+v %v", h2, err)
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	for dict, want := range map[string]string{
		"{'descr': '<f4', 'shape': (2,), }":                                  `header has no "fortran_order"`,
		"{'descr': '<f4', 'fortran_order': No, 'shape': (2,), }":             "fortran_order: want True or False",
		"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }": "a structured dtype",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }":         "shape: want a non-negative integer size",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}":    `unknown key "x"`,
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x":        "bytes after the header dictionary",
	} {
		b := append([]byte(magic+"\x01\x00"), byte(len(dict)), 0)
		_, _, err := ParseHeader(append(b, dict...))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", dict, err, want)
		}
	}
}

// Any bytes: no panic, and an array that parses reads back what its header says or errs.
func FuzzArray(f *testing.F) {
	var b bytes.Buffer
	Write(&b, []int{2, 2}, []float32{1, 2, 3, 4})
	f.Add(b.Bytes())
	b.Reset()
	Write(&b, []int{3}, []uint16{1, 2, 3})
	f.Add(b.Bytes())
	f.Add([]byte(magic + "\x01\x00\x30\x00{'descr': '>i8', 'fortran_order': True, 'shape': (1,2), }"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, perr := ParseHeader(data)
		a, err := newArray("f.npy", bytes.NewReader(data), nil, uint64(len(data)))
		if (perr == nil) != (err == nil || !errors.Is(err, ErrFormat)) {
			t.Fatalf("ParseHeader %v, newArray %v", perr, err)
		}
		if err != nil {
			return
		}
		v, err := ReadAll[float64](a)
		if err == nil && (len(v) != h.Len() || uint64(n)+uint64(len(v))*uint64(a.d.size) != uint64(len(data))) {
			t.Fatalf("read %d values of %v from %d bytes", len(v), h, len(data))
		}
	})
}

// A 3-D Fortran-order array comes back row-major: element (i,j,k) of shape (2,3,4) is at
// i + 2j + 6k in the file and at 12i + 4j + k in memory.
func TestFortranToC(t *testing.T) {
	shape := []int{2, 3, 4}
	file := make([]int32, 24)
	for i := range 2 {
		for j := range 3 {
			for k := range 4 {
				file[i+2*j+6*k] = int32(100*i + 10*j + k)
			}
		}
	}
	got := fortranToC(file, shape)
	for i := range 2 {
		for j := range 3 {
			for k := range 4 {
				if v := got[12*i+4*j+k]; v != int32(100*i+10*j+k) {
					t.Fatalf("(%d,%d,%d) = %d", i, j, k, v)
				}
			}
		}
	}
}
