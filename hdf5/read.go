//go:build cgo

package hdf5

/*
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// Class is the kind of a dataset's elements.
type Class int

const (
	Other  Class = iota // compound, reference, ...: not readable here
	Float               // IEEE float of Size bytes
	Int                 // signed integer
	Uint                // unsigned integer
	String              // fixed-length or variable-length string
)

func (c Class) String() string {
	return [...]string{"other", "float", "int", "uint", "string"}[c]
}

// OpenDataset opens the dataset at path (relative to g, or absolute).
func (g *Group) OpenDataset(path string) (*Dataset, error) {
	lock()
	defer unlock()
	cname := C.CString(path)
	defer C.free(unsafe.Pointer(cname))
	d := &Dataset{object{f: g.f, path: g.child(path)}}
	if path != "" && path[0] == '/' {
		d.path = path
	}
	if d.id = C.H5Dopen2(g.id, cname, C.H5P_DEFAULT); d.id < 0 {
		return nil, d.errorf("open dataset")
	}
	return d, nil
}

// Shape is the dataset's dimensions (empty for a scalar).
func (d *Dataset) Shape() ([]int, error) {
	lock()
	defer unlock()
	return d.shape()
}

func (d *Dataset) shape() ([]int, error) {
	space := C.H5Dget_space(d.id)
	if space < 0 {
		return nil, d.errorf("dataspace")
	}
	defer C.H5Sclose(space)
	n := C.H5Sget_simple_extent_ndims(space)
	if n < 0 {
		return nil, d.errorf("rank")
	}
	dims := make([]C.hsize_t, max(int(n), 1))
	if C.H5Sget_simple_extent_dims(space, &dims[0], nil) < 0 {
		return nil, d.errorf("dimensions")
	}
	shape := make([]int, n)
	for i := range shape {
		shape[i] = int(dims[i])
	}
	return shape, nil
}

// maxRatio bounds how much larger than its storage a dataset may be: deflate expands at most
// about 1032 times (and a shuffle not at all). A corrupt or hostile file can claim any shape;
// checking it against the bytes the file really holds keeps a reader from allocating terabytes.
const maxRatio = 1100

// Numel is the number of elements of the dataset, after checking that the file can hold them:
// a shape whose product overflows, or that is more than the dataset's storage can hold even
// compressed, is an error.
func (d *Dataset) Numel() (int, error) {
	lock()
	defer unlock()
	shape, err := d.shape()
	if err != nil {
		return 0, err
	}
	t := C.H5Dget_type(d.id)
	if t < 0 {
		return 0, d.errorf("type")
	}
	size := int64(C.H5Tget_size(t))
	C.H5Tclose(t)
	n := int64(1)
	for _, s := range shape {
		if s != 0 && n > math.MaxInt64/int64(s)/max(size, 1) {
			return 0, fmt.Errorf("hdf5: %s: %s: shape %v overflows", d.f.path, d.path, shape)
		}
		n *= int64(s)
	}
	stored := int64(C.H5Dget_storage_size(d.id))
	if n*size > maxRatio*stored+4096 {
		return 0, fmt.Errorf("hdf5: %s: %s: shape %v (%d bytes) in %d bytes of storage: the file is corrupt or truncated", d.f.path, d.path, shape, n*size, stored)
	}
	return int(n), nil
}

// Type is the class and size in bytes of the dataset's elements.
func (d *Dataset) Type() (Class, int, error) {
	lock()
	defer unlock()
	t := C.H5Dget_type(d.id)
	if t < 0 {
		return Other, 0, d.errorf("type")
	}
	defer C.H5Tclose(t)
	size := int(C.H5Tget_size(t))
	switch C.H5Tget_class(t) {
	case C.H5T_FLOAT:
		return Float, size, nil
	case C.H5T_INTEGER:
		if C.H5Tget_sign(t) == C.H5T_SGN_NONE {
			return Uint, size, nil
		}
		return Int, size, nil
	case C.H5T_STRING:
		return String, size, nil
	}
	return Other, size, nil
}

// Read reads the whole numeric dataset into dst ([]float32 ... []uint64, len the number of
// elements), converting from the stored type as the library does by default: exactly where
// the destination holds the value, floats to integers truncated, values out of the
// destination's range clipped to it. Callers that care read into a wider type and check.
func (d *Dataset) Read(dst any) error {
	k, _, n, p, ok := kindOf(dst)
	if !ok {
		return fmt.Errorf("hdf5: %s: %s: cannot read into %T", d.f.path, d.path, dst)
	}
	lock()
	defer unlock()
	shape, err := d.shape()
	if err != nil {
		return err
	}
	want := 1
	for _, s := range shape {
		want *= s
	}
	if n != want {
		return fmt.Errorf("hdf5: %s: %s: %d elements (shape %v), destination holds %d", d.f.path, d.path, want, shape, n)
	}
	if n == 0 {
		return nil
	}
	if C.H5Dread(d.id, C.rd_native(k), C.H5S_ALL, C.H5S_ALL, C.H5P_DEFAULT, p) < 0 {
		return d.errorf("read as %T", dst)
	}
	return nil
}

// AttrString reads the string attribute name of the object (fixed- or variable-length).
func (o *object) AttrString(name string) (string, error) {
	lock()
	defer unlock()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if C.H5Aexists(o.id, cname) <= 0 {
		return "", fmt.Errorf("hdf5: %s: %s: no attribute %q", o.f.path, o.path, name)
	}
	a := C.H5Aopen(o.id, cname, C.H5P_DEFAULT)
	if a < 0 {
		return "", o.errorf("open attribute %q", name)
	}
	defer C.H5Aclose(a)
	t := C.H5Aget_type(a)
	defer C.H5Tclose(t)
	if C.H5Tget_class(t) != C.H5T_STRING {
		return "", fmt.Errorf("hdf5: %s: %s: attribute %q is not a string", o.f.path, o.path, name)
	}
	if C.H5Tis_variable_str(t) > 0 {
		var p *C.char
		if C.H5Aread(a, t, unsafe.Pointer(&p)) < 0 {
			return "", o.errorf("read attribute %q", name)
		}
		defer C.H5free_memory(unsafe.Pointer(p))
		return C.GoString(p), nil
	}
	size := int(C.H5Tget_size(t))
	buf := make([]byte, size+1)
	if C.H5Aread(a, t, unsafe.Pointer(&buf[0])) < 0 {
		return "", o.errorf("read attribute %q", name)
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), nil
}
