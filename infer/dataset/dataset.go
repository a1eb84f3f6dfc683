package dataset

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/sbinet/npyio/npy"
)

// Dataset is one recording: a stimulus movie and the spike counts it evoked, bin by bin.
type Dataset struct {
	T, H, W   int       // bins, stimulus height and width in stimulus pixels
	C         int       // cells
	Stimulus  []float32 // [T*H*W], contrast, frame t at Stimulus[t*H*W:(t+1)*H*W]
	Counts    []float32 // [T*C], spikes; bin t of cell c at Counts[t*C+c]
	FrameRate float64   // bins per second
	CellIDs   []int64   // [C]
	// Extra are further arrays Write stores beside these (an export's frame timing, predictions,
	// events); Read does not load them, and no consumer needs them.
	Extra []Array
}

// Array is one extra named array of a dataset file: Data is []float32, []float64, []int64,
// []uint8 (a mask: 1 true, 0 false) or []string (numpy unicode, '<U'), row-major, with
// len(Data) the product of Shape (an empty Shape is a scalar).
type Array struct {
	Name  string
	Shape []int
	Data  any
}

// Pixels is the number of stimulus pixels per frame, H*W.
func (d *Dataset) Pixels() int { return d.H * d.W }

// Frame returns frame t of the stimulus (aliases d.Stimulus).
func (d *Dataset) Frame(t int) []float32 { p := d.Pixels(); return d.Stimulus[t*p : (t+1)*p] }

// Spikes returns the total spike count of cell c over bins [from, to).
func (d *Dataset) Spikes(c, from, to int) float64 {
	var n float64
	for t := from; t < to; t++ {
		n += float64(d.Counts[t*d.C+c])
	}
	return n
}

// SilentCells returns the cells with no spike in bins [from, to).
func (d *Dataset) SilentCells(from, to int) []int {
	var silent []int
	for c := 0; c < d.C; c++ {
		if d.Spikes(c, from, to) == 0 {
			silent = append(silent, c)
		}
	}
	return silent
}

// Check validates the shapes and values of d; name (a file name) prefixes its errors.
func (d *Dataset) Check(name string) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("dataset: %s: "+format, append([]any{name}, a...)...)
	}
	switch {
	case d.T <= 0 || d.H <= 0 || d.W <= 0:
		return fail("stimulus: shape [%d,%d,%d], want [T,H,W] with every size > 0", d.T, d.H, d.W)
	case len(d.Stimulus) != d.T*d.H*d.W:
		return fail("stimulus: %d values for shape [%d,%d,%d]", len(d.Stimulus), d.T, d.H, d.W)
	case d.C <= 0:
		return fail("counts: %d cells, want at least 1", d.C)
	case len(d.Counts) != d.T*d.C:
		return fail("counts: %d values, want T*C = %d*%d (T from stimulus)", len(d.Counts), d.T, d.C)
	case !(d.FrameRate > 0) || math.IsInf(d.FrameRate, 0):
		return fail("frame_rate: %v, want a finite number of bins per second > 0", d.FrameRate)
	case len(d.CellIDs) != d.C:
		return fail("cell_ids: %d ids for %d cells in counts", len(d.CellIDs), d.C)
	}
	p := d.Pixels()
	for i, v := range d.Stimulus {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t, r := i/p, i%p
			return fail("stimulus: %v at frame %d, pixel (%d,%d)", v, t, r/d.W, r%d.W)
		}
	}
	for i, v := range d.Counts {
		if !(v >= 0) || math.IsInf(float64(v), 0) {
			return fail("counts: %v at bin %d for cell %d (id %d), want a finite count >= 0", v, i/d.C, i%d.C, d.CellIDs[i%d.C])
		}
	}
	names := map[string]bool{"stimulus": true, "counts": true, "frame_rate": true, "cell_ids": true}
	for _, a := range d.Extra {
		if err := a.check(); err != nil {
			return fail("%w", err)
		}
		if names[a.Name] {
			return fail("extra array %q: the name is taken", a.Name)
		}
		names[a.Name] = true
	}
	seen := make(map[int64]int, d.C)
	for c, id := range d.CellIDs {
		if prev, dup := seen[id]; dup {
			return fail("cell_ids: id %d used by cells %d and %d", id, prev, c)
		}
		seen[id] = c
	}
	return nil
}

