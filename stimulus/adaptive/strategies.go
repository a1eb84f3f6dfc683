package adaptive

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Discriminate picks the candidate on which two models disagree most about the chosen cells:
// the expected log-likelihood ratio between them, the Poisson Jeffreys divergence
// sum_t (λa-λb)(ln λa - ln λb), λ the expected count of a bin. After a clip is shown, the
// recorded counts add sum_t n ln(λa/λb) - (λa-λb) to each cell's running log-likelihood ratio
// (positive: the spikes support A). With Random set it picks uniformly instead (the control).
type Discriminate struct {
	Pool   Pool
	N      int // candidates per choice
	A, B   int // model indices into the Predictor's Models
	Names  [2]string
	Cells  CellSet
	DT     float64 // bin width, s
	Random bool

	LLR   []float64 // per cell, ln P(spikes | A) - ln P(spikes | B), summed over shown clips
	Clips int       // clips observed
}

func (d *Discriminate) Name() string {
	if d.Random {
		return "random"
	}
	return "discriminate"
}
func (d *Discriminate) Candidates(seq int) []Clip { return d.Pool.Draw(seq, d.N) }
func (d *Discriminate) NeedsPredictions() bool    { return true }
func (d *Discriminate) Default(seq int) Clip      { return d.Pool.Draw(seq, 1)[0] }

func (d *Discriminate) Choose(seq int, cands []Clip, preds [][]Rates) ([]float64, int, string) {
	scores := make([]float64, len(cands))
	for i := range cands {
		a, b := preds[i][d.A], preds[i][d.B]
		if checkRates(a, cands[i].Frames, a.Cells) != nil || checkRates(b, cands[i].Frames, a.Cells) != nil {
			scores[i] = math.NaN()
			continue
		}
		var s float64
		d.Cells.each(a.Cells, func(c int, w float64) {
			for t := 0; t < cands[i].Frames; t++ {
				la, lb := perBin(a.Rates[t*a.Cells+c], d.DT), perBin(b.Rates[t*a.Cells+c], d.DT)
				s += w * (la - lb) * math.Log(la/lb)
			}
		})
		scores[i] = s
	}
	if d.Random {
		k := int(mix(d.Pool.Seed^mix(uint64(seq)+0xa11)) % uint64(len(cands)))
		return scores, k, fmt.Sprintf("random pick (control): candidate %d of %d, expected log-likelihood ratio %s vs %s %.2f nats", k, len(cands), d.Names[0], d.Names[1], scores[k])
	}
	k := argmax(scores)
	return scores, k, fmt.Sprintf("%s and %s disagree most on candidate %d: expected log-likelihood ratio %.2f nats (median of %d candidates %.2f)", d.Names[0], d.Names[1], k, scores[k], len(cands), median(scores))
}

func (d *Discriminate) Observe(ch *Choice, counts []float32) {
	if len(ch.Preds) == 0 {
		return
	}
	a, b := ch.Preds[d.A], ch.Preds[d.B]
	T := ch.Clip.Frames
	if checkRates(a, T, a.Cells) != nil || checkRates(b, T, a.Cells) != nil || len(counts) < T*a.Cells {
		return
	}
	if len(d.LLR) != a.Cells {
		d.LLR = make([]float64, a.Cells)
	}
	d.Cells.each(a.Cells, func(c int, _ float64) {
		for t := 0; t < T; t++ {
			la, lb := perBin(a.Rates[t*a.Cells+c], d.DT), perBin(b.Rates[t*a.Cells+c], d.DT)
			d.LLR[c] += float64(counts[t*a.Cells+c])*math.Log(la/lb) - (la - lb)
		}
	})
	d.Clips++
}

// Evidence is the summed log-likelihood ratio of A over B across the chosen cells.
func (d *Discriminate) Evidence() float64 {
	var s float64
	for _, v := range d.LLR {
		s += v
	}
	return s
}

// Tally reports, per cell, which model the recorded spikes support so far.
func (d *Discriminate) Tally() string {
	var b []byte
	for c, v := range d.LLR {
		w := d.Names[0]
		if v < 0 {
			w = d.Names[1]
		}
		if v == 0 {
			w = "-"
		}
		b = fmt.Appendf(b, "cell %d: %s (%.1f) ", c, w, v)
	}
	return string(b)
}

// Uncertainty picks the candidate with the largest predictive spread of an ensemble (query by
// committee): sum over bins and chosen cells of the ensemble's variance of the expected count
// over its mean (the spread in units of the Poisson noise). Observe keeps each member's
// Poisson log-likelihood of the recorded spikes.
type Uncertainty struct {
	Pool    Pool
	N       int
	Members []int // model indices; two or more
	Cells   CellSet
	DT      float64

	LogLik []float64 // per member, summed over shown clips
}

