package stimulus

import (
	"sort"

	pb "retinad/proto/retinadpb"
)

// Proto is d as the StimulusSource message that FrameOnset.source carries: parameters sorted by
// name, so that one description always encodes to the same bytes. It allocates; build it once
// per source (or adaptive clip), never per frame.
func (d Description) Proto() *pb.StimulusSource {
	m := &pb.StimulusSource{
		Kind: d.Kind, Seed: d.Seed, Height: uint32(d.Height), Width: uint32(d.Width),
		FrameRateHz: d.FrameRate, Mean: d.Mean, File: d.File, Reproducible: d.Reproducible,
	}
	names := make([]string, 0, len(d.Params))
	for k := range d.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		m.Params = append(m.Params, &pb.Param{Name: k, Value: d.Params[k]})
	}
	return m
}
