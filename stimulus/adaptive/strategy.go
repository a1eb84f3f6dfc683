package adaptive

import (
	"fmt"
	"math"
)

// Strategy decides which clip to show next. Its methods are called by one goroutine at a time
// (the Scheduler's); Observe may come late, after later clips were already chosen.
type Strategy interface {
	// Name is the strategy's config name (discriminate, uncertainty, maximize, isoresponse,
	// sequence).
	Name() string
	// Candidates returns the clips to score for choice seq (0, 1, ...). A single candidate
	// that needs no predictions (NeedsPredictions false) is taken without scoring.
	Candidates(seq int) []Clip
	// NeedsPredictions says whether Choose reads the models' predictions.
	NeedsPredictions() bool
	// Choose scores the candidates from preds (preds[i][m]: clip i, model m; nil when
	// NeedsPredictions is false) and picks one, saying why in a short sentence.
	Choose(seq int, cands []Clip, preds [][]Rates) (scores []float64, pick int, why string)
	// Default is what is shown for choice seq when scoring misses its deadline.
	Default(seq int) Clip
	// Observe learns from a clip that was shown: counts are the recorded spikes per bin,
	// counts[t*cells+c] for t in [0, clip.Frames), cells in the models' order; preds are the
	// models' predictions of that clip (nil if none were made).
	Observe(ch *Choice, counts []float32)
}

// Choice is one decision of the Scheduler: what was scored, what was picked and why. It is
// published and recorded, so an experiment can be replayed and audited.
type Choice struct {
	Seq        int
	Strategy   string
	Candidates []Clip
	Scores     []float64 // one per candidate; nil when nothing was scored
	Pick       int       // index into Candidates, -1 for a fallback
	Clip       Clip      // what is shown
	Why        string
	Fallback   bool    // scoring missed its deadline (or failed): Clip is the strategy's default
	Preds      []Rates // the models' predictions of Clip (nil after a fallback); not published
	ScoreNs    int64   // time spent choosing, ns
	Lead       int     // frames shown before Clip.Start (the models' history)
	At         int64   // where the consumer started it (the daemon's frame number); -1 offline
	Report     string  // the strategy's running result when the clip was taken (Reporter)
	Ready      any     // what Options.Prepare readied for the consumer (e.g. a frame source)
}

// Observation is the recorded response to one shown clip, in the order the models predict
// the cells: Counts[t*Cells+c], spikes per bin.
type Observation struct {
	Seq    int
	Cells  int
	Counts []float32
}

// CellSet picks the cells a strategy looks at: indices into the models' cells, with weights.
// Empty means every cell with weight 1.
type CellSet struct {
	Index  []int
	Weight []float64
}

func (s CellSet) each(cells int, f func(c int, w float64)) {
	if len(s.Index) == 0 {
		for c := 0; c < cells; c++ {
			f(c, 1)
		}
		return
	}
	for i, c := range s.Index {
		w := 1.0
		if i < len(s.Weight) {
			w = s.Weight[i]
		}
		if c >= 0 && c < cells {
			f(c, w)
		}
	}
}

// perBin turns a rate in spikes/s into the expected count of one bin, floored so that a log
// of it is finite.
func perBin(rate float32, dt float64) float64 {
	v := float64(rate) * dt
	if !(v > 1e-6) { // also NaN
		return 1e-6
	}
	return v
}

// modelIndex finds name in models.
func modelIndex(models []string, name string) (int, error) {
	for i, m := range models {
		if m == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("adaptive: model %q is not loaded (loaded: %v)", name, models)
}

// checkRates reports predictions that do not cover frames bins of cells cells.
func checkRates(r Rates, frames, cells int) error {
	if r.Cells != cells || len(r.Rates) < frames*r.Cells {
		return fmt.Errorf("adaptive: model %s: %d rates of %d cells, want %d frames of %d cells", r.Model, len(r.Rates), r.Cells, frames, cells)
	}
	return nil
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] || math.IsNaN(x[best]) {
			best = i
		}
	}
	return best
}
