//go:build cgo

package dataset

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"retinad/hdf5"
	"retinad/infer/npy"
)

func init() {
	Register("HDF5 (and MATLAB v7.3 .mat)", isHDF5, openHDF5)
}

// isHDF5 reports an HDF5 file from its first bytes: the signature at 0 or after a user block
// (512, 1024 or 2048 bytes; a MATLAB v7.3 file has one of 512).
func isHDF5(head []byte) bool {
	for _, at := range []int{0, 512, 1024, 2048} {
		if len(head) >= at+8 && bytes.Equal(head[at:at+8], []byte("\x89HDF\r\n\x1a\n")) {
			return true
		}
	}
	return false
}

// matHeaderPrefix begins every MATLAB v7.3 file (the text of the header in its user block).
const matHeaderPrefix = "MATLAB 7.3 MAT-file"

// h5Source reads a dataset's arrays from an HDF5 file through libhdf5: the root's datasets by
// name, in numpy's (row-major) layout as h5py writes them, or in MATLAB's (column-major: the
// HDF5 dimensions are MATLAB's reversed) when the file is a MATLAB v7.3 MAT-file, which Info
// and the reads turn into the row-major arrays the dataset layout means.
type h5Source struct {
	f     *hdf5.File
	mat   bool
	names []string
}

// openHDF5 opens the HDF5 file behind ra. libhdf5 reads files by name, so ra must be the open
// file (as Read gives it), not bytes in memory.
func openHDF5(ra io.ReaderAt, size int64, path string) (Source, error) {
	file, ok := ra.(interface{ Name() string })
	if !ok {
		return nil, fmt.Errorf("dataset: %s: HDF5 is read by libhdf5 from a file on disk, not from bytes in memory: give its path to Read", path)
	}
	head := make([]byte, len(matHeaderPrefix))
	n, _ := ra.ReadAt(head, 0)
	f, err := hdf5.Open(file.Name())
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	s := &h5Source{f: f, mat: string(head[:n]) == matHeaderPrefix}
	if v, err := f.Root().AttrString("nwb_version"); err == nil {
		f.Close()
		return nil, fmt.Errorf("dataset: %s: an NWB %s file: retinad reads its own dataset layout from HDF5 (stimulus, counts, frame_rate), not NWB; use the session's .npz export (retinad export --format npz)", path, v)
	}
	names, err := f.Root().Names()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dataset: %w", err)
	}
	for _, name := range names {
		if !(s.mat && strings.HasPrefix(name, "#")) { // MATLAB's #refs# and #subsystem#
			s.names = append(s.names, name)
		}
	}
	return s, nil
}

func (s *h5Source) Names() []string { return s.names }
func (s *h5Source) Close() error    { return s.f.Close() }

// open opens the dataset name and describes it, refusing what is not an array of numbers and
// a shape its storage cannot hold.
func (s *h5Source) open(name string) (*hdf5.Dataset, ArrayInfo, error) {
	ds, err := s.f.Root().OpenDataset(name)
	if err != nil {
		if g, gerr := s.f.Root().OpenGroup(name); gerr == nil {
			g.Close()
			return nil, ArrayInfo{}, fmt.Errorf("a group, want an array (retinad reads the datasets at the file's root)")
		}
		return nil, ArrayInfo{}, err
	}
	info, err := s.describe(ds)
	if err != nil {
		ds.Close()
		return nil, ArrayInfo{}, err
	}
	return ds, info, nil
}

func (s *h5Source) describe(ds *hdf5.Dataset) (ArrayInfo, error) {
	shape, err := ds.Shape()
	if err != nil {
		return ArrayInfo{}, err
	}
	if _, err := ds.Numel(); err != nil {
		return ArrayInfo{}, err
	}
	class, size, err := ds.Type()
	if err != nil {
		return ArrayInfo{}, err
	}
	kind := map[hdf5.Class]byte{hdf5.Float: 'f', hdf5.Int: 'i', hdf5.Uint: 'u'}[class]
	if kind == 0 {
		return ArrayInfo{}, fmt.Errorf("%s elements, want numbers", class)
	}
	info := ArrayInfo{Shape: shape, Kind: kind, Bits: 8 * size, Type: fmt.Sprintf("%s%d", class, 8*size)}
	if !s.mat {
		return info, nil
	}
	mclass, _ := ds.AttrString("MATLAB_class")
	switch mclass {
	case "cell", "struct", "char", "function_handle":
		return ArrayInfo{}, fmt.Errorf("a MATLAB %s, want a numeric array", mclass)
	case "logical":
		info.Kind, info.Bits = 'b', 1
	}
	if mclass != "" {
		info.Type = mclass
	}
	info.Shape, info.Matlab = slices.Clone(shape), true
	slices.Reverse(info.Shape)
	return info, nil
}

func (s *h5Source) Info(name string) (ArrayInfo, error) {
	ds, info, err := s.open(name)
	if err != nil {
		return ArrayInfo{}, err
	}
	return info, ds.Close()
}

func (s *h5Source) ReadFloat32(name string, dst []float32) error { return h5Read(s, name, dst) }
func (s *h5Source) ReadFloat64(name string, dst []float64) error { return h5Read(s, name, dst) }

// ReadInt64 refuses a float array, as the .npz container does, except in a MATLAB file, which
// keeps integers (ids, counts) in doubles by default: there whole numbers are read as
// integers and any fraction is refused, as in a v5 .mat.
func (s *h5Source) ReadInt64(name string, dst []int64) error {
	info, err := s.Info(name)
	if err != nil {
		return err
	}
	if info.Kind != 'f' {
		return h5Read(s, name, dst)
	}
	if !s.mat {
		return fmt.Errorf("%s elements, want integers", info.Type)
	}
	f := make([]float64, len(dst))
	if err := h5Read(s, name, f); err != nil {
		return err
	}
	return wholeNumbers(f, dst)
}

// h5Read reads dataset name into dst (libhdf5 converts the element type), reordered row-major
// when the file is MATLAB's.
func h5Read[T float32 | float64 | int64](s *h5Source, name string, dst []T) error {
	ds, info, err := s.open(name)
	if err != nil {
		return err
	}
	defer ds.Close()
	if err := ds.Read(dst); err != nil {
		return err
	}
	if s.mat && len(info.Shape) >= 2 {
		// HDF5's row-major over MATLAB's dimensions reversed is column-major over MATLAB's.
		copy(dst, npy.FromFortran(dst, info.Shape))
	}
	return nil
}
