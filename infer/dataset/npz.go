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

// npzSource reads an .npz archive's arrays through retinad/infer/npy.
type npzSource struct{ a *npy.Archive }

func openNPZ(ra io.ReaderAt, size int64, path string) (Source, error) {
	a, err := npy.NewArchive(ra, size, path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return &npzSource{a}, nil
}

func (s *npzSource) Names() []string { return s.a.Names() }
func (s *npzSource) Close() error    { return s.a.Close() }

func (s *npzSource) Info(name string) (ArrayInfo, error) {
	a, err := s.a.Open(name)
	if err != nil {
		return ArrayInfo{}, err
	}
	defer a.Close()
	return npyInfo(a), nil
}

func (s *npzSource) ReadFloat32(name string, dst []float32) error { return npzRead(s, name, dst) }
func (s *npzSource) ReadFloat64(name string, dst []float64) error { return npzRead(s, name, dst) }
func (s *npzSource) ReadInt64(name string, dst []int64) error     { return npzRead(s, name, dst) }

func npzRead[T npy.Elem](s *npzSource, name string, dst []T) error {
	a, err := s.a.Open(name)
	if err != nil {
		return err
	}
	defer a.Close()
	return npy.ReadInto(a, dst)
}

// npyInfo is the ArrayInfo of an opened .npy array (whose dtype npy has already checked).
func npyInfo(a *npy.Array) ArrayInfo {
	t := a.Dtype
	kind, bits := t[len(t)-2], 8*int(t[len(t)-1]-'0')
	if kind == 'b' {
		bits = 1
	}
	return ArrayInfo{Shape: a.Shape, Kind: kind, Bits: bits, Type: t}
}

// npyFile is a lone .npy file as a Source of one array, called name.
type npyFile struct{ path, name string }

func (s npyFile) Names() []string { return []string{s.name} }
func (s npyFile) Close() error    { return nil }

func (s npyFile) Info(name string) (ArrayInfo, error) {
	a, err := s.open(name)
	if err != nil {
		return ArrayInfo{}, err
	}
	defer a.Close()
	return npyInfo(a), nil
}

func (s npyFile) open(name string) (*npy.Array, error) {
	if name != s.name {
		return nil, errors.New("dataset: " + s.path + ": a lone .npy holds only " + s.name)
	}
	return npy.OpenFile(s.path)
}

func (s npyFile) ReadFloat32(name string, dst []float32) error { return npyFileRead(s, name, dst) }
func (s npyFile) ReadFloat64(name string, dst []float64) error { return npyFileRead(s, name, dst) }
func (s npyFile) ReadInt64(name string, dst []int64) error     { return npyFileRead(s, name, dst) }

func npyFileRead[T npy.Elem](s npyFile, name string, dst []T) error {
	a, err := s.open(name)
	if err != nil {
		return err
	}
	defer a.Close()
	return npy.ReadInto(a, dst)
}
