//go:build cgo

package dataset

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf16"

	"retinad/hdf5"
)

// WriteMAT writes d as a MATLAB v7.3 MAT-file: HDF5 behind a 512-byte user block that begins
// with MATLAB's 128-byte header. v7.3 rather than v5 because a dataset is easily larger than
// the 2 GB a v5 variable may hold (an hour at 100 Hz of a 50x50 float32 movie is 3.6 GB), it
// is compressed, and it is HDF5, which h5py reads as well as MATLAB's load does.
//
// Every array becomes a variable of the same name (characters MATLAB does not allow in a name
// become _), with the shape numpy shows: stimulus is T x H x W single, counts T x C single,
// frame_rate a double, cell_ids C x 1 int64, 1-D extras column vectors, uint8 masks uint8, and
// string arrays char matrices (one row per string, padded with spaces; cellstr makes them
// cells). MATLAB stores arrays column-major, so the data are transposed on the way, and h5py
// sees each array's dimensions reversed (stimulus as W x H x T).
func WriteMAT(path string, d *Dataset) error {
	if err := d.Check(path); err != nil {
		return err
	}
	f, err := hdf5.Create(path, hdf5.CreateOptions{Userblock: 512})
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	arrays := append([]Array{
		{Name: "stimulus", Shape: []int{d.T, d.H, d.W}, Data: d.Stimulus},
		{Name: "counts", Shape: []int{d.T, d.C}, Data: d.Counts},
		{Name: "frame_rate", Data: []float64{d.FrameRate}},
		{Name: "cell_ids", Shape: []int{d.C}, Data: d.CellIDs},
	}, d.Extra...)
	err = writeMATVars(f.Root(), arrays)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = writeMATHeader(path, time.Now())
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("dataset: write %s: %w", path, err)
	}
	return nil
}

var matBadChars = regexp.MustCompile(`[^A-Za-z0-9_]`)

// matName is name as a MATLAB variable name (a letter, then letters, digits, _; 63 at most).
func matName(name string) string {
	n := matBadChars.ReplaceAllString(name, "_")
	if n == "" || !('A' <= n[0] && n[0] <= 'Z' || 'a' <= n[0] && n[0] <= 'z') {
		n = "x" + n
	}
	return n[:min(len(n), 63)]
}

func writeMATVars(root *hdf5.Group, arrays []Array) error {
	taken := map[string]string{}
	for _, a := range arrays {
		name := matName(a.Name)
		if prev, ok := taken[name]; ok {
			return fmt.Errorf("arrays %q and %q are both MATLAB variable %q", prev, a.Name, name)
		}
		taken[name] = a.Name
		if err := writeMATVar(root, name, a); err != nil {
			return err
		}
	}
	return nil
}

// matDims is the MATLAB size of a numpy shape: at least two dimensions, vectors as columns.
func matDims(shape []int) []int {
	switch len(shape) {
	case 0:
		return []int{1, 1}
	case 1:
		return []int{shape[0], 1}
	}
	return shape
}

func writeMATVar(root *hdf5.Group, name string, a Array) error {
	dims := matDims(a.Shape)
	var chars []uint16
	if s, ok := a.Data.([]string); ok {
		dims, chars = matChars(s)
	}
	class := matClass(a.Data)
	if class == "" {
		return fmt.Errorf("array %q: %T has no MATLAB class here", a.Name, a.Data)
	}
	var ds *hdf5.Dataset
	var err error
	switch v := a.Data.(type) {
	case []float32:
		ds, err = writeColumnMajor(root, name, v, dims)
	case []float64:
		ds, err = writeColumnMajor(root, name, v, dims)
	case []int64:
		ds, err = writeColumnMajor(root, name, v, dims)
	case []uint8:
		ds, err = writeColumnMajor(root, name, v, dims)
	case []string:
		if len(chars) > 0 {
			ds, err = root.Write(name, chars, reversed(dims)...)
		}
	}
	if err == nil && ds == nil { // MATLAB writes an empty array as its size, marked MATLAB_empty
		size := make([]uint64, len(dims))
		for i, d := range dims {
			size[i] = uint64(d)
		}
		if ds, err = root.Write(name, size); err == nil {
			err = ds.SetAttr("MATLAB_empty", uint8(1))
		}
	}
	if err == nil {
		err = ds.SetAttr("MATLAB_class", hdf5.ASCII(class))
	}
	if err == nil && class == "char" {
		err = ds.SetAttr("MATLAB_int_decode", int32(2))
	}
	if err == nil {
		err = ds.Close()
	}
	return err
}

// writeColumnMajor writes v, row-major with numpy shape dims (2 or 3 of them), as MATLAB
// stores it: column-major, which is HDF5's row-major over the dimensions reversed. It writes
// one slab per index of the last dimension (HDF5's first), so that a movie is not copied
// whole: a slab is 1/W of it. An empty v writes nothing (nil, nil).
func writeColumnMajor[T float32 | float64 | int64 | uint8](g *hdf5.Group, name string, v []T, dims []int) (*hdf5.Dataset, error) {
	if len(v) == 0 {
		return nil, nil
	}
	a, b, c := dims[0], 1, dims[len(dims)-1]
	if len(dims) == 3 {
		b = dims[1]
	}
	ds, err := g.Create(name, v[:0], reversed(dims)...)
	if err != nil {
		return nil, err
	}
	slab := make([]T, a*b)
	for k := range c {
		for i := range a {
			for j := range b {
				slab[i+a*j] = v[(i*b+j)*c+k]
			}
		}
		if err := ds.WriteRows(k, slab); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// matClass is the MATLAB class of an array's elements ("" for none).
func matClass(data any) string {
	switch data.(type) {
	case []float32:
		return "single"
	case []float64:
		return "double"
	case []int64:
		return "int64"
	case []uint8:
		return "uint8"
	case []string:
		return "char"
	}
	return ""
}

// matChars lays strings out as a MATLAB char matrix, one row per string (UTF-16, padded with
// spaces), column-major; one string is a row vector.
func matChars(s []string) ([]int, []uint16) {
	units := make([][]uint16, len(s))
	width := 0
	for i, x := range s {
		units[i] = utf16.Encode([]rune(x))
		width = max(width, len(units[i]))
	}
	out := make([]uint16, len(s)*width)
	for i := range out {
		out[i] = ' '
	}
	for i, u := range units {
		for j, c := range u {
			out[i+j*len(s)] = c
		}
	}
	return []int{len(s), width}, out
}

func reversed(s []int) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// writeMATHeader writes MATLAB's 128-byte header into the user block: 116 bytes of text, 8
// bytes of subsystem offset (none), version 0x0200 and the endian mark "IM".
func writeMATHeader(path string, now time.Time) error {
	text := fmt.Sprintf("%s, Platform: GLNXA64, Created on: %s HDF5 schema 1.00 .", matHeaderPrefix, now.Format("Mon Jan _2 15:04:05 2006"))
	h := []byte(text + strings.Repeat(" ", 116-len(text)))
	h = append(h, make([]byte, 8)...)
	h = append(h, 0x00, 0x02, 'I', 'M')
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(h, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
