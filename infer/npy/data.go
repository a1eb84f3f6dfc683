package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"unsafe"
)

// Elem is a Go element type that arrays are read into and written from.
type Elem interface {
	float32 | float64 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64
}

// dtype is a parsed numpy descr of a plain numeric type.
type dtype struct {
	kind byte // 'f' float, 'i' signed, 'u' unsigned, 'b' bool
	size int  // bytes per element
	big  bool // big-endian in the file
}

// littleHost is whether this machine stores numbers as .npy files usually do, so that an array
// of the wanted type can be read straight into memory.
var littleHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// errDtype is wrapped by the errors about element types.
var errDtype = errors.New("unsupported dtype")

// refused names the numpy kinds that are not numbers, for the error that refuses them.
var refused = map[byte]string{'U': "unicode strings", 'S': "byte strings", 'a': "byte strings",
	'O': "Python objects", 'c': "complex numbers", 'M': "datetimes", 'm': "timedeltas", 'V': "raw bytes"}

// parseDtype parses a descr such as "<f4", "|u1", "|b1", ">i8" or "=f8".
func parseDtype(s string) (dtype, error) {
	if len(s) < 2 {
		return dtype{}, fmt.Errorf("%w %q, want a numeric dtype such as '<f4'", errDtype, s)
	}
	var d dtype
	switch s[0] {
	case '<', '|':
	case '=':
		d.big = !littleHost
	case '>':
		d.big = true
	default:
		s = "|" + s
	}
	d.kind = s[1]
	if what, ok := refused[d.kind]; ok {
		return dtype{}, fmt.Errorf("%w %q (%s), want numbers (f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)", errDtype, s, what)
	}
	ok := false
	switch s[2:] {
	case "1":
		d.size, ok = 1, d.kind != 'f'
	case "2":
		d.size, ok = 2, d.kind == 'i' || d.kind == 'u'
	case "4":
		d.size, ok = 4, d.kind != 'b'
	case "8":
		d.size, ok = 8, d.kind != 'b'
	}
	if !ok || (d.kind != 'f' && d.kind != 'i' && d.kind != 'u' && d.kind != 'b') {
		return dtype{}, fmt.Errorf("%w %q, want one of f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1", errDtype, s)
	}
	return d, nil
}

// dtypeOf is the dtype of Go type T in memory on this machine.
func dtypeOf[T Elem]() dtype {
	var z T
	d := dtype{size: int(unsafe.Sizeof(z)), big: !littleHost}
	switch any(z).(type) {
	case float32, float64:
		d.kind = 'f'
	case int8, int16, int32, int64:
		d.kind = 'i'
	default:
		d.kind = 'u'
	}
	return d
}

// Dtype is the descr retinad writes for T: little-endian, e.g. "<f4" for float32, "|u1" for
// uint8.
func Dtype[T Elem]() string {
	d := dtypeOf[T]()
	if d.size == 1 {
		return fmt.Sprintf("|%c1", d.kind)
	}
	return fmt.Sprintf("<%c%d", d.kind, d.size)
}

// bytesOf views a slice's memory as bytes (no copy).
func bytesOf[T Elem](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(v[0])))
}

// chunkBytes is how many bytes a converting read decodes at a time: large enough that the
// reads cost nothing, small enough to stay in cache.
const chunkBytes = 256 << 10

// readData reads the len(dst) elements of type d from r into dst, in file order. An element
// type equal to T's in memory is read straight into dst; any other is converted chunk by chunk.
func readData[T Elem](r io.Reader, d dtype, dst []T) error {
	want := dtypeOf[T]()
	if want.kind != 'f' && d.kind == 'f' {
		return fmt.Errorf("%w: floats (%c%d), want integers", errDtype, d.kind, d.size)
	}
	if d == want {
		if n, err := io.ReadFull(r, bytesOf(dst)); err != nil {
			return truncated(n/d.size, len(dst), err)
		}
		return nil
	}
	buf := make([]byte, min(len(dst)*d.size, chunkBytes/d.size*d.size))
	for i := 0; i < len(dst); {
		k := min(len(dst)-i, len(buf)/d.size)
		b := buf[:k*d.size]
		if n, err := io.ReadFull(r, b); err != nil {
			return truncated(i+n/d.size, len(dst), err)
		}
		if d.big && d.size > 1 {
			swap(b, d.size)
		}
		convert(d, b, dst[i:i+k])
		i += k
	}
	return nil
}

func truncated(have, want int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated: %d of its %d elements", have, want)
	}
	return fmt.Errorf("read: %w", err)
}

// swap reverses the bytes of each size-byte element of b in place.
func swap(b []byte, size int) {
	le := binary.LittleEndian
	for i := 0; i+size <= len(b); i += size {
		switch size {
		case 2:
			le.PutUint16(b[i:], bits.ReverseBytes16(le.Uint16(b[i:])))
		case 4:
			le.PutUint32(b[i:], bits.ReverseBytes32(le.Uint32(b[i:])))
		case 8:
			le.PutUint64(b[i:], bits.ReverseBytes64(le.Uint64(b[i:])))
		}
	}
}

