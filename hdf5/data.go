//go:build cgo

package hdf5

/*
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ASCII is a string attribute value stored as a fixed-length, null-terminated ASCII string
// (what MATLAB reads its MATLAB_class attributes as); a plain string is variable-length UTF-8.
type ASCII string

// Ref is an object reference attribute value: the absolute path of a group or dataset of the
// same file (NWB's VectorIndex.target, for one).
type Ref string

// chunkBytes is the size from which a dataset is chunked and compressed, and about each chunk's.
const chunkBytes = 1 << 16

// value is a Go value laid out for the library: its type, shape and bytes.
type value struct {
	typ      C.hid_t
	ownsType bool // typ was made for this value and must be closed
	dims     []C.hsize_t
	scalar   bool
	buf      unsafe.Pointer
	elem     int // bytes per element
	free     func()
}

func (v *value) close() {
	if v.ownsType {
		C.H5Tclose(v.typ)
	}
	if v.free != nil {
		v.free()
	}
}

// kindOf is the native type number (see native in hdf5.go) and element size of a numeric slice.
func kindOf(data any) (k C.int, size int, n int, p unsafe.Pointer, ok bool) {
	ptr := func(n int, q unsafe.Pointer) unsafe.Pointer {
		if n == 0 {
			return nil
		}
		return q
	}
	switch d := data.(type) {
	case []float32:
		return 1, 4, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []float64:
		return 2, 8, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []int8:
		return 3, 1, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []int16:
		return 4, 2, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []int32:
		return 5, 4, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []int64:
		return 6, 8, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []uint8:
		return 7, 1, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []uint16:
		return 8, 2, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []uint32:
		return 9, 4, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	case []uint64:
		return 10, 8, len(d), ptr(len(d), unsafe.Pointer(unsafe.SliceData(d))), true
	}
	return 0, 0, 0, nil, false
}

// scalarSlice turns a scalar Go value into a one-element slice (ok false: not a scalar).
func scalarSlice(v any) (any, bool) {
	switch x := v.(type) {
	case float32:
		return []float32{x}, true
	case float64:
		return []float64{x}, true
	case int8:
		return []int8{x}, true
	case int16:
		return []int16{x}, true
	case int32:
		return []int32{x}, true
	case int64:
		return []int64{x}, true
	case int:
		return []int64{int64(x)}, true
	case uint8:
		return []uint8{x}, true
	case uint16:
		return []uint16{x}, true
	case uint32:
		return []uint32{x}, true
	case uint64:
		return []uint64{x}, true
	case string:
		return []string{x}, true
	case ASCII:
		return []ASCII{x}, true
	case Ref:
		return []Ref{x}, true
	}
	return nil, false
}

// encode lays data out for the library. shape nil is 1-D; scalar makes a scalar dataspace.
func (o *object) encode(data any, shape []int, scalar bool) (*value, error) {
	v := &value{scalar: scalar}
	n := 0
	if k, size, m, p, ok := kindOf(data); ok {
		v.typ, v.elem, v.buf, n = C.rd_native(k), size, p, m
	} else {
		switch d := data.(type) {
		case []string:
			n = len(d)
			if err := v.strings(d); err != nil {
				return nil, fmt.Errorf("hdf5: %s: %s: %w", o.f.path, o.path, err)
			}
		case []ASCII:
			n = len(d)
			v.ascii(d)
		case []Ref:
			n = len(d)
			if err := o.refs(v, d); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("hdf5: %s: %s: values of type %T are not supported", o.f.path, o.path, data)
		}
	}
	if scalar {
		if n != 1 {
			v.close()
			return nil, fmt.Errorf("hdf5: %s: %s: a scalar needs one value, got %d", o.f.path, o.path, n)
		}
		return v, nil
	}
	if shape == nil {
		shape = []int{n}
	}
	total := 1
	for _, d := range shape {
		total *= d
		v.dims = append(v.dims, C.hsize_t(d))
	}
	if total != n || len(shape) == 0 || len(shape) > 3 {
		v.close()
		return nil, fmt.Errorf("hdf5: %s: %s: %d values for shape %v (want 1 to 3 dimensions)", o.f.path, o.path, n, shape)
	}
	return v, nil
}

// strings lays Go strings out as variable-length UTF-8 strings in C memory.
func (v *value) strings(s []string) error {
	v.typ, v.ownsType, v.elem = C.rd_vlenUTF8(), true, int(unsafe.Sizeof(uintptr(0)))
	if v.typ < 0 {
		return libError()
	}
	if len(s) == 0 {
		return nil
	}
	ptrs := (*[1 << 30]*C.char)(C.malloc(C.size_t(len(s)) * C.size_t(unsafe.Sizeof(uintptr(0)))))[:len(s):len(s)]
	for i, x := range s {
		ptrs[i] = C.CString(x)
	}
	v.buf = unsafe.Pointer(&ptrs[0])
	v.free = func() {
		for _, p := range ptrs {
			C.free(unsafe.Pointer(p))
		}
		C.free(v.buf)
	}
	return nil
}

// ascii lays strings out as fixed-length null-terminated ASCII, as long as the longest.
func (v *value) ascii(s []ASCII) {
	width := 1
	for _, x := range s {
		width = max(width, len(x)+1)
	}
	v.typ, v.ownsType, v.elem = C.rd_fixedASCII(C.size_t(width)), true, width
	b := make([]byte, width*max(len(s), 1))
	for i, x := range s {
		copy(b[i*width:], x)
	}
	cb := C.CBytes(b)
	v.buf, v.free = cb, func() { C.free(cb) }
}

// refs makes object references to the paths in s.
func (o *object) refs(v *value, s []Ref) error {
	v.typ, v.elem = C.rd_native(11), int(unsafe.Sizeof(C.hobj_ref_t(0)))
	refs := make([]C.hobj_ref_t, max(len(s), 1))
	for i, p := range s {
		cp := C.CString(string(p))
		rc := C.H5Rcreate(unsafe.Pointer(&refs[i]), o.f.id, cp, C.H5R_OBJECT, -1)
		C.free(unsafe.Pointer(cp))
		if rc < 0 {
			return o.errorf("reference to %q", string(p))
		}
	}
	cb := C.CBytes(unsafe.Slice((*byte)(unsafe.Pointer(&refs[0])), len(refs)*v.elem))
	v.buf, v.free = cb, func() { C.free(cb) }
	return nil
}

func (v *value) space() C.hid_t {
	if v.scalar {
		return C.H5Screate(C.H5S_SCALAR)
	}
	return C.H5Screate_simple(C.int(len(v.dims)), &v.dims[0], nil)
}

// Dataset is an HDF5 dataset.
type Dataset struct{ object }

// Write writes data ([]float32 ... []uint64, []string) as the dataset name in g with the given
// shape (none: 1-D), chunked and gzip-compressed when it is large.
func (g *Group) Write(name string, data any, shape ...int) (*Dataset, error) {
	lock()
	defer unlock()
	return g.write(name, data, shape, false)
}

// WriteScalar writes v (a number, string, ASCII or Ref) as the scalar dataset name in g.
func (g *Group) WriteScalar(name string, v any) (*Dataset, error) {
	s, ok := scalarSlice(v)
	if !ok {
		return nil, fmt.Errorf("hdf5: %s: %s: scalar %q of type %T is not supported", g.f.path, g.path, name, v)
	}
	lock()
	defer unlock()
	return g.write(name, s, nil, true)
}

func (g *Group) write(name string, data any, shape []int, scalar bool) (*Dataset, error) {
	d := &Dataset{object{f: g.f, path: g.child(name)}}
	v, err := d.encode(data, shape, scalar)
	if err != nil {
		return nil, err
	}
	defer v.close()
	space := v.space()
	if space < 0 {
		return nil, d.errorf("dataspace %v", shape)
	}
	defer C.H5Sclose(space)
	dcpl, err := d.layout(v)
	if err != nil {
		return nil, err
	}
	defer C.H5Pclose(dcpl)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	d.id = C.H5Dcreate2(g.id, cname, v.typ, space, C.H5P_DEFAULT, dcpl, C.H5P_DEFAULT)
	if d.id < 0 {
		return nil, d.errorf("create dataset")
	}
	if v.buf != nil && C.H5Dwrite(d.id, v.typ, C.H5S_ALL, C.H5S_ALL, C.H5P_DEFAULT, v.buf) < 0 {
		C.H5Dclose(d.id)
		return nil, d.errorf("write")
	}
	return d, nil
}

// layout is the creation property list: contiguous, or, for numeric data of chunkBytes or more,
// chunked along the first dimension (about 1 MiB a chunk), byte-shuffled and deflated at level
// 1: an 8-bit movie stored as float32 shrinks to 0.30 of its size, at about 25 MB/s on the
// shared machine (BenchmarkWriteMovie); higher levels cost more time for little.
func (d *Dataset) layout(v *value) (C.hid_t, error) {
	dcpl := C.H5Pcreate(C.rd_plist(2))
	if dcpl < 0 {
		return -1, d.errorf("property list")
	}
	if v.scalar || v.ownsType || len(v.dims) == 0 {
		return dcpl, nil
	}
	row := v.elem // bytes per index of the first dimension
	for _, n := range v.dims[1:] {
		row *= int(n)
	}
	if row == 0 || int(v.dims[0])*row < chunkBytes {
		return dcpl, nil
	}
	chunk := append([]C.hsize_t(nil), v.dims...)
	chunk[0] = C.hsize_t(max(1, min(int(v.dims[0]), 16*chunkBytes/row)))
	if C.H5Pset_chunk(dcpl, C.int(len(chunk)), &chunk[0]) < 0 || C.H5Pset_shuffle(dcpl) < 0 || C.H5Pset_deflate(dcpl, 1) < 0 {
		C.H5Pclose(dcpl)
		return -1, d.errorf("chunked, compressed layout")
	}
	return dcpl, nil
}

// SetAttr sets the attribute name of the object to v: a number, string, ASCII or Ref, or a
// slice of one of those (a 1-D attribute).
func (o *object) SetAttr(name string, v any) error {
	data, scalar := scalarSlice(v)
	if !scalar {
		data = v
	}
	lock()
	defer unlock()
	val, err := o.encode(data, nil, scalar)
	if err != nil {
		return fmt.Errorf("%w (attribute %q)", err, name)
	}
	defer val.close()
	space := val.space()
	if space < 0 {
		return o.errorf("attribute %q: dataspace", name)
	}
	defer C.H5Sclose(space)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	a := C.H5Acreate2(o.id, cname, val.typ, space, C.H5P_DEFAULT, C.H5P_DEFAULT)
	if a < 0 {
		return o.errorf("create attribute %q", name)
	}
	defer C.H5Aclose(a)
	if val.buf != nil && C.H5Awrite(a, val.typ, val.buf) < 0 {
		return o.errorf("write attribute %q", name)
	}
	return nil
}

// Create makes the numeric dataset name in g, of sample's element type (any slice of it, e.g.
// []float32(nil)) and the given shape, laid out as Write would, for WriteRows to fill: a large
// array can then be written in slabs without a second copy of it in memory.
func (g *Group) Create(name string, sample any, shape ...int) (*Dataset, error) {
	k, size, _, _, ok := kindOf(sample)
	d := &Dataset{object{f: g.f, path: g.child(name)}}
	if !ok || len(shape) < 1 || len(shape) > 3 {
		return nil, fmt.Errorf("hdf5: %s: %s: cannot create a dataset of %T, shape %v (want a numeric slice, 1 to 3 dimensions)", g.f.path, d.path, sample, shape)
	}
	lock()
	defer unlock()
	v := &value{typ: C.rd_native(k), elem: size}
	for _, n := range shape {
		v.dims = append(v.dims, C.hsize_t(n))
	}
	space := v.space()
	if space < 0 {
		return nil, d.errorf("dataspace %v", shape)
	}
	defer C.H5Sclose(space)
	dcpl, err := d.layout(v)
	if err != nil {
		return nil, err
	}
	defer C.H5Pclose(dcpl)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if d.id = C.H5Dcreate2(g.id, cname, v.typ, space, C.H5P_DEFAULT, dcpl, C.H5P_DEFAULT); d.id < 0 {
		return nil, d.errorf("create dataset")
	}
	return d, nil
}

// WriteRows writes data (a numeric slice, whole rows of the dataset's later dimensions) to
// the rows of the first dimension from first on.
func (d *Dataset) WriteRows(first int, data any) error {
	k, _, n, p, ok := kindOf(data)
	if !ok {
		return fmt.Errorf("hdf5: %s: %s: cannot write %T", d.f.path, d.path, data)
	}
	lock()
	defer unlock()
	shape, err := d.shape()
	if err != nil {
		return err
	}
	row := 1
	for _, s := range shape[1:] {
		row *= s
	}
	if len(shape) == 0 || row == 0 || n%row != 0 || first < 0 || first+n/row > shape[0] {
		return fmt.Errorf("hdf5: %s: %s: %d values from row %d do not fit whole rows of shape %v", d.f.path, d.path, n, first, shape)
	}
	if n == 0 {
		return nil
	}
	start := make([]C.hsize_t, len(shape))
	count := make([]C.hsize_t, len(shape))
	start[0], count[0] = C.hsize_t(first), C.hsize_t(n/row)
	for i := 1; i < len(shape); i++ {
		count[i] = C.hsize_t(shape[i])
	}
	fspace := C.H5Dget_space(d.id)
	if fspace < 0 {
		return d.errorf("dataspace")
	}
	defer C.H5Sclose(fspace)
	if C.H5Sselect_hyperslab(fspace, C.H5S_SELECT_SET, &start[0], nil, &count[0], nil) < 0 {
		return d.errorf("select rows %d to %d", first, first+n/row)
	}
	mspace := C.H5Screate_simple(C.int(len(shape)), &count[0], nil)
	if mspace < 0 {
		return d.errorf("memory dataspace")
	}
	defer C.H5Sclose(mspace)
	if C.H5Dwrite(d.id, C.rd_native(k), mspace, fspace, C.H5P_DEFAULT, p) < 0 {
		return d.errorf("write rows %d to %d", first, first+n/row)
	}
	return nil
}
