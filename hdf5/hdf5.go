//go:build cgo

package hdf5

/*
#cgo pkg-config: hdf5
#include "helpers.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"
)

// mu serialises every call into the (not thread-safe) serial libhdf5.
var mu sync.Mutex

// lock takes the library for one call of this package. It pins the goroutine to its OS
// thread, because the library keeps its error stack (and whether it prints it) per thread in
// a thread-safe build: the message libError reads must be the one of the call that failed,
// and printing is switched off on every thread that calls (errors are returned instead).
func lock() {
	mu.Lock()
	runtime.LockOSThread()
	C.rd_quiet()
}

func unlock() {
	runtime.UnlockOSThread()
	mu.Unlock()
}

func init() {
	lock()
	defer unlock()
	C.H5open()
}

// libError is the library's innermost message for the call that just failed.
func libError() error {
	var buf [256]C.char
	C.rd_lastError(&buf[0])
	if s := C.GoString(&buf[0]); s != "" {
		return errors.New(s)
	}
	return errors.New("libhdf5 failed")
}

// File is an open HDF5 file.
type File struct {
	id   C.hid_t
	path string
}

// CreateOptions tune Create.
type CreateOptions struct {
	// Userblock reserves that many bytes at the start of the file for the caller (0, or a
	// power of two >= 512): MATLAB v7.3 writes its 128-byte header there.
	Userblock int
}

// Create creates (truncates) the HDF5 file path.
func Create(path string, o CreateOptions) (*File, error) {
	lock()
	defer unlock()
	fcpl := C.H5Pcreate(C.rd_plist(1))
	if fcpl < 0 {
		return nil, fmt.Errorf("hdf5: create %s: %w", path, libError())
	}
	defer C.H5Pclose(fcpl)
	if o.Userblock > 0 && C.H5Pset_userblock(fcpl, C.hsize_t(o.Userblock)) < 0 {
		return nil, fmt.Errorf("hdf5: create %s: user block of %d bytes: %w", path, o.Userblock, libError())
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	fapl := C.rd_fapl()
	if fapl < 0 {
		return nil, fmt.Errorf("hdf5: create %s: %w", path, libError())
	}
	defer C.H5Pclose(fapl)
	id := C.H5Fcreate(cpath, C.H5F_ACC_TRUNC, fcpl, fapl)
	if id < 0 {
		return nil, fmt.Errorf("hdf5: create %s: %w", path, libError())
	}
	return &File{id: id, path: path}, nil
}

// Open opens the HDF5 file path for reading.
func Open(path string) (*File, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("hdf5: %w", err)
	}
	lock()
	defer unlock()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if C.H5Fis_hdf5(cpath) <= 0 {
		return nil, fmt.Errorf("hdf5: %s: not an HDF5 file", path)
	}
	fapl := C.rd_fapl()
	if fapl < 0 {
		return nil, fmt.Errorf("hdf5: open %s: %w", path, libError())
	}
	defer C.H5Pclose(fapl)
	id := C.H5Fopen(cpath, C.H5F_ACC_RDONLY, fapl)
	if id < 0 {
		return nil, fmt.Errorf("hdf5: open %s: %w", path, libError())
	}
	return &File{id: id, path: path}, nil
}

// Close closes the file and every object of it still open, flushing what was written.
func (f *File) Close() error {
	lock()
	defer unlock()
	if f.id < 0 {
		return nil
	}
	if C.H5Fclose(f.id) < 0 {
		return fmt.Errorf("hdf5: close %s: %w", f.path, libError())
	}
	f.id = -1
	return nil
}

// Path is the file's name as given to Create or Open.
func (f *File) Path() string { return f.path }

// Root is the file's root group "/".
func (f *File) Root() *Group { return &Group{object{id: f.id, f: f, path: "/", file: true}} }

// object is a group or dataset: something with a path that holds attributes.
type object struct {
	id   C.hid_t
	f    *File
	path string
	file bool // the file itself (the root group): not closed by Close
}

// Path is the object's path in its file, e.g. "/units/spike_times".
func (o *object) Path() string { return o.path }

func (o *object) errorf(format string, a ...any) error {
	return fmt.Errorf("hdf5: %s: %s: %s: %w", o.f.path, o.path, fmt.Sprintf(format, a...), libError())
}

func (o *object) child(name string) string {
	if o.path == "/" {
		return "/" + name
	}
	return o.path + "/" + name
}

// Close releases the object's handle.
func (o *object) Close() error {
	lock()
	defer unlock()
	if o.file || o.id < 0 || o.f.id < 0 {
		return nil // the file's Close closed it
	}
	if C.H5Oclose(o.id) < 0 {
		return o.errorf("close")
	}
	o.id = -1
	return nil
}

// Group is an HDF5 group.
type Group struct{ object }

// CreateGroup makes the group name in g.
func (g *Group) CreateGroup(name string) (*Group, error) {
	lock()
	defer unlock()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	id := C.H5Gcreate2(g.id, cname, C.H5P_DEFAULT, C.H5P_DEFAULT, C.H5P_DEFAULT)
	if id < 0 {
		return nil, g.errorf("create group %q", name)
	}
	return &Group{object{id: id, f: g.f, path: g.child(name)}}, nil
}

// OpenGroup opens the group at path (relative to g, or absolute).
func (g *Group) OpenGroup(path string) (*Group, error) {
	lock()
	defer unlock()
	cname := C.CString(path)
	defer C.free(unsafe.Pointer(cname))
	id := C.H5Gopen2(g.id, cname, C.H5P_DEFAULT)
	if id < 0 {
		return nil, g.errorf("open group %q", path)
	}
	return &Group{object{id: id, f: g.f, path: g.child(path)}}, nil
}

// Has reports whether g has a link called name.
func (g *Group) Has(name string) bool {
	lock()
	defer unlock()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.H5Lexists(g.id, cname, C.H5P_DEFAULT) > 0
}

// Names lists the links of g (its groups' and datasets' names), in name order.
func (g *Group) Names() ([]string, error) {
	lock()
	defer unlock()
	var info C.H5G_info_t
	if C.H5Gget_info(g.id, &info) < 0 {
		return nil, g.errorf("group info")
	}
	dot := C.CString(".")
	defer C.free(unsafe.Pointer(dot))
	names := make([]string, 0, info.nlinks)
	for i := C.hsize_t(0); i < info.nlinks; i++ {
		n := C.H5Lget_name_by_idx(g.id, dot, C.H5_INDEX_NAME, C.H5_ITER_INC, i, nil, 0, C.H5P_DEFAULT)
		if n < 0 {
			return nil, g.errorf("link %d's name", i)
		}
		buf := make([]byte, n+1)
		if C.H5Lget_name_by_idx(g.id, dot, C.H5_INDEX_NAME, C.H5_ITER_INC, i, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(n+1), C.H5P_DEFAULT) < 0 {
			return nil, g.errorf("link %d's name", i)
		}
		names = append(names, string(buf[:n]))
	}
	return names, nil
}