// convert decodes the little-endian elements of type d in b into dst, one loop per type so
// that the per-element work is a load and a conversion.
func convert[T Elem](d dtype, b []byte, dst []T) {
	le := binary.LittleEndian
	switch {
	case d.kind == 'f' && d.size == 4:
		for i := range dst {
			dst[i] = T(math.Float32frombits(le.Uint32(b[4*i:])))
		}
	case d.kind == 'f':
		for i := range dst {
			dst[i] = T(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	case d.kind == 'b':
		for i := range dst {
			dst[i] = 0
			if b[i] != 0 {
				dst[i] = 1
			}
		}
	case d.kind == 'u' && d.size == 1:
		for i, x := range b[:len(dst)] {
			dst[i] = T(x)
		}
	case d.kind == 'i' && d.size == 1:
		for i := range dst {
			dst[i] = T(int8(b[i]))
		}
	case d.kind == 'u' && d.size == 2:
		for i := range dst {
			dst[i] = T(le.Uint16(b[2*i:]))
		}
	case d.kind == 'i' && d.size == 2:
		for i := range dst {
			dst[i] = T(int16(le.Uint16(b[2*i:])))
		}
	case d.kind == 'u' && d.size == 4:
		for i := range dst {
			dst[i] = T(le.Uint32(b[4*i:]))
		}
	case d.kind == 'i' && d.size == 4:
		for i := range dst {
			dst[i] = T(int32(le.Uint32(b[4*i:])))
		}
	case d.kind == 'u':
		for i := range dst {
			dst[i] = T(le.Uint64(b[8*i:]))
		}
	default:
		for i := range dst {
			dst[i] = T(int64(le.Uint64(b[8*i:])))
		}
	}
}

// fortranToC returns the column-major array v of shape as row-major.
func fortranToC[T Elem](v []T, shape []int) []T {
	if len(shape) < 2 || len(v) == 0 {
		return v
	}
	out := make([]T, len(v))
	stride := make([]int, len(shape)) // row-major strides
	s := 1
	for k := len(shape) - 1; k >= 0; k-- {
		stride[k] = s
		s *= shape[k]
	}
	idx := make([]int, len(shape))
	off := 0
	for _, x := range v { // file order: the first index varies fastest
		out[off] = x
		for k := range idx {
			idx[k]++
			off += stride[k]
			if idx[k] < shape[k] {
				break
			}
			off -= idx[k] * stride[k]
			idx[k] = 0
		}
	}
	return out
}

// WriteData writes data's elements to w as little-endian bytes, the body of an array whose
// header says Dtype[T]().
func WriteData[T Elem](w io.Writer, data []T) error {
	if littleHost {
		_, err := w.Write(bytesOf(data))
		return err
	}
	var buf []byte
	for i := 0; i < len(data); i += 4096 {
		part := data[i:min(i+4096, len(data))]
		buf = append(buf[:0], bytesOf(part)...)
		swap(buf, int(unsafe.Sizeof(part[0])))
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// Write writes data as a whole .npy array of the given shape (its product must be len(data))
// to w.
func Write[T Elem](w io.Writer, shape []int, data []T) error {
	if err := write(w, shape, data); err != nil {
		return fmt.Errorf("npy: write: %w", err)
	}
	return nil
}

// write is Write without the package prefix on its errors, for the writers that add their own.
func write[T Elem](w io.Writer, shape []int, data []T) error {
	if n := (Header{Shape: shape}).Len(); n != len(data) {
		return fmt.Errorf("%d values for shape %v", len(data), shape)
	}
	if _, err := w.Write(AppendHeader(nil, Dtype[T](), shape)); err != nil {
		return err
	}
	return WriteData(w, data)
}

// WriteStrings writes v as a numpy unicode array ('<U' of the longest string's length in
// code points) of the given shape to w.
func WriteStrings(w io.Writer, shape []int, v []string) error {
	if n := (Header{Shape: shape}).Len(); n != len(v) {
		return fmt.Errorf("npy: write: %d strings for shape %v", len(v), shape)
	}
	width := 1
	for _, s := range v {
		width = max(width, len([]rune(s)))
	}
	b := AppendHeader(nil, fmt.Sprintf("<U%d", width), shape)
	for _, s := range v {
		n := 0
		for _, r := range s {
			b = binary.LittleEndian.AppendUint32(b, uint32(r))
			n++
		}
		b = append(b, make([]byte, 4*(width-n))...)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("npy: write: %w", err)
	}
	return nil
}

// Decode converts the elements in b, of numpy dtype descr (e.g. "<f8", "|u1", ">i4"), into
// dst: b holds exactly len(dst) elements. It is the conversion ReadInto uses, for containers
// that hold raw arrays of the same element types (MATLAB v5 files).
func Decode[T Elem](descr string, b []byte, dst []T) error {
	d, err := parseDtype(descr)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if len(b) != len(dst)*d.size {
		return fmt.Errorf("npy: %d bytes of %s for %d elements", len(b), descr, len(dst))
	}
	return readData(bytes.NewReader(b), d, dst)
}

// FromFortran returns the column-major array v of shape as a new row-major slice (v itself
// when the order makes no difference).
func FromFortran[T Elem](v []T, shape []int) []T { return fortranToC(v, shape) }
