package dataset

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"retinad/infer/npy"
)

func init() {
	Register("MATLAB v5 .mat", isMat5, openMat5)
}

// isMat5 matches a MATLAB level 5 MAT-file (what save writes by default before -v7.3, and
// scipy.io.savemat): text starting "MATLAB 5.0 MAT-file", version 0x0100, and the endian
// indicator "IM" (little-endian) or "MI" (big-endian) at bytes 126-127.
func isMat5(head []byte) bool {
	if len(head) < 128 || !bytes.HasPrefix(head, []byte("MATLAB 5.0 MAT-file")) {
		return false
	}
	e := string(head[126:128])
	return e == "IM" || e == "MI"
}

// MAT-file data types (the miXXX of MATLAB's "MAT-File Format") and array classes (mxXXX).
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
)

// miDtype is the numpy dtype (without byte order) of each numeric data type.
var miDtype = map[uint32]string{miINT8: "i1", miUINT8: "u1", miINT16: "i2", miUINT16: "u2",
	miINT32: "i4", miUINT32: "u4", miSINGLE: "f4", miDOUBLE: "f8", miINT64: "i8", miUINT64: "u8"}

// mxClass is the kind, bits and name of each numeric array class; the others are named only.
var mxClass = map[byte]struct {
	kind byte
	bits int
	name string
}{6: {'f', 64, "double"}, 7: {'f', 32, "single"}, 8: {'i', 8, "int8"}, 9: {'u', 8, "uint8"},
	10: {'i', 16, "int16"}, 11: {'u', 16, "uint16"}, 12: {'i', 32, "int32"}, 13: {'u', 32, "uint32"},
	14: {'i', 64, "int64"}, 15: {'u', 64, "uint64"}}

var mxOther = map[byte]string{1: "a cell array", 2: "a struct", 3: "an object", 4: "a char array", 5: "a sparse matrix"}

// matVar is one top-level variable of a MAT-file.
type matVar struct {
	info  ArrayInfo
	dims  []int  // MATLAB's, column-major
	dtype string // the stored real part's numpy dtype, with byte order
	data  []byte // the stored real part
	bad   string // why it cannot be read as numbers ("" if it can)
}

// matSource is a MAT-file read whole into memory (MATLAB compresses variables, so they cannot
// be read in place).
type matSource struct {
	path string
	vars map[string]*matVar
}

func openMat5(ra io.ReaderAt, size int64, path string) (Source, error) {
	b := make([]byte, size)
	if _, err := ra.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	vars, err := parseMat5(b)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: MATLAB v5 .mat: %w", path, err)
	}
	return &matSource{path, vars}, nil
}

