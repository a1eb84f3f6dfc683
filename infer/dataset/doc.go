// Package dataset reads and writes recorded or simulated datasets: the .npz files that fitting,
// training and export share (see ../../../shared/DESIGN.md, "Data formats").
//
// A dataset holds
//
//	stimulus    float32 [T,H,W]  contrast, one frame per bin (H=W=1 for full-field flicker);
//	                             float64 and signed ints are read as contrast too, uint8 and
//	                             uint16 as luminance: c = (v - max/2) / (max/2), 0 -> -1, max -> +1
//	counts      float32 [T,C]    spikes of cell c in bin t (float64 or any integer type too)
//	frame_rate  float64 scalar   bins per second (an integer too)
//	cell_ids    int     [C]      optional; 0..C-1 when absent
//
// and may hold further arrays (Dataset.Extra: float32, float64, int64, uint8 masks, unicode
// strings), e.g. what `retinad export` adds: frame timing, predictions, sync and events. Read
// ignores them; Write stores them after the four above.
//
// Read takes the same arrays from an HDF5 file (h5py's layout, root datasets by name) or a
// MATLAB v7.3 .mat (MATLAB's column-major layout: a T x H x W movie in MATLAB is stimulus
// [T,H,W] here, vectors may be rows or columns), with libhdf5 through cgo (hdf5.go). There,
// instead of counts, spikes may come as times: spike_times (seconds), spike_cells (each spike's
// cell id) and frame_times [T] (seconds, each bin's start; the last bin lasts 1/frame_rate),
// binned as counts[t,c] = the spikes of cell c in [frame_times[t], frame_times[t+1]). WriteMAT
// writes a dataset as a v7.3 .mat (mat.go says why v7.3). Other containers plug in by
// registering a fileKind (kinds.go).
//
// Read checks everything a consumer relies on and names the file, array and cell in its
// errors: a missing array, a wrong dtype or rank, mismatched lengths, a NaN or infinity, a
// negative or non-finite count. Whether a cell without spikes is an error is the consumer's
// call (fitting refuses it), so Read reports it only through [Dataset.SilentCells].
//
// Every array is read to its end: fewer bytes than its shape promises, more bytes than that, or
// an .npz entry whose CRC-32 does not match is an error (archive/zip checks the CRC only at the
// end of an entry). ReadStimulus is the one reader of stimulus movies (.npy, or an .npz's
// `stimulus`) for `retinad predict` and the movie stimulus, with the same checks.
//
// Arrays are kept flat and row-major in memory. The functions are safe to call from any
// goroutine; a Dataset is not modified after Read returns and may be shared for reading.
package dataset