func (u *Uncertainty) Name() string              { return "uncertainty" }
func (u *Uncertainty) Candidates(seq int) []Clip { return u.Pool.Draw(seq, u.N) }
func (u *Uncertainty) NeedsPredictions() bool    { return true }
func (u *Uncertainty) Default(seq int) Clip      { return u.Pool.Draw(seq, 1)[0] }
func (u *Uncertainty) Choose(seq int, cands []Clip, preds [][]Rates) ([]float64, int, string) {
	scores := make([]float64, len(cands))
	M := float64(len(u.Members))
	for i := range cands {
		cells := preds[i][u.Members[0]].Cells
		bad := false
		for _, m := range u.Members {
			bad = bad || checkRates(preds[i][m], cands[i].Frames, cells) != nil
		}
		if bad {
			scores[i] = math.NaN()
			continue
		}
		var s float64
		u.Cells.each(cells, func(c int, w float64) {
			for t := 0; t < cands[i].Frames; t++ {
				var sum, sq float64
				for _, m := range u.Members {
					l := perBin(preds[i][m].Rates[t*cells+c], u.DT)
					sum += l
					sq += l * l
				}
				mean := sum / M
				s += w * (sq/M - mean*mean) / mean
			}
		})
		scores[i] = s
	}
	k := argmax(scores)
	return scores, k, fmt.Sprintf("the %d-model ensemble disagrees most on candidate %d: spread %.3f (median of %d candidates %.3f)", len(u.Members), k, scores[k], len(cands), median(scores))
}

func (u *Uncertainty) Observe(ch *Choice, counts []float32) {
	if len(ch.Preds) == 0 {
		return
	}
	if len(u.LogLik) != len(u.Members) {
		u.LogLik = make([]float64, len(u.Members))
	}
	T := ch.Clip.Frames
	for j, m := range u.Members {
		p := ch.Preds[m]
		if checkRates(p, T, p.Cells) != nil || len(counts) < T*p.Cells {
			return
		}
		u.Cells.each(p.Cells, func(c int, _ float64) {
			for t := 0; t < T; t++ {
				l := perBin(p.Rates[t*p.Cells+c], u.DT)
				u.LogLik[j] += float64(counts[t*p.Cells+c])*math.Log(l) - l
			}
		})
	}
}

// Maximize picks the candidate that drives a target cell, or a weighted set, hardest: the
// weighted mean predicted rate (spikes/s) over the clip, averaged over the chosen models.
// Observe keeps the recorded weighted rate of each shown clip next to its prediction.
type Maximize struct {
	Pool   Pool
	N      int
	Models []int
	Cells  CellSet
	DT     float64

	Predicted, Recorded []float64 // per observed clip, spikes/s
}

func (x *Maximize) Name() string              { return "maximize" }
func (x *Maximize) Candidates(seq int) []Clip { return x.Pool.Draw(seq, x.N) }
func (x *Maximize) NeedsPredictions() bool    { return true }
func (x *Maximize) Default(seq int) Clip      { return x.Pool.Draw(seq, 1)[0] }

func (x *Maximize) drive(rates func(m int) Rates, T int) float64 {
	var s, ws float64
	for _, m := range x.Models {
		r := rates(m)
		if checkRates(r, T, r.Cells) != nil {
			return math.NaN()
		}
		x.Cells.each(r.Cells, func(c int, w float64) {
			ws += w
			for t := 0; t < T; t++ {
				if v := r.Rates[t*r.Cells+c]; !math.IsNaN(float64(v)) {
					s += w * float64(v)
				}
			}
		})
	}
	return s / (float64(T) * ws)
}

func (x *Maximize) Choose(seq int, cands []Clip, preds [][]Rates) ([]float64, int, string) {
	scores := make([]float64, len(cands))
	for i := range cands {
		scores[i] = x.drive(func(m int) Rates { return preds[i][m] }, cands[i].Frames)
	}
	k := argmax(scores)
	return scores, k, fmt.Sprintf("candidate %d drives the target cells hardest: predicted %.1f spikes/s (median of %d candidates %.1f)", k, scores[k], len(cands), median(scores))
}

func (x *Maximize) Observe(ch *Choice, counts []float32) {
	if len(ch.Preds) == 0 {
		return
	}
	T := ch.Clip.Frames
	cells := ch.Preds[x.Models[0]].Cells
	if len(counts) < T*cells {
		return
	}
	var s, ws float64
	x.Cells.each(cells, func(c int, w float64) {
		ws += w
		for t := 0; t < T; t++ {
			s += w * float64(counts[t*cells+c])
		}
	})
	x.Predicted = append(x.Predicted, x.drive(func(m int) Rates { return ch.Preds[m] }, T))
	x.Recorded = append(x.Recorded, s/(float64(T)*x.DT*ws))
}

// Sequence is the plain, non-adaptive schedule: the configured stimulus clip after clip, for
// comparison. It scores nothing.
type Sequence struct{ Pool Pool }

func (s *Sequence) Name() string               { return "sequence" }
func (s *Sequence) Candidates(seq int) []Clip  { return []Clip{s.Pool.At(seq)} }
func (s *Sequence) NeedsPredictions() bool     { return false }
func (s *Sequence) Default(seq int) Clip       { return s.Pool.At(seq) }
func (s *Sequence) Observe(*Choice, []float32) {}
func (s *Sequence) Choose(seq int, cands []Clip, _ [][]Rates) ([]float64, int, string) {
	return nil, 0, fmt.Sprintf("plain schedule: clip %d of the configured stimulus", seq)
}

func median(x []float64) float64 {
	y := slices.DeleteFunc(slices.Clone(x), func(v float64) bool { return math.IsNaN(v) })
	if len(y) == 0 {
		return math.NaN()
	}
	sort.Float64s(y)
	return y[len(y)/2]
}
