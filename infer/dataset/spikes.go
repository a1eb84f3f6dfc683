package dataset

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// readSpikes fills d.Counts, d.C and d.CellIDs from spike times instead of binned counts:
// spike_times [N] seconds, spike_cells [N] the cell id of each spike, and optional
// frame_times [T] seconds and cell_ids [C] (see the package doc for the layout and the bins).
// Every container's spike times come here, so they are binned one way.
func readSpikes(src Source, d *Dataset, has map[string]bool, fail func(string, ...any) error) error {
	times, err := vector[float64](src, has, "spike_times", -1, fail)
	if err != nil {
		return err
	}
	cells, err := vector[int64](src, has, "spike_cells", len(times), fail)
	if err != nil {
		return err
	}
	edges, err := frameTimes(src, d, has, fail)
	if err != nil {
		return err
	}
	if has["cell_ids"] {
		if d.CellIDs, err = vector[int64](src, has, "cell_ids", -1, fail); err != nil {
			return err
		}
	} else {
		d.CellIDs = slices.Compact(slices.Sorted(slices.Values(cells)))
	}
	d.C = len(d.CellIDs)
	if d.C == 0 {
		return fail("spike_cells: no spikes and no cell_ids, so no cells")
	}
	if d.Counts, err = binSpikes(times, cells, edges, d.FrameRate, d.CellIDs); err != nil {
		return fail("%w", err)
	}
	return nil
}

// binSpikes counts the spikes of each cell in each bin: bin t is [edges[t], edges[t+1]), the
// last one ends 1/rate after its onset, and spikes outside the bins are in none. ids are the
// cells, one column each; counts[t*len(ids)+c] is bin t of cell ids[c]. It is a pure function
// of its arguments, fuzzed (FuzzBinSpikes).
func binSpikes(times []float64, cells []int64, edges []float64, rate float64, ids []int64) ([]float32, error) {
	T, C := len(edges), len(ids)
	switch {
	case T == 0:
		return nil, fmt.Errorf("frame_times: no frames")
	case !(rate > 0) || math.IsInf(rate, 0):
		return nil, fmt.Errorf("frame_rate: %v, want a finite number of bins per second > 0", rate)
	case len(cells) != len(times):
		return nil, fmt.Errorf("spike_cells: %d ids for %d spike_times", len(cells), len(times))
	}
	for t, e := range edges {
		if math.IsNaN(e) || math.IsInf(e, 0) || (t > 0 && !(e > edges[t-1])) {
			return nil, fmt.Errorf("frame_times: %v at frame %d, want finite times in seconds, strictly increasing", e, t)
		}
	}
	col := make(map[int64]int, C)
	for c, id := range ids {
		col[id] = c
	}
	counts := make([]float32, T*C)
	end := edges[T-1] + 1/rate
	for i, x := range times {
		c, ok := col[cells[i]]
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return nil, fmt.Errorf("spike_times: %v at spike %d, want a finite time in seconds", x, i)
		case !ok:
			return nil, fmt.Errorf("spike_cells: id %d at spike %d is not in cell_ids %v", cells[i], i, ids)
		case x < edges[0] || x >= end:
			continue // before the first frame or after the last bin: in no bin
		}
		b := sort.SearchFloat64s(edges, x) // first edge >= x
		if b == T || edges[b] > x {
			b--
		}
		counts[b*C+c]++
	}
	return counts, nil
}

// frameTimes reads frame_times [T] (seconds; binSpikes checks they increase), or makes
// t/frame_rate.
func frameTimes(src Source, d *Dataset, has map[string]bool, fail func(string, ...any) error) ([]float64, error) {
	if !has["frame_times"] {
		edges := make([]float64, d.T)
		for t := range edges {
			edges[t] = float64(t) / d.FrameRate
		}
		return edges, nil
	}
	return vector[float64](src, has, "frame_times", d.T, fail)
}

// vector reads the 1-D array name, of length n (any length if n < 0).
func vector[T float64 | int64](src Source, has map[string]bool, name string, n int, fail func(string, ...any) error) ([]T, error) {
	if !has[name] {
		return nil, missing(src, name, fail)
	}
	h, err := src.Info(name)
	if err != nil {
		return nil, arrayErr(fail, name, err)
	}
	s := h.shape(1)
	if len(s) != 1 || (n >= 0 && s[0] != n) {
		w := "[N]"
		if n >= 0 {
			w = fmt.Sprintf("[%d]", n)
		}
		return nil, fail("%s: shape %v, want %s", name, h.Shape, w)
	}
	v := make([]T, s[0])
	switch dst := any(v).(type) {
	case []float64:
		err = src.ReadFloat64(name, dst)
	case []int64:
		err = src.ReadInt64(name, dst)
	}
	if err != nil {
		return nil, arrayErr(fail, name, err)
	}
	return v, nil
}
