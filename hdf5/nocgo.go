//go:build !cgo

package hdf5

import "errors"

// ErrNoCgo is returned by every function of a build without cgo.
var ErrNoCgo = errors.New("hdf5: this retinad was built without cgo (CGO_ENABLED=0); HDF5 needs libhdf5")

// File is an HDF5 file; without cgo none can be opened.
type File struct{}

// CreateOptions tune Create.
type CreateOptions struct{ Userblock int }

// Create fails without cgo.
func Create(string, CreateOptions) (*File, error) { return nil, ErrNoCgo }

// Open fails without cgo.
func Open(string) (*File, error) { return nil, ErrNoCgo }