// Read reads and checks the dataset in the file path: an .npz, or a kind that registered
// itself (HDF5 and MATLAB v7.3 .mat, see hdf5.go), told apart by the file's first bytes.
func Read(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	if k := kindOf(f); k != nil {
		return k.read(path)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return Decode(f, st.Size(), path)
}

// Decode reads and checks a dataset from the .npz bytes in r (size bytes long); name, a file
// name, prefixes its errors.
func Decode(ra io.ReaderAt, size int64, path string) (*Dataset, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: not an .npz (zip) file%s: %w", path, otherFormat(ra), err)
	}
	r := &archive{zr}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("dataset: %s: "+format, append([]any{path}, a...)...)
	}
	keys := map[string]string{} // array name -> zip entry
	for _, f := range zr.File {
		keys[strings.TrimSuffix(f.Name, ".npy")] = f.Name
	}
	header := func(name string, required bool) (*npy.Header, error) {
		k, ok := keys[name]
		if !ok {
			if required {
				return nil, fail("array %q missing (has %s); want %s", name, list(keys), want[name])
			}
			return nil, nil
		}
		h, err := r.header(k)
		if err != nil {
			return nil, fail("array %q: not a readable .npy entry: %w", name, err)
		}
		if h.Descr.Fortran {
			return nil, fail("array %q: Fortran order, want C order (numpy.ascontiguousarray)", name)
		}
		return h, nil
	}
	d := &Dataset{}

	h, err := header("stimulus", true)
	if err != nil {
		return nil, err
	}
	if len(h.Descr.Shape) != 3 {
		return nil, fail("stimulus: shape %v, want [T,H,W]", h.Descr.Shape)
	}
	d.T, d.H, d.W = h.Descr.Shape[0], h.Descr.Shape[1], h.Descr.Shape[2]
	if d.Stimulus, err = readStimulus(r.entry(keys["stimulus"]), h); err != nil {
		return nil, fail("stimulus: %w", err)
	}

	if h, err = header("counts", true); err != nil {
		return nil, err
	}
	if len(h.Descr.Shape) != 2 {
		return nil, fail("counts: shape %v, want [T,C]", h.Descr.Shape)
	}
	if h.Descr.Shape[0] != d.T {
		return nil, fail("counts: %d bins but stimulus has %d frames; want one row per frame", h.Descr.Shape[0], d.T)
	}
	d.C = h.Descr.Shape[1]
	if d.Counts, err = readCounts(r.entry(keys["counts"]), h); err != nil {
		return nil, fail("counts: %w", err)
	}

	if h, err = header("frame_rate", true); err != nil {
		return nil, err
	}
	if n := numel(h.Descr.Shape); n != 1 {
		return nil, fail("frame_rate: shape %v, want a scalar", h.Descr.Shape)
	}
	fr, err := readFloat64(r.entry(keys["frame_rate"]), h)
	if err != nil {
		return nil, fail("frame_rate: %w", err)
	}
	d.FrameRate = fr[0]

	if h, err = header("cell_ids", false); err != nil {
		return nil, err
	}
	if h == nil {
		d.CellIDs = make([]int64, d.C)
		for c := range d.CellIDs {
			d.CellIDs[c] = int64(c)
		}
	} else {
		if len(h.Descr.Shape) != 1 || h.Descr.Shape[0] != d.C {
			return nil, fail("cell_ids: shape %v, want [%d] (one id per column of counts)", h.Descr.Shape, d.C)
		}
		if d.CellIDs, err = readInt64(r.entry(keys["cell_ids"]), h); err != nil {
			return nil, fail("cell_ids: %w", err)
		}
	}
	if err := d.Check(path); err != nil {
		return nil, err
	}
	return d, nil
}

// otherFormat names the file formats labs keep data in that retinad does not read yet, from
// their first bytes, with what to do instead ("" for anything else).
func otherFormat(ra io.ReaderAt) string {
	var head [128]byte
	n, _ := ra.ReadAt(head[:], 0)
	b := head[:n]
	switch {
	case bytes.HasPrefix(b, []byte("\x89HDF\r\n\x1a\n")):
		return " (it is HDF5, which a retinad built without cgo does not read: write stimulus, counts and frame_rate with numpy.savez)"
	case bytes.HasPrefix(b, []byte("MATLAB ")) && bytes.Contains(b, []byte("MAT-file")): // v5 (v7.3 is HDF5)
		return " (it is a MATLAB .mat file, which retinad does not read yet: load it with scipy.io.loadmat and write stimulus, counts and frame_rate with numpy.savez)"
	case n >= 8 && string(b[:6]) == "\x93NUMPY":
		return " (it is a single .npy array: a dataset needs stimulus, counts and frame_rate together, numpy.savez)"
	}
	return ""
}

