package acquisition

import (
	"cmp"
	"math"
	"slices"

	"retinad/infer/dataset"
)

// spikeArrays are the spikes counted into the bins, each on host time by the clock fit
// (rounded to the nanosecond), ordered by cell id and then time: spike_cells and
// spike_host_ns. Counting spike_host_ns of a cell between bin_start_host_ns edges gives counts;
// the NWB and MATLAB exports take their spike times from here.
func (r *record) spikeArrays(edge []int64, a, b float64) []dataset.Array {
	type spike struct{ cell, host int64 }
	var sp []spike
	for i, ta := range r.spikeTimes {
		th := a + b*float64(ta)
		if th < float64(edge[0]) || th >= float64(edge[len(edge)-1]) {
			continue // outside the bins, as count leaves it
		}
		sp = append(sp, spike{int64(r.spikeCells[i]), int64(math.Round(th))})
	}
	slices.SortStableFunc(sp, func(x, y spike) int {
		return cmp.Or(cmp.Compare(x.cell, y.cell), cmp.Compare(x.host, y.host))
	})
	S := len(sp)
	return []dataset.Array{
		{Name: "spike_cells", Shape: []int{S}, Data: seq(S, func(i int) int64 { return sp[i].cell })},
		{Name: "spike_host_ns", Shape: []int{S}, Data: seq(S, func(i int) int64 { return sp[i].host })},
	}
}