// parseMat5 reads the variables of the MAT-file in b. It is a pure function of b, fuzzed.
func parseMat5(b []byte) (map[string]*matVar, error) {
	if !isMat5(b) {
		return nil, errors.New("no MATLAB 5.0 header")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if string(b[126:128]) == "MI" {
		bo = binary.BigEndian
	}
	vars := map[string]*matVar{}
	for off := 128; off < len(b); {
		typ, body, next, err := element(b, off, bo)
		if err != nil {
			return nil, err
		}
		if typ == miCOMPRESSED {
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("compressed element at byte %d: %w", off, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				return nil, fmt.Errorf("compressed element at byte %d: %w", off, err)
			}
			if typ, body, _, err = element(body, 0, bo); err != nil {
				return nil, fmt.Errorf("compressed element at byte %d: %w", off, err)
			}
		}
		if typ == miMATRIX {
			name, v, err := matrix(body, bo)
			if err != nil {
				return nil, fmt.Errorf("variable at byte %d: %w", off, err)
			}
			if _, dup := vars[name]; dup {
				return nil, fmt.Errorf("variable %q stored twice", name)
			}
			vars[name] = v
		}
		off = next
	}
	return vars, nil
}

// element parses the data element at b[off:]: its type, its body, and where the next starts.
func element(b []byte, off int, bo binary.ByteOrder) (typ uint32, body []byte, next int, err error) {
	if off+8 > len(b) {
		return 0, nil, 0, fmt.Errorf("element at byte %d: truncated tag", off)
	}
	typ, n := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
	if typ>>16 != 0 { // small data element: 2-byte size, 2-byte type, up to 4 bytes of data
		n, typ = typ>>16, typ&0xffff
		if n > 4 {
			return 0, nil, 0, fmt.Errorf("element at byte %d: small element of %d bytes, want at most 4", off, n)
		}
		return typ, b[off+4 : off+4+int(n)], off + 8, nil
	}
	if uint64(n) > uint64(len(b)-off-8) {
		return 0, nil, 0, fmt.Errorf("element at byte %d: %d bytes, the file has %d left: truncated", off, n, len(b)-off-8)
	}
	next = off + 8 + int(n)
	if typ != miCOMPRESSED {
		next += (8 - int(n)%8) % 8
	}
	return typ, b[off+8 : off+8+int(n)], min(next, len(b)), nil
}

// matrix parses an miMATRIX body: array flags, dimensions, name, real part.
func matrix(b []byte, bo binary.ByteOrder) (string, *matVar, error) {
	var parts [4][]byte
	var types [4]uint32
	off := 0
	for i := range parts {
		if off >= len(b) {
			if i < 3 || len(b) == 0 {
				return "", nil, errors.New("truncated array")
			}
			break
		}
		t, body, next, err := element(b, off, bo)
		if err != nil {
			return "", nil, err
		}
		parts[i], types[i], off = body, t, next
	}
	if types[0] != miUINT32 || len(parts[0]) < 8 {
		return "", nil, errors.New("array flags missing")
	}
	flags := bo.Uint32(parts[0])
	class, complex, logical := byte(flags), flags&0x800 != 0, flags&0x200 != 0
	if types[1] != miINT32 || len(parts[1])%4 != 0 || len(parts[1]) < 8 {
		return "", nil, errors.New("dimensions missing")
	}
	v := &matVar{}
	n := 1
	for i := 0; i < len(parts[1]); i += 4 {
		d := int(int32(bo.Uint32(parts[1][i:])))
		if d < 0 || (d > 0 && n > 1<<40/d) {
			return "", nil, fmt.Errorf("dimension %d", d)
		}
		v.dims = append(v.dims, d)
		n *= d
	}
	if types[2] != miINT8 {
		return "", nil, errors.New("array name missing")
	}
	name := string(parts[2])
	c, numeric := mxClass[class]
	switch {
	case !numeric:
		v.bad = "is " + mxOther[class]
		if mxOther[class] == "" {
			v.bad = fmt.Sprintf("has class %d", class)
		}
	case complex:
		v.bad = "is complex"
	case parts[3] == nil && n > 0:
		return "", nil, fmt.Errorf("variable %q: real part missing", name)
	default:
		dt, ok := miDtype[types[3]]
		if !ok {
			return "", nil, fmt.Errorf("variable %q: real part of data type %d, want a numeric type", name, types[3])
		}
		order := "<"
		if bo == binary.BigEndian {
			order = ">"
		}
		v.dtype, v.data = order+dt, parts[3]
		if size := int(dt[1] - '0'); len(v.data) != n*size {
			return "", nil, fmt.Errorf("variable %q: %d bytes of %s for dimensions %v", name, len(v.data), dt, v.dims)
		}
	}
	v.info = ArrayInfo{Shape: v.dims, Kind: c.kind, Bits: c.bits, Type: c.name, Matlab: true}
	if logical {
		v.info.Kind, v.info.Bits, v.info.Type = 'b', 1, "logical"
	}
	return name, v, nil
}

func (s *matSource) Names() []string {
	names := make([]string, 0, len(s.vars))
	for k := range s.vars {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (s *matSource) Close() error { return nil }

// hint names the structs among the variables: labs often save one struct of arrays, which
// retinad reads only as top-level variables.
func (s *matSource) hint() string {
	for _, name := range s.Names() {
		if s.vars[name].bad == "is a struct" {
			return fmt.Sprintf("; %s is a struct: save its fields as variables, save(f, '-struct', '%s') in MATLAB", name, name)
		}
	}
	return ""
}

func (s *matSource) variable(name string) (*matVar, error) {
	v, ok := s.vars[name]
	switch {
	case !ok:
		return nil, fmt.Errorf("no variable %q", name)
	case v.bad != "":
		return nil, fmt.Errorf("variable %s %s, want a numeric array", name, v.bad)
	}
	return v, nil
}

func (s *matSource) Info(name string) (ArrayInfo, error) {
	v, err := s.variable(name)
	if err != nil {
		return ArrayInfo{}, err
	}
	return v.info, nil
}

func (s *matSource) ReadFloat32(name string, dst []float32) error { return matRead(s, name, dst) }
func (s *matSource) ReadFloat64(name string, dst []float64) error { return matRead(s, name, dst) }
func (s *matSource) ReadInt64(name string, dst []int64) error     { return matRead(s, name, dst) }

// matRead converts variable name into dst, reordered from MATLAB's column-major to row-major.
func matRead[T npy.Elem](s *matSource, name string, dst []T) error {
	v, err := s.variable(name)
	if err != nil {
		return err
	}
	if err := matDecode(v, dst); err != nil {
		return fmt.Errorf("variable %s: %w", name, err)
	}
	copy(dst, npy.FromFortran(dst, v.dims))
	return nil
}

// matDecode converts v's data into dst. MATLAB keeps integers in doubles by default (ids,
// counts), so doubles holding whole numbers are read as integers too; any fraction is refused.
func matDecode[T npy.Elem](v *matVar, dst []T) error {
	if v.dtype[1] != 'f' || npy.Dtype[T]()[1] == 'f' {
		return npy.Decode(v.dtype, v.data, dst)
	}
	f := make([]float64, len(dst))
	if err := npy.Decode(v.dtype, v.data, f); err != nil {
		return err
	}
	return wholeNumbers(f, dst)
}

// wholeNumbers converts the MATLAB doubles f, which must be whole numbers, into dst (of the
// same length). Both MATLAB containers (v5 here, v7.3 in hdf5.go) read integers through it.
func wholeNumbers[T npy.Elem](f []float64, dst []T) error {
	for i, x := range f {
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return fmt.Errorf("%v at element %d (column-major), want whole numbers", x, i)
		}
		dst[i] = T(x)
	}
	return nil
}
