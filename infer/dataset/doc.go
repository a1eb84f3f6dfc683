// Package dataset reads and writes recorded or simulated datasets: the files that fitting,
// training and export share (docs/design.md, "Formats", places them among the project's formats).
//
// A dataset holds these named arrays (numeric types other than the ones named are converted):
//
//	stimulus        [T,H,W]  one frame per bin (H=W=1 for full-field flicker), scaled to
//	                         contrast c = (v - offset) / scale (see "Stimulus scaling")
//	frame_rate      scalar   bins per second (float or integer)
//	counts          [T,C]    spikes of cell c in bin t (float32, float64 or any integer type)
//	cell_ids        [C]      optional integers; 0..C-1 when absent
//
// or, instead of counts, spike times that Read bins on the frames:
//
//	spike_times     [N]      seconds, any order, float or integer
//	spike_cells     [N]      the cell id of each spike (integers)
//	frame_times     [T]      optional: the onset of each frame in seconds, strictly
//	                         increasing, on the clock of spike_times; t/frame_rate when absent
//	cell_ids        [C]      optional: the cells, in column order; when absent, the distinct
//	                         ids of spike_cells in increasing order
//
// Bin t holds the spikes with frame_times[t] <= time < frame_times[t+1], the last bin ends
// 1/frame_rate after its onset, and spikes before the first frame or after the last bin are in
// no bin. A spike of an id not in cell_ids is an error naming it. Every container's spike times
// are binned by the one function binSpikes. (`retinad export` writes the spikes it counted as
// spike_cells and spike_host_ns, integer nanoseconds on the host clock like its other times,
// beside its counts.)
//
// # Stimulus scaling
//
// Floats and signed integers are contrast already (offset 0, scale 1). Unsigned integers and
// bools are luminance from 0 to the type's maximum M, mapped around mid-gray: offset = scale =
// M/2, so uint8 0 is -1, 255 is +1 and 128 is +0.0039 (see DefaultScaling). A file may state
// its own with the scalars stimulus_offset and stimulus_scale; Options.Scaling (the commands'
// --stimulus-scale OFFSET,SCALE) overrides both. The same scaling applies to ReadStimulus.
//
// A file may hold further arrays (Dataset.Extra: float32, float64, int64, uint8 masks, unicode
// strings), e.g. what `retinad export` adds: frame timing, predictions, sync and events. Read
// ignores them; Write stores them after the four above, as an .npz, and WriteMAT as a MATLAB
// v7.3 .mat (mat73.go says why v7.3).
//
// # Containers
//
// The arrays come from a Source, one per kind of file, chosen by the file's first bytes (see
// Register in source.go); every container gives the same arrays, so the layout above, the
// binning of spike times and the scaling are written once, for all of them:
//
//   - .npz (npz.go, through retinad/infer/npy);
//   - MATLAB .mat version 5 (mat5.go, pure Go: top-level numeric variables by name, compressed
//     or not);
//   - HDF5 (hdf5.go, with libhdf5 through cgo): the root's datasets by name, in h5py's layout,
//     and MATLAB .mat v7.3, which is HDF5 in MATLAB's column-major layout.
//
// MATLAB arrays are read as MATLAB shows them: a T x H x W movie is stimulus [T,H,W] here,
// vectors may be rows or columns, trailing singleton dimensions that MATLAB drops are restored,
// and doubles holding whole numbers are read where integers are wanted (ids). A kind no
// container reads (HDF5 in a build without cgo, a lone .npy given as a dataset) is refused
// naming what it is and how to convert it.
//
// Read checks everything a consumer relies on and names the file, array and cell in its
// errors: a missing array, a wrong dtype or rank, mismatched lengths, a NaN or infinity, a
// negative or non-finite count. Whether a cell without spikes is an error is the consumer's
// call (fitting refuses it), so Read reports it only through [Dataset.SilentCells].
//
// Every array is read to its end: fewer bytes than its shape promises, more bytes than that, or
// an .npz entry whose CRC-32 does not match is an error. ReadStimulus is the one reader of
// stimulus movies (a lone .npy, or the `stimulus` of any dataset file) for `retinad predict`
// and the movie stimulus, with the same checks.
//
// Arrays are kept flat and row-major in memory. The functions are safe to call from any
// goroutine; a Dataset is not modified after Read returns and may be shared for reading.
package dataset
