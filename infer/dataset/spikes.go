package dataset

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// binSpikes fills d.Counts, d.C and d.CellIDs from spike times instead of binned counts:
// spike_times [N] seconds, spike_cells [N] the cell id of each spike, and optional
// frame_times [T] seconds and cell_ids [C] (see the package doc for the layout and the bins).
func binSpikes(src Source, d *Dataset, has map[string]bool, fail func(string, ...any) error) error {
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
	col := make(map[int64]int, d.C)
	for c, id := range d.CellIDs {
		col[id] = c
	}
	d.Counts = make([]float32, d.T*d.C)
	end := edges[d.T-1] + 1/d.FrameRate
	for i, t := range times {
		c, ok := col[cells[i]]
		switch {
		case math.IsNaN(t) || math.IsInf(t, 0):
			return fail("spike_times: %v at spike %d, want a finite time in seconds", t, i)
		case !ok:
			return fail("spike_cells: id %d at spike %d is not in cell_ids %v", cells[i], i, d.CellIDs)
		case t < edges[0] || t >= end:
			continue // before the first frame or after the last bin: in no bin
		}
		b := sort.SearchFloat64s(edges, t) // first edge >= t
		if b == d.T || edges[b] > t {
			b--
		}
		d.Counts[b*d.C+c]++
	}
	return nil
}

// frameTimes reads frame_times [T] (seconds, strictly increasing), or makes t/frame_rate.
func frameTimes(src Source, d *Dataset, has map[string]bool, fail func(string, ...any) error) ([]float64, error) {
	if !has["frame_times"] {
		edges := make([]float64, d.T)
		for t := range edges {
			edges[t] = float64(t) / d.FrameRate
		}
		return edges, nil
	}
	edges, err := vector[float64](src, has, "frame_times", d.T, fail)
	if err != nil {
		return nil, err
	}
	for t, e := range edges {
		if math.IsNaN(e) || math.IsInf(e, 0) || (t > 0 && !(e > edges[t-1])) {
			return nil, fail("frame_times: %v at frame %d, want finite times in seconds, strictly increasing", e, t)
		}
	}
	return edges, nil
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
