package adaptive

import (
	"fmt"
	"math"
	"strings"

	"retinad/configs"
)

// FromConfig makes the strategy the adaptive block names. st is the stimulus the candidate
// clips are cut from (the config's stimulus block); models are the Predictor's Models(); lead
// is the frames of history shown before every scored clip (the longest model history - 1).
func FromConfig(cfg configs.Adaptive, st configs.Stimulus, models []string, lead int) (Strategy, error) {
	rate := float64(st.FrameRate)
	if !(rate > 0) {
		return nil, fmt.Errorf("adaptive: stimulus.frame_rate %v: want a positive rate", st.FrameRate)
	}
	frames := int(math.Round(cfg.Clip.D().Seconds() * rate))
	if frames < 1 {
		return nil, fmt.Errorf("adaptive: adaptive.clip %v is shorter than one frame at %v", cfg.Clip, st.FrameRate)
	}
	dt := 1 / rate
	cells := CellSet{Index: cfg.Cells, Weight: cfg.Weights}
	pool := Pool{Stimulus: st, Frames: frames, Lead: lead, Seed: cfg.Seed}
	n := max(cfg.Candidates, 1)
	idx := func(want int) ([]int, error) {
		names := cfg.Models
		if len(names) == 0 {
			names = models
			if want > 0 {
				names = models[:min(want, len(models))]
			}
		}
		var out []int
		for _, name := range names {
			i, err := modelIndex(models, name)
			if err != nil {
				return nil, err
			}
			out = append(out, i)
		}
		return out, nil
	}
	switch cfg.Strategy {
	case "discriminate", "random":
		m, err := idx(2)
		if err != nil {
			return nil, err
		}
		if len(m) < 2 {
			return nil, fmt.Errorf("adaptive: discriminate needs two models, has %v", models)
		}
		return &Discriminate{Pool: pool, N: n, A: m[0], B: m[1], Names: [2]string{models[m[0]], models[m[1]]}, Cells: cells, DT: dt, Random: cfg.Strategy == "random"}, nil
	case "uncertainty":
		m, err := idx(0)
		if err != nil {
			return nil, err
		}
		if len(m) < 2 {
			return nil, fmt.Errorf("adaptive: uncertainty needs an ensemble of two models or more, has %v", models)
		}
		return &Uncertainty{Pool: pool, N: n, Members: m, Cells: cells, DT: dt}, nil
	case "maximize":
		m, err := idx(0)
		if err != nil {
			return nil, err
		}
		if len(m) < 1 {
			return nil, fmt.Errorf("adaptive: maximize needs a model")
		}
		return &Maximize{Pool: pool, N: n, Models: m, Cells: cells, DT: dt}, nil
	case "isoresponse":
		iso := cfg.IsoResponse
		s := &IsoResponse{Base: st, Speed: float64(iso.Speed), Probe: frames, Rest: int(math.Round(iso.Rest.D().Seconds() * rate)),
			Target: iso.Target, Start: iso.Start, Cells: cells, DT: dt}
		for _, d := range iso.Directions {
			s.Directions = append(s.Directions, Direction{Orientation: d.Orientation, Period: d.Period})
		}
		if len(s.Directions) == 0 || !(s.Start > 0) {
			return nil, fmt.Errorf("adaptive: isoresponse needs directions and a start contrast")
		}
		return s, nil
	case "sequence":
		pool.Lead = 0
		return &Sequence{Pool: pool}, nil
	}
	return nil, fmt.Errorf("adaptive: strategy %q: want discriminate, uncertainty, maximize, isoresponse or sequence", cfg.Strategy)
}

// Report says which model the spikes support so far, per cell, and in sum.
func (d *Discriminate) Report() string {
	return fmt.Sprintf("%d clips; log-likelihood ratio %s over %s %.1f nats; %s", d.Clips, d.Names[0], d.Names[1], d.Evidence(), d.Tally())
}

// Report gives each member's Poisson log-likelihood of the spikes so far.
func (u *Uncertainty) Report() string {
	return fmt.Sprintf("ensemble log-likelihoods %.1f", u.LogLik)
}

// Report gives the last observed clip's predicted and recorded drive.
func (x *Maximize) Report() string {
	if len(x.Recorded) == 0 {
		return "no clip observed yet"
	}
	k := len(x.Recorded) - 1
	return fmt.Sprintf("%d clips; last predicted %.1f spikes/s, recorded %.1f", len(x.Recorded), x.Predicted[k], x.Recorded[k])
}

// Report gives the contour so far.
func (s *IsoResponse) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "iso-response contour at %.1f spikes/s:", s.Target)
	for _, p := range s.Contour() {
		fmt.Fprintf(&b, " (%g°, %g px) %.4f [%d probes]", p.Direction.Orientation, p.Direction.Period, p.Contrast, p.Probes)
	}
	return b.String()
}
