//go:build cgo

package dataset

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"retinad/hdf5"
)

func init() {
	fileKinds = append(fileKinds, fileKind{name: "HDF5 or MATLAB v7.3", is: isHDF5, read: readHDF5, stimulus: readHDF5Stimulus})
}

// isHDF5 reports an HDF5 file from its first bytes: the signature at 0 or after a user block
// (512, 1024 or 2048 bytes; a MATLAB v7.3 file has one of 512).
func isHDF5(head []byte) bool {
	for _, at := range []int{0, 512, 1024, 2048} {
		if len(head) >= at+8 && bytes.Equal(head[at:at+8], []byte("\x89HDF\r\n\x1a\n")) {
			return true
		}
	}
	return false
}

// h5file reads a dataset's arrays from an HDF5 file: the root's datasets by name, in numpy's
// (row-major) layout, or in MATLAB's (column-major, dimensions reversed) when the file is a
// MATLAB v7.3 MAT-file.
type h5file struct {
	f    *hdf5.File
	path string
	mat  bool
	have []string // the root's names
}

func openH5(path string) (*h5file, error) {
	f, err := hdf5.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	names, err := f.Root().Names()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if v, err := f.Root().AttrString("nwb_version"); err == nil {
		f.Close()
		return nil, fmt.Errorf("dataset: %s: an NWB %s file: retinad reads its own dataset layout from HDF5 (stimulus, counts, frame_rate), not NWB; use the session's .npz export (retinad export --format npz)", path, v)
	}
	r := &h5file{f: f, path: path, have: names}
	r.mat = hasMATHeader(path)
	return r, nil
}

func (r *h5file) fail(format string, a ...any) error {
	return fmt.Errorf("dataset: %s: "+format, append([]any{r.path}, a...)...)
}

func (r *h5file) has(name string) bool { return slices.Contains(r.have, name) }

// h5array is one array of the file, its shape as numpy shows it (MATLAB's own for a .mat).
type h5array struct {
	ds    *hdf5.Dataset
	shape []int
	n     int // elements, checked against the file's storage
	class hdf5.Class
	size  int
}

// array opens the array name; a missing one is an error saying what the file has and what
// the array should be.
func (r *h5file) array(name, want string) (*h5array, error) {
	if !r.has(name) {
		return nil, r.fail("array %q missing (has %s); want %s", name, listNames(r.have), want)
	}
	ds, err := r.f.Root().OpenDataset(name)
	if err != nil {
		return nil, r.fail("array %q: %w", name, err)
	}
	a := &h5array{ds: ds}
	if a.shape, err = ds.Shape(); err == nil {
		a.class, a.size, err = ds.Type()
	}
	if err == nil {
		a.n, err = ds.Numel()
	}
	if err != nil {
		return nil, r.fail("array %q: %w", name, err)
	}
	if r.mat {
		if class, _ := ds.AttrString("MATLAB_class"); class == "cell" || class == "struct" || class == "char" {
			return nil, r.fail("array %q: a MATLAB %s; want %s (a numeric array)", name, class, want)
		}
		slices.Reverse(a.shape)
	}
	if a.class != hdf5.Float && a.class != hdf5.Int && a.class != hdf5.Uint {
		return nil, r.fail("array %q: %s elements; want %s", name, a.class, want)
	}
	return a, nil
}

// read reads a's elements into a new []T, row-major in numpy's order.
func readH5[T float32 | float64 | int64](r *h5file, a *h5array) ([]T, error) {
	v := make([]T, a.n)
	if err := a.ds.Read(v); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if r.mat && len(a.shape) >= 2 {
		v = rowMajor(v, a.shape)
	}
	return v, nil
}

// vector reads a 1-D array (a MATLAB row or column vector too) of n elements (n < 0: any).
func vectorH5[T float32 | float64 | int64](r *h5file, name, want string, n int) ([]T, error) {
	a, err := r.array(name, want)
	if err != nil {
		return nil, err
	}
	vec := len(a.shape) == 1 || len(a.shape) == 2 && (a.shape[0] == 1 || a.shape[1] == 1) && r.mat || len(a.shape) == 0 && n == 1
	if !vec || n >= 0 && a.n != n {
		return nil, r.fail("%s: shape %v; want %s", name, a.shape, want)
	}
	return readH5[T](r, a)
}

// idsH5 reads a vector of cell ids, stored as integers or (as MATLAB keeps numbers) as whole
// floats: 4.5 is an error, not cell 4.
func idsH5(r *h5file, name, want string, n int) ([]int64, error) {
	v, err := vectorH5[float64](r, name, want, n)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(v))
	for i, x := range v {
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return nil, r.fail("%s: %v at %d; want whole numbers (cell ids)", name, x, i)
		}
		ids[i] = int64(x)
	}
	return ids, nil
}

// readHDF5 reads a dataset from an HDF5 file (numpy's layout: what h5py writes) or a MATLAB
// v7.3 .mat (MATLAB's: what save -v7.3 writes), with the arrays of an .npz (see the package
// doc), and instead of counts, spikes as times on the frames' clock: spike_times (seconds),
// spike_cells (the cell id of each spike) and frame_times (seconds, each bin's start; the last
// bin ends 1/frame_rate after its start), binned as counts[t, c] = the spikes of cell c in
// [frame_times[t], frame_times[t+1]).
func readHDF5(path string) (*Dataset, error) {
	r, err := openH5(path)
	if err != nil {
		return nil, err
	}
	defer r.f.Close()
	d := &Dataset{}
	if d.Stimulus, d.T, d.H, d.W, err = r.stimulus(); err != nil {
		return nil, err
	}
	fr, err := vectorH5[float64](r, "frame_rate", want["frame_rate"], 1)
	if err != nil {
		return nil, err
	}
	d.FrameRate = fr[0]
	var ids []int64
	if r.has("cell_ids") {
		if ids, err = idsH5(r, "cell_ids", "int [C], one id per cell", -1); err != nil {
			return nil, err
		}
	}
	if r.has("counts") || !r.has("spike_times") {
		err = r.counts(d, ids)
	} else {
		err = r.spikes(d, ids)
	}
	if err != nil {
		return nil, err
	}
	if err := d.Check(path); err != nil {
		return nil, err
	}
	return d, nil
}