var want = map[string]string{
	"stimulus":   "float32 [T,H,W] contrast (float64, signed ints, or uint8/uint16 luminance)",
	"counts":     "float32 [T,C] (or float64, or integer counts)",
	"frame_rate": "a float64 scalar (bins per second; an integer too)",
}

// intKinds are the integer element types a dataset may hold, converted exactly (counts and
// frame rates below 2^24) to float.
const intKinds = "i8 i4 u4 i2 u2 i1 u1"

// readStimulus reads a stimulus array as contrast. Floats and signed integers are taken as
// contrast already; unsigned integers are luminance, full scale from 0 to the type's maximum,
// and become contrast around mid-gray: c = (v - max/2) / (max/2), so uint8 0 is -1, 255 is
// +1 (and 128 is +0.0039). A movie stored as uint8 is four times smaller than as float32.
func readStimulus(e npyEntry, h *npy.Header) ([]float32, error) {
	var v []float32
	err := readChunks(e, h, "f4 f8 "+intKinds, func(n int) { v = make([]float32, n) }, func(typ string, b []byte, i, chunk int) {
		switch typ {
		case "f4":
			fastFloat32(b, v[i:i+chunk])
		case "u1", "u2", "u4":
			half := float64(uint64(1)<<(8*len(b)/chunk)-1) / 2
			decode(typ, b, chunk, len(b)/chunk, i, func(i int, x float64) { v[i] = float32((x - half) / half) })
		default:
			decode(typ, b, chunk, len(b)/chunk, i, func(i int, x float64) { v[i] = float32(x) })
		}
	})
	return v, err
}

// readCounts reads spike counts of any float or integer type as float32.
func readCounts(e npyEntry, h *npy.Header) ([]float32, error) {
	var v []float32
	err := readChunks(e, h, "f4 f8 "+intKinds, func(n int) { v = make([]float32, n) }, func(typ string, b []byte, i, chunk int) {
		if typ == "f4" {
			fastFloat32(b, v[i:i+chunk])
			return
		}
		decode(typ, b, chunk, len(b)/chunk, i, func(i int, x float64) { v[i] = float32(x) })
	})
	return v, err
}

func list(keys map[string]string) string {
	if len(keys) == 0 {
		return "no arrays"
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// numel is the number of elements of shape, or -1 if a size is negative or the product overflows.
func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		if s < 0 || (s > 0 && n > math.MaxInt32*256/s) {
			return -1
		}
		n *= s
	}
	return n
}

// archive is an .npz file: a zip of .npy entries.
type archive struct{ zr *zip.Reader }

