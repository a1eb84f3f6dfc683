// Package npy is retinad's one reader and writer of NumPy arrays: single .npy files and .npz
// archives (a zip of .npy entries, stored or deflated, as numpy.savez and savez_compressed
// write them). Datasets, stimulus movies, predictions, exports and simulations all go through
// it, so that every file retinad reads is checked the same way and read at disk speed.
//
// Speed: an array whose element type is the one asked for (e.g. '<f4' into []float32) is read
// straight into the destination slice's memory, with no copy and no per-element work; any other
// element type is converted in 256 KiB chunks by a loop chosen once per array, never by
// reflection per element.
//
// Element types read: f4 f8 (floats), i1 i2 i4 i8 u1 u2 u4 u8 (integers), b1 (bool, read as 0
// or 1), in either byte order; floats are refused where integers are wanted. Fortran-order
// arrays are read and reordered to C order, so callers only ever see row-major data.
// Structured dtypes, strings and objects are refused by name. Written arrays are
// little-endian, C order, format version 1.0 (2.0 when the header needs more than 64 KiB).
//
// Strictness: a header is parsed by a small strict parser of the Python literal numpy writes
// (no eval); its errors say which field is wrong and what was expected. An array must hold
// exactly the bytes its shape promises: fewer is "truncated", more is an error, and an .npz
// entry is read to its end so that its CRC-32 is checked. No allocation is larger than what the
// file can deliver.
//
// Errors begin with "npy:" and name the array (the file, or archive:entry). Everything here is
// safe to call from any goroutine; an Archive or Array is used by one goroutine at a time.
package npy
