package npy

import (
	"archive/zip"
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Array is one .npy array opened for reading: a file, or an entry of an .npz archive. Its
// header is parsed; ReadAll or ReadInto reads its data once.
type Array struct {
	Header
	Name  string // the file, or archive:entry, for errors
	d     dtype
	r     io.Reader
	c     io.Closer
	avail uint64 // the most data bytes the file can deliver
}

// OpenFile opens the .npy file path and parses its header.
func OpenFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("npy: %w", err)
	}
	a, err := newArray(path, f, f, uint64(st.Size()))
	if err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

// newArray parses the header at the start of r, which holds at most size bytes.
func newArray(name string, r io.Reader, c io.Closer, size uint64) (*Array, error) {
	cr := &countReader{r: r}
	h, err := ReadHeader(cr)
	if err != nil {
		return nil, &Error{name, err}
	}
	d, err := parseDtype(h.Dtype)
	if err != nil {
		return nil, &Error{name, err}
	}
	a := &Array{Header: h, Name: name, d: d, r: r, c: c}
	if size > cr.n {
		a.avail = size - cr.n
	}
	if uint64(h.Len()) > a.avail/uint64(d.size) {
		return nil, &Error{name, fmt.Errorf("truncated: shape %v of %s needs %d bytes, the file holds %d", h.Shape, h.Dtype, uint64(h.Len())*uint64(d.size), a.avail)}
	}
	return a, nil
}

// Close releases the array's file (a no-op for an archive's entry, which its Archive owns).
func (a *Array) Close() error {
	if a.c == nil {
		return nil
	}
	return a.c.Close()
}

// ReadAll reads the array, converted to T, in C order.
func ReadAll[T Elem](a *Array) ([]T, error) {
	v := make([]T, a.Len())
	if err := ReadInto(a, v); err != nil {
		return nil, err
	}
	return v, nil
}

// ReadInto reads the array, converted to T, into dst (len(dst) must be a.Len()) in C order.
// It then reads on to the end of the data: a byte more than the shape promises is an error,
// and an .npz entry's CRC-32 is checked there.
func ReadInto[T Elem](a *Array, dst []T) error {
	fail := func(err error) error { return &Error{a.Name, err} }
	if len(dst) != a.Len() {
		return fail(fmt.Errorf("%d destination elements for shape %v", len(dst), a.Shape))
	}
	if a.r == nil {
		return fail(fmt.Errorf("read twice"))
	}
	r := a.r
	a.r = nil
	if err := readData(r, a.d, dst); err != nil {
		return fail(fmt.Errorf("%s %v: %w", a.Dtype, a.Shape, err))
	}
	extra, err := io.Copy(io.Discard, r)
	switch {
	case err != nil:
		return fail(fmt.Errorf("corrupt: %w", err))
	case extra > 0:
		return fail(fmt.Errorf("%d bytes after the %d elements of shape %v: the shape or the data is wrong", extra, len(dst), a.Shape))
	}
	if a.Fortran {
		copy(dst, fortranToC(dst, a.Shape))
	}
	return nil
}

// Error is an error about one array (or archive): Name is the file, or archive:entry.
type Error struct {
	Name string
	Err  error
}

func (e *Error) Error() string { return "npy: " + e.Name + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n uint64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// Archive is an .npz file opened for reading.
type Archive struct {
	Name    string
	entries map[string]*zip.File // array name (no .npy) -> entry
	c       io.Closer
}

// OpenArchive opens the .npz file path.
func OpenArchive(path string) (*Archive, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, &Error{path, fmt.Errorf("not an .npz (zip) file: %w", err)}
	}
	a, err := newArchive(&z.Reader, path)
	if err != nil {
		z.Close()
		return nil, err
	}
	a.c = z
	return a, nil
}

// NewArchive reads the .npz held in ra (size bytes); name is used in errors.
func NewArchive(ra io.ReaderAt, size int64, name string) (*Archive, error) {
	z, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, &Error{name, fmt.Errorf("not an .npz (zip) file: %w", err)}
	}
	return newArchive(z, name)
}

