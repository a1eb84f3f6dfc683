package main

import (
	"testing"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// TestStimulusFramesRegenerate: a source's description, as the daemon records it, makes the
// same frames again, for every synthetic kind.
func TestStimulusFramesRegenerate(t *testing.T) {
	for _, kind := range []string{"gray", "whitenoise", "flicker", "flash", "grating"} {
		cfg := configs.Default().Stimulus
		cfg.Kind, cfg.Height, cfg.Width, cfg.Seed = kind, 8, 6, 42
		src, err := stimulus.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := src.Describe()
		rec := &pb.StimulusSource{Kind: d.Kind, Seed: d.Seed, Height: uint32(d.Height), Width: uint32(d.Width),
			FrameRateHz: d.FrameRate, Mean: d.Mean, File: d.File, Reproducible: d.Reproducible}
		for k, v := range d.Params {
			rec.Params = append(rec.Params, &pb.Param{Name: k, Value: v})
		}
		regen := stimulusFrames()
		want := make([]float32, 48)
		got := make([]float32, 48)
		for _, i := range []int{0, 1, 57, 1000} {
			src.Frame(i, want)
			if err := regen(rec, uint64(i), got); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			for p := range want {
				if got[p] != want[p] {
					t.Fatalf("%s frame %d pixel %d: regenerated %v, shown %v", kind, i, p, got[p], want[p])
				}
			}
		}
	}
}
