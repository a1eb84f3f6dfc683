package dataset

import (
	"io"
	"os"
	"strings"
)

// fileKind is a container Read and ReadStimulus take besides .npz and .npy, told by its
// first bytes. A reader for another kind registers itself by appending to fileKinds in its
// own file's init (hdf5.go: HDF5 and MATLAB v7.3, with cgo).
type fileKind struct {
	name     string
	is       func(head []byte) bool
	read     func(path string) (*Dataset, error)
	stimulus func(path string) (data []float32, t, h, w int, err error)
}

var fileKinds []fileKind

// kindOf is the registered kind of the file whose start ra holds, or nil.
func kindOf(ra io.ReaderAt) *fileKind {
	head := make([]byte, 2056)
	n, _ := ra.ReadAt(head, 0)
	for i := range fileKinds {
		if fileKinds[i].is(head[:n]) {
			return &fileKinds[i]
		}
	}
	return nil
}

// kindOfFile is kindOf for the file path (nil when it cannot be read).
func kindOfFile(path string) *fileKind {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	return kindOf(f)
}

// hasMATHeader reports a MATLAB v7.3 MAT-file: HDF5 behind MATLAB's header text.
func hasMATHeader(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(matHeaderPrefix))
	_, err = io.ReadFull(f, head)
	return err == nil && strings.HasPrefix(string(head), matHeaderPrefix)
}

// matHeaderPrefix begins every MATLAB v7.3 file.
const matHeaderPrefix = "MATLAB 7.3 MAT-file"
