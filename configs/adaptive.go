package configs

import (
	"strconv"
	"time"
)

// Adaptive chooses the next stimulus clip from the models and the recorded spikes (package
// stimulus/adaptive). Off when Strategy is empty: the stimulus block then plays as it is.
// The candidate clips are stretches of the stimulus block's source.
type Adaptive struct {
	// Strategy is "" (off), discriminate, uncertainty, maximize, isoresponse or sequence; or
	// random, discriminate's control (random picks among the same candidates, same tally).
	Strategy   string   `yaml:"strategy"`
	Clip       Duration `yaml:"clip"`       // one clip (an isoresponse probe)
	Candidates int      `yaml:"candidates"` // clips scored per choice
	// Budget is the time allowed to score one choice; a choice not made by then (or by the
	// end of the clip showing) is replaced by the strategy's default, and reported so.
	Budget Duration `yaml:"budget"`
	Seed   uint64   `yaml:"seed"` // which candidate clips are drawn
	// Models: discriminate compares the first two (default: the first two loaded);
	// uncertainty's ensemble and maximize's average take all listed (default: every model).
	Models  []string  `yaml:"models"`
	Cells   []int     `yaml:"cells"`   // indices into the models' cells; empty: every cell
	Weights []float64 `yaml:"weights"` // one per entry of cells (maximize's weighted set); empty: 1 each

	IsoResponse IsoResponse `yaml:"isoresponse"`
}

// IsoResponse sets the isoresponse strategy: drifting gratings (directions in stimulus space)
// whose contrast is adjusted until the cells' mean rate during a probe reaches Target.
type IsoResponse struct {
	Target     float64        `yaml:"target"` // spikes/s, mean over the chosen cells during a probe
	Rest       Duration       `yaml:"rest"`   // gray before each probe (lets adaptation fade)
	Start      float64        `yaml:"start"`  // first contrast of every direction
	Speed      Frequency      `yaml:"speed"`  // grating temporal frequency
	Directions []IsoDirection `yaml:"directions"`
}

// IsoDirection is one grating pattern: its contrast is the distance along the direction.
type IsoDirection struct {
	Orientation float64 `yaml:"orientation"` // degrees
	Period      float64 `yaml:"period"`      // stimulus pixels
}

// DefaultAdaptive is the adaptive block's defaults (strategy off).
func DefaultAdaptive() Adaptive {
	return Adaptive{
		Clip: Duration(time.Second), Candidates: 8, Budget: Duration(500 * time.Millisecond), Seed: 1,
		IsoResponse: IsoResponse{Target: 30, Rest: Duration(5 * time.Second), Start: 0.02, Speed: 2,
			Directions: []IsoDirection{{0, 4}, {0, 8}, {0, 16}, {0, 32}, {0, 64}, {45, 8}}},
	}
}

func (a Adaptive) validate(ps *Problems, models []Model) {
	switch a.Strategy {
	case "":
		return
	case "discriminate", "random", "uncertainty", "maximize", "isoresponse", "sequence":
	default:
		ps.add("adaptive.strategy", "%q: want discriminate, random, uncertainty, maximize, isoresponse, sequence or empty (off)", a.Strategy)
	}
	positive(ps, "adaptive.clip", float64(a.Clip))
	positive(ps, "adaptive.budget", float64(a.Budget))
	if a.Candidates < 1 {
		ps.add("adaptive.candidates", "%d: want at least 1 candidate clip per choice", a.Candidates)
	}
	loaded := map[string]bool{}
	for _, m := range models {
		loaded[m.Name] = true
	}
	for i, m := range a.Models {
		if !loaded[m] {
			ps.add("adaptive.models["+strconv.Itoa(i)+"]", "%q: not one of the models block's names", m)
		}
	}
	need := map[string]int{"discriminate": 2, "random": 2, "uncertainty": 2, "maximize": 1}[a.Strategy]
	if n := len(a.Models); n == 0 {
		n = len(models)
		if n < need {
			ps.add("adaptive.models", "%s needs %d models, %d are loaded", a.Strategy, need, n)
		}
	} else if n < need {
		ps.add("adaptive.models", "%s needs %d models, %d listed", a.Strategy, need, n)
	}
	for i, c := range a.Cells {
		if c < 0 {
			ps.add("adaptive.cells["+strconv.Itoa(i)+"]", "%d: want a cell index, 0 or more", c)
		}
	}
	if len(a.Weights) > 0 && len(a.Weights) != len(a.Cells) {
		ps.add("adaptive.weights", "%d weights for %d cells: want one per cell", len(a.Weights), len(a.Cells))
	}
	if a.Strategy == "isoresponse" {
		iso := a.IsoResponse
		positive(ps, "adaptive.isoresponse.target", iso.Target)
		nonNegative(ps, "adaptive.isoresponse.rest", float64(iso.Rest))
		if !(iso.Start > 0 && iso.Start <= 1) {
			ps.add("adaptive.isoresponse.start", "%g: want a contrast in (0, 1]", iso.Start)
		}
		if len(iso.Directions) == 0 {
			ps.add("adaptive.isoresponse.directions", "empty: want at least one {orientation, period}")
		}
		for i, d := range iso.Directions {
			positive(ps, "adaptive.isoresponse.directions["+strconv.Itoa(i)+"].period", d.Period)
		}
	}
}
