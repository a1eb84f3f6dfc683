package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"retinad/infer/npy"
)

// Source is one file's named numeric arrays, whatever the container: the dataset logic (which
// arrays, what shapes, how values become contrast and counts) is written once against it, and
// each container is a file of this package that registers a Source for its kind of file.
//
//   - npz.go: .npz archives (and a lone .npy for ReadStimulus), through retinad/infer/npy.
//   - mat5.go: MATLAB .mat version 5 (MATLAB's default before v7.3), in pure Go.
//   - hdf5.go (with cgo): HDF5 files, and MATLAB .mat v7.3, which is HDF5 behind a 512-byte
//     user block, through libhdf5 (retinad/hdf5). Without cgo no container matches them, and
//     otherFormat names them.
//
// Arrays are row-major as Info reports them: a container that stores column-major data (MATLAB)
// reorders it, so that a [T,H,W] stimulus means the same in every container.
type Source interface {
	// Names lists the arrays (variables, datasets) by the names the dataset layout uses.
	Names() []string
	// Info describes array name. It refuses a shape that the file cannot hold, so that a caller
	// may allocate what Info says.
	Info(name string) (ArrayInfo, error)
	// ReadFloat32, ReadFloat64 and ReadInt64 read array name, converted, into dst, whose length
	// is the array's number of elements; ReadInt64 refuses a float array, except in a MATLAB
	// file (v5 or v7.3), which keeps integers in doubles: there it reads whole numbers.
	ReadFloat32(name string, dst []float32) error
	ReadFloat64(name string, dst []float64) error
	ReadInt64(name string, dst []int64) error
	Close() error
}

// ArrayInfo is what a Source says of one array.
type ArrayInfo struct {
	Shape []int  // row-major
	Kind  byte   // 'f' float, 'i' signed integer, 'u' unsigned integer, 'b' bool
	Bits  int    // bits per element (1 for a bool)
	Type  string // the container's own name of the type, for errors: "<f4", "uint8", ...
	// Matlab is set for MATLAB arrays, which are at least 2-D and drop trailing singleton
	// dimensions: a vector is [1,N] or [N,1], a [T,1,1] stimulus is [T,1].
	Matlab bool
}

// Len is the number of elements.
func (a ArrayInfo) Len() int {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return n
}

// shape is a's shape as the dataset layout means it: a MATLAB [1,N] or [N,1] is [N] when
// rank is 1, and MATLAB's dropped trailing singleton dimensions are restored up to rank.
func (a ArrayInfo) shape(rank int) []int {
	s := a.Shape
	if !a.Matlab || len(s) != 2 {
		return s
	}
	switch {
	case rank == 1 && s[0] == 1:
		return s[1:]
	case rank == 1 && s[1] == 1:
		return s[:1]
	case rank > 2:
		return append(append([]int(nil), s...), make1s(rank-2)...)
	}
	return s
}

func make1s(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// container is a registered kind of file.
type container struct {
	name  string
	match func(head []byte) bool
	open  func(ra io.ReaderAt, size int64, path string) (Source, error)
}

var (
	registryMu sync.Mutex
	registry   []container
)

// Register adds a kind of dataset file: match looks at the first 4 KiB of a file (or all of a
// smaller one) and says whether open can read it; open reads the size bytes in ra, named path
// in errors (and the file's path when it comes from Read, for a library that needs one).
// Containers register in init; the first that matches a file reads it.
func Register(name string, match func(head []byte) bool, open func(ra io.ReaderAt, size int64, path string) (Source, error)) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry = append(registry, container{name, match, open})
}

// openSource finds the container that reads the file in ra and opens it.
func openSource(ra io.ReaderAt, size int64, path string) (Source, error) {
	head := make([]byte, 4096)
	n, _ := ra.ReadAt(head, 0)
	head = head[:n]
	registryMu.Lock()
	reg := registry
	registryMu.Unlock()
	var names []string
	for _, c := range reg {
		if c.match(head) {
			return c.open(ra, size, path)
		}
		names = append(names, c.name)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("dataset: %s: not a dataset file retinad reads (it reads %s)%s", path, strings.Join(names, ", "), otherFormat(head))
}

// openPath opens the file path and the Source that reads it; closing the Source closes the file.
func openPath(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dataset: %w", err)
	}
	s, err := openSource(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return closeBoth{s, f}, nil
}

type closeBoth struct {
	Source
	f *os.File
}

func (c closeBoth) Close() error {
	err := c.Source.Close()
	if ferr := c.f.Close(); err == nil {
		err = ferr
	}
	return err
}

// arrays is the set of src's array names.
func arrays(src Source) map[string]bool {
	set := map[string]bool{}
	for _, n := range src.Names() {
		set[n] = true
	}
	return set
}

// missing is the error for a required array the file does not have, with the container's
// hint when it has one (a MATLAB struct holding the arrays as fields).
func missing(src Source, name string, fail func(string, ...any) error) error {
	hint := ""
	if c, ok := src.(closeBoth); ok {
		src = c.Source
	}
	if h, ok := src.(interface{ hint() string }); ok {
		hint = h.hint()
	}
	return fail("array %q missing (has %s%s); want %s", name, list(src.Names()), hint, want[name])
}

// arrayErr is a container's error about array name, prefixed by fail (package and file)
// instead of the container's own prefix.
func arrayErr(fail func(string, ...any) error, name string, err error) error {
	var e *npy.Error
	if errors.As(err, &e) {
		err = e.Err
	}
	return fail("%s: %w", name, err)
}

// otherFormat names the file formats labs keep data in that no registered container reads,
// from their first bytes, with what to do instead ("" for anything else).
func otherFormat(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89HDF\r\n\x1a\n")):
		return " (it is HDF5, which this build does not read: write stimulus, counts and frame_rate with numpy.savez)"
	case bytes.HasPrefix(b, []byte("MATLAB 7.3 MAT-file")):
		return " (it is a MATLAB v7.3 .mat file, which is HDF5 and which this build does not read: save it with save(..., '-v7') or write stimulus, counts and frame_rate with numpy.savez)"
	case len(b) >= 8 && string(b[:6]) == "\x93NUMPY":
		return " (it is a single .npy array: a dataset needs stimulus, counts and frame_rate together, numpy.savez)"
	}
	return ""
}
