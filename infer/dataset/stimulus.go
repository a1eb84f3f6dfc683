package dataset

import (
	"archive/zip"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// ReadStimulus reads a stimulus movie [T,H,W] as contrast (float32, float64 or signed ints as
// they are; uint8/uint16 luminance scaled as readStimulus says): a .npy file, or
// the `stimulus` array of an .npz (saved by numpy.savez as stimulus.npy, or by other writers as
// stimulus), or of a file of a registered kind (HDF5 or MATLAB v7.3, as Read takes them). It
// checks what Read checks of a dataset's stimulus: every value the shape promises
// is there and no byte more (a truncated file is not zero-filled), an .npz entry's CRC-32
// matches, T, H and W are at least 1, every value is finite. Errors name the file.
func ReadStimulus(path string) (data []float32, t, h, w int, err error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("dataset: %s: "+format, append([]any{path}, a...)...)
	}
	var e npyEntry
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npz":
		z, err := zip.OpenReader(path)
		if err != nil {
			return nil, 0, 0, 0, fail("not an .npz (zip) file: %w", err)
		}
		defer z.Close()
		a := &archive{&z.Reader}
		var names []string
		for _, f := range z.File {
			names = append(names, f.Name)
		}
		switch {
		case a.file("stimulus.npy") != nil:
			e = a.entry("stimulus.npy")
		case a.file("stimulus") != nil:
			e = a.entry("stimulus")
		default:
			return nil, 0, 0, 0, fail("no `stimulus` array (has %s); want float32 [T,H,W]", strings.Join(names, ", "))
		}
	case ".npy":
		st, err := os.Stat(path)
		if err != nil {
			return nil, 0, 0, 0, fmt.Errorf("dataset: %w", err)
		}
		e = npyEntry{size: uint64(st.Size()), open: func() (io.ReadCloser, error) { return os.Open(path) }}
	default:
		if k := kindOfFile(path); k != nil {
			return k.stimulus(path)
		}
		hint := ""
		if f, err := os.Open(path); err == nil {
			hint = otherFormat(f)
			f.Close()
		}
		return nil, 0, 0, 0, fail("want a .npy movie or an .npz dataset%s", hint)
	}
	hd, err := e.header()
	if err != nil {
		return nil, 0, 0, 0, fail("stimulus: not a readable .npy array: %w", err)
	}
	s := hd.Descr.Shape
	switch {
	case hd.Descr.Fortran:
		return nil, 0, 0, 0, fail("stimulus: Fortran order, want C order (numpy.ascontiguousarray)")
	case len(s) != 3 || s[0] < 1 || s[1] < 1 || s[2] < 1:
		return nil, 0, 0, 0, fail("stimulus: shape %v, want [T,H,W] with every size at least 1", s)
	}
	if data, err = readStimulus(e, hd); err != nil {
		return nil, 0, 0, 0, fail("stimulus: %w", err)
	}
	p := s[1] * s[2]
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, 0, 0, 0, fail("stimulus: %v at frame %d, pixel (%d,%d), want a finite contrast", v, i/p, i%p/s[2], i%p%s[2])
		}
	}
	return data, s[0], s[1], s[2], nil
}
