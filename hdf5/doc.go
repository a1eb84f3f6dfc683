// Package hdf5 is retinad's small binding to the HDF5 C library (Debian's libhdf5, through cgo):
// just what the NWB and MATLAB v7.3 exports and the HDF5 dataset reader need.
//
// It creates and opens files (optionally with a user block, which MATLAB v7.3 files begin
// with), makes groups, writes datasets of numbers (float32/64, int8-64, uint8-64) and
// UTF-8 strings as scalars or 1-D to 3-D arrays (chunked, shuffled and gzip-compressed once
// they are large enough for it to pay), sets attributes (numbers, strings, fixed-length ASCII strings,
// and object references, which NWB's tables use), and reads numeric datasets of any numeric
// type into a Go slice of the caller's element type in one call (the library converts).
//
// Arrays are row-major (C order), as in numpy and h5py. Errors begin with "hdf5:" and name
// the file and the object's path, with the library's own innermost message.
//
// libhdf5 (serial) is not thread-safe: every call holds one package-wide lock, so the package
// is safe from any goroutine, one call at a time. Without cgo only Create and Open exist, and
// return ErrNoCgo; the users' own !cgo files say so too (acquisition.WriteNWB,
// dataset.WriteMAT), and dataset.Read then names HDF5 files without reading them.
package hdf5
