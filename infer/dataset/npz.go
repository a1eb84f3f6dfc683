package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"retinad/infer/npy"
)

func init() {
	Register("npz", func(head []byte) bool {
		return bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06"))
	}, openNPZ)
}

// npySource is a Source of .npy arrays read through retinad/infer/npy: an .npz archive's, or
// a lone .npy file's single array.
type npySource struct {
	names []string
	open  func(name string) (*npy.Array, error)
	close func() error
}

func openNPZ(ra io.ReaderAt, size int64, path string) (Source, error) {
	a, err := npy.NewArchive(ra, size, path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return &npySource{names: a.Names(), open: a.Open, close: a.Close}, nil
}

// loneNPY is the .npy file path as a Source of one array, called name.
func loneNPY(path, name string) Source {
	return &npySource{names: []string{name}, close: func() error { return nil }, open: func(n string) (*npy.Array, error) {
		if n != name {
			return nil, errors.New("a lone .npy holds only " + name)
		}
		return npy.OpenFile(path)
	}}
}

func (s *npySource) Names() []string { return s.names }
func (s *npySource) Close() error    { return s.close() }

// Info is the ArrayInfo of the array's header (whose dtype npy has already checked).
func (s *npySource) Info(name string) (ArrayInfo, error) {
	a, err := s.open(name)
	if err != nil {
		return ArrayInfo{}, err
	}
	defer a.Close()
	t := a.Dtype
	kind, bits := t[len(t)-2], 8*int(t[len(t)-1]-'0')
	if kind == 'b' {
		bits = 1
	}
	return ArrayInfo{Shape: a.Shape, Kind: kind, Bits: bits, Type: t}, nil
}

func (s *npySource) ReadFloat32(name string, dst []float32) error { return readNPY(s, name, dst) }
func (s *npySource) ReadFloat64(name string, dst []float64) error { return readNPY(s, name, dst) }
func (s *npySource) ReadInt64(name string, dst []int64) error     { return readNPY(s, name, dst) }

func readNPY[T npy.Elem](s *npySource, name string, dst []T) error {
	a, err := s.open(name)
	if err != nil {
		return err
	}
	defer a.Close()
	return npy.ReadInto(a, dst)
}
