package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"retinad/acquisition"
	"retinad/configs"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// stimulusFrames regenerates recorded frames of reproducible sources with the stimulus package:
// it turns a frame's StimulusSource back into the stimulus config that made it (the inverse of
// stimulus.Source.Describe) and keeps one source per distinct description.
// TODO(lead): this inverse belongs in package stimulus (e.g. stimulus.FromDescription).
func stimulusFrames() acquisition.FrameMaker {
	sources := map[string]stimulus.Source{}
	return func(src *pb.StimulusSource, index uint64, dst []float32) error {
		key := src.String()
		s, ok := sources[key]
		if !ok {
			cfg, err := stimulusConfig(src)
			if err != nil {
				return err
			}
			if s, err = stimulus.New(cfg); err != nil {
				return err
			}
			sources[key] = s
		}
		if n := s.Len(); n > 0 && index >= uint64(n) {
			return fmt.Errorf("frame index %d beyond the source's %d frames", index, n)
		}
		s.Frame(int(index), dst)
		return nil
	}
}

// stimulusConfig rebuilds the stimulus config that a source described as src.
func stimulusConfig(src *pb.StimulusSource) (configs.Stimulus, error) {
	p := map[string]float64{}
	for _, kv := range src.Params {
		p[kv.Name] = kv.Value
	}
	need := func(names ...string) error {
		var miss []string
		for _, n := range names {
			if _, ok := p[n]; !ok {
				miss = append(miss, n)
			}
		}
		if len(miss) > 0 {
			return fmt.Errorf("stimulus %q: parameters %s missing from the recording", src.Kind, strings.Join(miss, ", "))
		}
		return nil
	}
	dist := func() string {
		if p["gaussian"] != 0 {
			return "gaussian"
		}
		return "binary"
	}
	frames := func(n float64) configs.Duration {
		return configs.Duration(time.Duration(math.Round(n / src.FrameRateHz * 1e9)))
	}
	c := configs.Stimulus{Kind: src.Kind, FrameRate: configs.Frequency(src.FrameRateHz), Height: int(src.Height),
		Width: int(src.Width), Seed: src.Seed, Mean: src.Mean}
	var err error
	switch src.Kind {
	case "gray":
	case "whitenoise":
		if err = need("checker", "contrast", "gaussian"); err == nil {
			c.WhiteNoise = configs.WhiteNoise{Distribution: dist(), Checker: int(p["checker"]), Contrast: p["contrast"]}
		}
	case "flicker":
		if err = need("contrast", "gaussian"); err == nil {
			c.Flicker = configs.Flicker{Distribution: dist(), Contrast: p["contrast"]}
		}
	case "flash":
		if err = need("on_frames", "off_frames", "contrast"); err == nil {
			c.Flash = configs.Flash{On: frames(p["on_frames"]), Off: frames(p["off_frames"]), Contrast: p["contrast"]}
		}
	case "grating":
		if err = need("period", "speed_hz", "orientation_deg", "contrast"); err == nil {
			c.Grating = configs.Grating{Period: p["period"], Speed: configs.Frequency(p["speed_hz"]), Orientation: p["orientation_deg"], Contrast: p["contrast"]}
		}
	case "natural":
		if err = need("hold_frames", "jitter", "contrast"); err == nil {
			c.Natural = configs.Natural{Dir: src.File, Hold: frames(p["hold_frames"]), Jitter: p["jitter"], Contrast: p["contrast"]}
		}
	case "movie":
		if err = need("loop"); err == nil {
			c.Movie = configs.Movie{File: src.File, Loop: p["loop"] != 0}
		}
	default:
		err = fmt.Errorf("stimulus %q cannot be regenerated", src.Kind)
	}
	return c, err
}