// stimulus reads the movie [T,H,W] as contrast (a MATLAB T x H, with W = 1 dropped by MATLAB,
// too), uint8/uint16 luminance scaled as the package doc says.
func (r *h5file) stimulus() (v []float32, T, H, W int, err error) {
	a, err := r.array("stimulus", want["stimulus"])
	if err != nil {
		return nil, 0, 0, 0, err
	}
	s := a.shape
	if r.mat && len(s) == 2 {
		s = append(s, 1)
	}
	if len(s) != 3 || s[0] < 1 || s[1] < 1 || s[2] < 1 {
		return nil, 0, 0, 0, r.fail("stimulus: shape %v, want [T,H,W] with every size at least 1", a.shape)
	}
	if v, err = readH5[float32](r, a); err != nil {
		return nil, 0, 0, 0, err
	}
	if a.class == hdf5.Uint {
		half := float64(uint64(1)<<(8*a.size)-1) / 2
		for i, x := range v {
			v[i] = float32((float64(x) - half) / half)
		}
	}
	return v, s[0], s[1], s[2], nil
}

func (r *h5file) counts(d *Dataset, ids []int64) error {
	a, err := r.array("counts", want["counts"]+", or spike_times, spike_cells and frame_times")
	if err != nil {
		return err
	}
	if len(a.shape) != 2 {
		return r.fail("counts: shape %v, want [T,C]", a.shape)
	}
	if a.shape[0] != d.T {
		return r.fail("counts: %d bins but stimulus has %d frames; want one row per frame", a.shape[0], d.T)
	}
	d.C = a.shape[1]
	if d.Counts, err = readH5[float32](r, a); err != nil {
		return err
	}
	if ids == nil {
		ids = make([]int64, d.C)
		for c := range ids {
			ids[c] = int64(c)
		}
	}
	if len(ids) != d.C {
		return r.fail("cell_ids: %d ids, want [%d] (one id per column of counts)", len(ids), d.C)
	}
	d.CellIDs = ids
	return nil
}

// spikes bins spike_times per cell on frame_times into d.Counts.
func (r *h5file) spikes(d *Dataset, ids []int64) error {
	times, err := vectorH5[float64](r, "spike_times", "float [S], seconds on the clock of frame_times", -1)
	if err != nil {
		return err
	}
	cells, err := idsH5(r, "spike_cells", fmt.Sprintf("int [%d], the cell id of each spike_times", len(times)), len(times))
	if err != nil {
		return err
	}
	frames, err := vectorH5[float64](r, "frame_times", fmt.Sprintf("float [%d] (one per stimulus frame), seconds: each bin's start", d.T), d.T)
	if err != nil {
		return err
	}
	d.Counts, d.CellIDs, err = binSpikes(times, cells, frames, d.FrameRate, ids)
	if err != nil {
		return r.fail("%w", err)
	}
	d.C = len(d.CellIDs)
	return nil
}

// binSpikes counts the spikes of each cell in each bin [start[t], start[t+1]) (the last bin
// ends 1/rate after its start); spikes outside the bins are left out. ids are the cells (the
// columns), or nil for every cell that spikes, ascending.
func binSpikes(times []float64, cells []int64, start []float64, rate float64, ids []int64) ([]float32, []int64, error) {
	T := len(start)
	for t, s := range start {
		if math.IsNaN(s) || math.IsInf(s, 0) || t > 0 && !(s > start[t-1]) {
			return nil, nil, fmt.Errorf("frame_times: %v at frame %d; want finite times, increasing", s, t)
		}
	}
	if !(rate > 0) {
		return nil, nil, fmt.Errorf("frame_rate: %v; want > 0", rate)
	}
	if ids == nil {
		ids = slices.Compact(slices.Sorted(slices.Values(cells)))
	}
	col := make(map[int64]int, len(ids))
	for c, id := range ids {
		col[id] = c
	}
	end := start[T-1] + 1/rate
	counts := make([]float32, T*len(ids))
	for i, x := range times {
		c, ok := col[cells[i]]
		switch {
		case !ok:
			return nil, nil, fmt.Errorf("spike_cells: spike %d is of cell %d, which is not in cell_ids", i, cells[i])
		case math.IsNaN(x):
			return nil, nil, fmt.Errorf("spike_times: NaN at spike %d", i)
		case x < start[0] || x >= end:
			continue
		}
		t := sort.SearchFloat64s(start, x)
		if t == T || start[t] > x {
			t--
		}
		counts[t*len(ids)+c]++
	}
	return counts, ids, nil
}

// readHDF5Stimulus reads only the stimulus of an HDF5 or MATLAB v7.3 file (ReadStimulus).
func readHDF5Stimulus(path string) ([]float32, int, int, int, error) {
	r, err := openH5(path)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	defer r.f.Close()
	v, T, H, W, err := r.stimulus()
	if err != nil {
		return nil, 0, 0, 0, err
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			p := H * W
			return nil, 0, 0, 0, r.fail("stimulus: %v at frame %d, pixel (%d,%d), want a finite contrast", x, i/p, i%p/W, i%p%W)
		}
	}
	return v, T, H, W, nil
}

func listNames(names []string) string {
	if len(names) == 0 {
		return "no arrays"
	}
	return strings.Join(names, ", ")
}