func newArchive(z *zip.Reader, name string) (*Archive, error) {
	a := &Archive{Name: name, entries: map[string]*zip.File{}}
	for _, f := range z.File {
		key := strings.TrimSuffix(f.Name, ".npy")
		if _, dup := a.entries[key]; dup {
			return nil, &Error{name, fmt.Errorf("array %q stored twice", key)}
		}
		a.entries[key] = f
	}
	return a, nil
}

// Names lists the archive's arrays, sorted, as numpy.load names them (without ".npy").
func (a *Archive) Names() []string {
	names := make([]string, 0, len(a.entries))
	for k := range a.entries {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Has reports whether the archive holds an array called name.
func (a *Archive) Has(name string) bool { _, ok := a.entries[name]; return ok }

// Open opens the array called name and parses its header.
func (a *Archive) Open(name string) (*Array, error) {
	f, ok := a.entries[name]
	if !ok {
		return nil, &Error{a.Name, fmt.Errorf("no array %q (has %s)", name, strings.Join(a.Names(), ", "))}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, &Error{a.Name + ":" + name, err}
	}
	arr, err := newArray(a.Name+":"+name, rc, rc, entrySize(f))
	if err != nil {
		rc.Close()
		return nil, err
	}
	return arr, nil
}

// entrySize is the most an entry can hold: its declared size, which a hostile archive may
// inflate, capped by what its compressed bytes can expand to (deflate at most 1032:1), so that
// no array is allocated beyond what the file can deliver.
func entrySize(f *zip.File) uint64 {
	limit := f.CompressedSize64
	if f.Method != zip.Store {
		limit *= 1032
	}
	return min(f.UncompressedSize64, limit)
}

// Close closes the archive's file.
func (a *Archive) Close() error {
	if a.c == nil {
		return nil
	}
	return a.c.Close()
}

// ArchiveWriter writes an .npz archive, entry after entry, uncompressed (as numpy.savez does).
type ArchiveWriter struct {
	bw *bufio.Writer
	zw *zip.Writer
}

// NewArchiveWriter starts an .npz archive on w; Close finishes it.
func NewArchiveWriter(w io.Writer) *ArchiveWriter {
	bw := bufio.NewWriterSize(w, 1<<20)
	return &ArchiveWriter{bw: bw, zw: zip.NewWriter(bw)}
}

// Create starts array name of dtype and shape and returns the writer of its data (of exactly
// the bytes the shape says, e.g. through WriteData), valid until the next Create or Close.
func (a *ArchiveWriter) Create(name, dtype string, shape []int) (io.Writer, error) {
	w, err := a.zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
	if err != nil {
		return nil, &Error{name, err}
	}
	if _, err := w.Write(AppendHeader(nil, dtype, shape)); err != nil {
		return nil, &Error{name, err}
	}
	return w, nil
}

// Add writes data as array name of the given shape.
func Add[T Elem](a *ArchiveWriter, name string, shape []int, data []T) error {
	w, err := a.zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
	if err != nil {
		return fmt.Errorf("npy: %s: %w", name, err)
	}
	if err := write(w, shape, data); err != nil {
		return fmt.Errorf("npy: %s: %w", name, err)
	}
	return nil
}

// AddStrings writes v as unicode array name of the given shape.
func (a *ArchiveWriter) AddStrings(name string, shape []int, v []string) error {
	w, err := a.zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
	if err != nil {
		return fmt.Errorf("npy: %s: %w", name, err)
	}
	if err := WriteStrings(w, shape, v); err != nil {
		return fmt.Errorf("npy: %s: %w", name, err)
	}
	return nil
}

// Close writes the archive's directory and flushes it; it does not close the underlying writer.
func (a *ArchiveWriter) Close() error {
	if err := a.zw.Close(); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if err := a.bw.Flush(); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

// WriteFile writes data as the .npy file path of the given shape.
func WriteFile[T Elem](path string, shape []int, data []T) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw, shape, data)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("npy: write %s: %w", path, err)
	}
	return nil
}