func (a *archive) file(name string) *zip.File {
	for _, f := range a.zr.File {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// npyEntry is one .npy array: an entry of an .npz archive, or a whole .npy file.
type npyEntry struct {
	size uint64 // bytes, the .npy header included
	open func() (io.ReadCloser, error)
}

func (a *archive) entry(name string) npyEntry {
	f := a.file(name)
	return npyEntry{size: entrySize(f), open: func() (io.ReadCloser, error) { return f.Open() }}
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

func (a *archive) header(name string) (*npy.Header, error) {
	return a.entry(name).header()
}

func (e npyEntry) header() (*npy.Header, error) {
	rc, err := e.open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r, err := npyReader(rc)
	if err != nil {
		return nil, err
	}
	return &r.Header, nil
}

// npyReader is npy.NewReader, with its panics on malformed headers (npyio v0.6.0 slices
// out of range on some) turned into errors.
func npyReader(rc io.Reader) (r *npy.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("malformed .npy header (%v)", p)
		}
	}()
	return npy.NewReader(rc)
}

var errDtype = errors.New("unsupported dtype")

// readArray decodes the array in entry e, whose header is h, converting each element
// to float64 and handing it to put(i, v). The element type must be one of kinds.
func readArray(e npyEntry, h *npy.Header, kinds string, alloc func(n int), put func(i int, v float64)) error {
	return readChunks(e, h, kinds, alloc, func(typ string, b []byte, i, chunk int) {
		decode(typ, b, chunk, len(b)/chunk, i, put)
	})
}

// readChunks checks the entry's type and size, calls alloc with its element count, and hands
// its raw little-endian data to chunk in pieces (of chunk elements starting at index i). It
// reads the entry to its end: the data must be exactly what the shape promises (no fewer
// bytes, no more), and a zip entry's CRC-32 is only checked there.
func readChunks(e npyEntry, h *npy.Header, kinds string, alloc func(n int), use func(typ string, b []byte, i, chunk int)) error {
	typ := strings.TrimLeft(h.Descr.Type, "<|=")
	if strings.HasPrefix(h.Descr.Type, ">") || !strings.Contains(" "+kinds+" ", " "+typ+" ") {
		return fmt.Errorf("%w %q, want one of %s (little-endian)", errDtype, h.Descr.Type, kinds)
	}
	size := map[string]int{"f4": 4, "f8": 8, "i8": 8, "i4": 4, "u4": 4, "i2": 2, "u2": 2, "u1": 1, "i1": 1}[typ]
	n := numel(h.Descr.Shape)
	if n < 0 || uint64(n) > e.size/uint64(size) {
		return fmt.Errorf("shape %v does not fit in the entry's %d bytes", h.Descr.Shape, e.size)
	}
	alloc(n)
	rc, err := e.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := npyReader(rc); err != nil { // skips the header, already parsed into h
		return err
	}
	buf := make([]byte, min(n*size, 1<<20)/size*size+size)
	for i := 0; i < n; {
		chunk := min(n-i, len(buf)/size)
		b := buf[:chunk*size]
		if _, err := io.ReadFull(rc, b); err != nil {
			return fmt.Errorf("truncated: %d of the %d elements of shape %v: %w", i, n, h.Descr.Shape, err)
		}
		use(typ, b, i, chunk)
		i += chunk
	}
	extra, err := io.Copy(io.Discard, rc)
	switch {
	case err != nil:
		return fmt.Errorf("corrupt: %w", err)
	case extra > 0:
		return fmt.Errorf("%d bytes after the %d elements of shape %v: the shape or the data is wrong", extra, n, h.Descr.Shape)
	}
	return nil
}

// decode converts chunk elements of type typ in b and hands them to put, starting at index i.
func decode(typ string, b []byte, chunk, size, i int, put func(int, float64)) {
	le := binary.LittleEndian
	for j := 0; j < chunk; j++ {
		e := b[j*size:]
		var v float64
		switch typ {
		case "f4":
			v = float64(math.Float32frombits(le.Uint32(e)))
		case "f8":
			v = math.Float64frombits(le.Uint64(e))
		case "i8":
			v = float64(int64(le.Uint64(e)))
		case "i4":
			v = float64(int32(le.Uint32(e)))
		case "u4":
			v = float64(le.Uint32(e))
		case "i2":
			v = float64(int16(le.Uint16(e)))
		case "u2":
			v = float64(le.Uint16(e))
		case "i1":
			v = float64(int8(e[0]))
		case "u1":
			v = float64(e[0])
		}
		put(i+j, v)
	}
}

// fastFloat32 decodes little-endian float32s straight into dst (the common case, and most of
// a dataset's bytes).
func fastFloat32(b []byte, dst []float32) {
	for j := range dst {
		dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
	}
}

func readFloat64(e npyEntry, h *npy.Header) ([]float64, error) {
	var v []float64
	err := readArray(e, h, "f8 f4 "+intKinds, func(n int) { v = make([]float64, n) }, func(i int, x float64) { v[i] = x })
	return v, err
}

func readInt64(e npyEntry, h *npy.Header) ([]int64, error) {
	var v []int64
	err := readArray(e, h, "i8 i4 u4 i2 u2 i1 u1", func(n int) { v = make([]int64, n) }, func(i int, x float64) { v[i] = int64(x) })
	return v, err
}

// Write writes d to path as an .npz dataset that Read (and numpy.load) accepts.
func Write(path string, d *Dataset) error {
	if err := d.Check(path); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	zw := zip.NewWriter(f)
	le := binary.LittleEndian
	arrays := []npyArray{
		{"stimulus", "<f4", []int{d.T, d.H, d.W}, len(d.Stimulus), 4, func(b []byte, i int) { le.PutUint32(b, math.Float32bits(d.Stimulus[i])) }},
		{"counts", "<f4", []int{d.T, d.C}, len(d.Counts), 4, func(b []byte, i int) { le.PutUint32(b, math.Float32bits(d.Counts[i])) }},
		{"frame_rate", "<f8", nil, 1, 8, func(b []byte, i int) { le.PutUint64(b, math.Float64bits(d.FrameRate)) }},
		{"cell_ids", "<i8", []int{d.C}, d.C, 8, func(b []byte, i int) { le.PutUint64(b, uint64(d.CellIDs[i])) }},
	}
	for _, x := range d.Extra {
		arrays = append(arrays, x.encoder())
	}
	for _, a := range arrays {
		var w io.Writer
		if w, err = zw.CreateHeader(&zip.FileHeader{Name: a.name + ".npy", Method: zip.Store}); err != nil {
			break
		}
		if _, err = w.Write(npyHeader(a.dtype, a.shape)); err != nil {
			break
		}
		buf := make([]byte, 0, max(1<<20, a.size))
		for i := 0; i < a.n; i++ {
			buf = buf[:len(buf)+a.size]
			a.enc(buf[len(buf)-a.size:], i)
			if len(buf)+a.size > cap(buf) || i == a.n-1 {
				if _, err = w.Write(buf); err != nil {
					break
				}
				buf = buf[:0]
			}
		}
		if err != nil {
			break
		}
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dataset: write %s: %w", path, err)
	}
	return nil
}

// check reports an extra array whose name, type or length is wrong.
func (a Array) check() error {
	if a.Name == "" || strings.ContainsAny(a.Name, "/\\\x00") {
		return fmt.Errorf("extra array %q: want a plain name", a.Name)
	}
	n := 1
	for _, s := range a.Shape {
		if s < 0 {
			return fmt.Errorf("extra array %q: shape %v", a.Name, a.Shape)
		}
		n *= s
	}
	var have int
	switch v := a.Data.(type) {
	case []float32:
		have = len(v)
	case []float64:
		have = len(v)
	case []int64:
		have = len(v)
	case []uint8:
		have = len(v)
	case []string:
		have = len(v)
	default:
		return fmt.Errorf("extra array %q: %T, want []float32, []float64, []int64, []uint8 or []string", a.Name, a.Data)
	}
	if have != n {
		return fmt.Errorf("extra array %q: %d values for shape %v", a.Name, have, a.Shape)
	}
	return nil
}

// npyArray is an array as Write stores it: n elements of size bytes, element i encoded by enc.
type npyArray struct {
	name, dtype string
	shape       []int
	n, size     int
	enc         func(b []byte, i int)
}

// encoder is how Write stores a checked extra array.
func (a Array) encoder() npyArray {
	le := binary.LittleEndian
	type enc = npyArray
	switch v := a.Data.(type) {
	case []float32:
		return enc{a.Name, "<f4", a.Shape, len(v), 4, func(b []byte, i int) { le.PutUint32(b, math.Float32bits(v[i])) }}
	case []float64:
		return enc{a.Name, "<f8", a.Shape, len(v), 8, func(b []byte, i int) { le.PutUint64(b, math.Float64bits(v[i])) }}
	case []int64:
		return enc{a.Name, "<i8", a.Shape, len(v), 8, func(b []byte, i int) { le.PutUint64(b, uint64(v[i])) }}
	case []uint8:
		return enc{a.Name, "|u1", a.Shape, len(v), 1, func(b []byte, i int) { b[0] = v[i] }}
	}
	v := a.Data.([]string) // check allows no other type
	runes := make([][]rune, len(v))
	width := 1
	for i, s := range v {
		runes[i] = []rune(s)
		width = max(width, len(runes[i]))
	}
	return enc{a.Name, fmt.Sprintf("<U%d", width), a.Shape, len(v), 4 * width, func(b []byte, i int) {
		clear(b)
		for j, r := range runes[i] {
			le.PutUint32(b[4*j:], uint32(r))
		}
	}}
}

// npyHeader is the .npy version 1.0 header for a C-order array of dtype and shape.
func npyHeader(dtype string, shape []int) []byte {
	var s strings.Builder
	s.WriteString("(")
	for i, n := range shape {
		if i > 0 {
			s.WriteString(", ")
		}
		fmt.Fprint(&s, n)
	}
	if len(shape) == 1 {
		s.WriteString(",")
	}
	s.WriteString(")")
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", dtype, s.String())
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	dict += strings.Repeat(" ", pad) + "\n"
	h := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(h[8:], uint16(len(dict)))
	return append(h, dict...)
}
