// Package adaptivetest holds what the adaptive package's tests run against: a Tissue, the
// virtual retina (acquisition/sim) shown clip after clip as a rig would show them, which
// records spikes; the ground truth of an iso-response experiment from its noise-free rates; and
// a caching Predictor wrapper. It may import sim; package adaptive may not.
package adaptivetest

import (
	"context"
	"fmt"
	"math"
	"sync"

	"retinad/acquisition/sim"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

// Cached is a Predictor that remembers: a clip already predicted is served from memory
// (clips are reproducible: the same Clip gives the same frames). Experiments that replay the
// same candidates under two strategies predict each once.
type Cached struct {
	P adaptive.Predictor

	mu    sync.Mutex
	cache map[string][]adaptive.Rates
	Calls int // clips predicted by P (not served from memory)
}

var _ adaptive.Predictor = (*Cached)(nil)

func (c *Cached) Models() []string { return c.P.Models() }

func (c *Cached) Predict(ctx context.Context, clips []adaptive.Clip) ([][]adaptive.Rates, error) {
	out := make([][]adaptive.Rates, len(clips))
	var todo []adaptive.Clip
	var at []int
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string][]adaptive.Rates{}
	}
	for i, cl := range clips {
		if r, ok := c.cache[key(cl)]; ok {
			out[i] = r
		} else {
			todo, at = append(todo, cl), append(at, i)
		}
	}
	c.mu.Unlock()
	if len(todo) == 0 {
		return out, nil
	}
	preds, err := c.P.Predict(ctx, todo)
	if err != nil {
		return nil, err
	}
	if len(preds) != len(todo) {
		return nil, fmt.Errorf("adaptivetest: %d predictions for %d clips", len(preds), len(todo))
	}
	c.mu.Lock()
	for k, i := range at {
		out[i] = preds[k]
		c.cache[key(todo[k])] = preds[k]
		c.Calls++
	}
	c.mu.Unlock()
	return out, nil
}

func key(c adaptive.Clip) string { return fmt.Sprintf("%+v", c) }

// Frames returns frames [from, from+n) of the clip's source, gray for frames before 0.
func Frames(c adaptive.Clip, from, n int) ([]float32, error) {
	src, err := stimulus.New(c.Stimulus)
	if err != nil {
		return nil, err
	}
	h, w := src.Size()
	out := make([]float32, n*h*w)
	for t := 0; t < n; t++ {
		if i := from + t; i >= 0 {
			src.Frame(i, out[t*h*w:(t+1)*h*w])
		}
	}
	return out, nil
}

// Tissue is the virtual retina under a rig: frames shown to it one after another, spikes drawn
// from its noise-free rates. Counts come out in the order of cellIDs (the models' cells).
type Tissue struct {
	Retina *sim.Retina
	spiker *sim.Spiker
	order  []int // model cell k is retina cell order[k]
	rate   []float64
	counts []float32
}

// NewTissue makes the default virtual retina of cells cells on an h x w grid (the one the
// bundled models were trained on with seed 1), counts reported for cellIDs in that order.
func NewTissue(h, w, cells int, seed, spikeSeed uint64, cellIDs []int64) (*Tissue, error) {
	p := sim.DefaultParams()
	r, err := sim.New(p, h, w, cells, seed)
	if err != nil {
		return nil, err
	}
	s, err := sim.NewSpiker(cells, p.FrameRate, p.Refractory, spikeSeed)
	if err != nil {
		return nil, err
	}
	t := &Tissue{Retina: r, spiker: s, rate: make([]float64, cells), counts: make([]float32, cells)}
	idx := map[int64]int{}
	for i, c := range r.Cells() {
		idx[c.ID] = i
	}
	if len(cellIDs) == 0 {
		for i := range r.Cells() {
			t.order = append(t.order, i)
		}
	}
	for _, id := range cellIDs {
		i, ok := idx[id]
		if !ok {
			return nil, fmt.Errorf("adaptivetest: cell id %d is not in the virtual retina", id)
		}
		t.order = append(t.order, i)
	}
	return t, nil
}

// Cells is the number of cells counts report.
func (t *Tissue) Cells() int { return len(t.order) }

// Show shows a choice (its Lead frames, then the clip) and returns the recorded counts of the
// clip's bins, counts[t*Cells+c], and the noise-free rates of the same bins (spikes/s).
func (t *Tissue) Show(ch *adaptive.Choice) (counts []float32, rates []float64, err error) {
	c := ch.Clip
	frames, err := Frames(c, c.Start-ch.Lead, ch.Lead+c.Frames)
	if err != nil {
		return nil, nil, err
	}
	hw := c.Stimulus.Height * c.Stimulus.Width
	C := len(t.order)
	counts = make([]float32, c.Frames*C)
	rates = make([]float64, c.Frames*C)
	for f := 0; f < ch.Lead+c.Frames; f++ {
		t.Retina.Step(frames[f*hw:(f+1)*hw], t.rate)
		t.spiker.Spike(t.rate, t.counts)
		if k := f - ch.Lead; k >= 0 {
			for j, i := range t.order {
				counts[k*C+j] = t.counts[i]
				rates[k*C+j] = t.rate[i]
			}
		}
	}
	return counts, rates, nil
}

// Mean returns the mean of x, NaN for none.
func Mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// IsoContrast is the ground truth of an iso-response experiment: the contrast along
// direction k of iso at which the virtual retina's noise-free response (iso.Response of its
// rates, not of spikes) reaches iso.Target, in the periodic steady state of the protocol
// (cycles of a gray rest then a probe at that contrast, from a fresh retina; cycles >= 1),
// found by regula falsi on log contrast to within 0.1% of the target response (or a bracket
// narrower than a factor of 1.01). It returns 1 when even
// contrast 1 stays below the target.
func IsoContrast(iso adaptive.IsoResponse, k, cycles int) (float64, error) {
	f := func(c float64) (float64, error) {
		tis, err := NewTissue(iso.Base.Height, iso.Base.Width, 16, 1, 1, nil)
		if err != nil {
			return 0, err
		}
		one := iso
		one.Directions = []adaptive.Direction{iso.Directions[k]}
		one.Start = c
		var resp float64
		for i := 0; i < cycles; i++ {
			for seq := 0; seq < 2; seq++ {
				ch := &adaptive.Choice{Clip: one.Candidates(seq)[0]}
				_, rates, err := tis.Show(ch)
				if err != nil {
					return 0, err
				}
				if seq == 1 {
					r32 := make([]float32, len(rates))
					for j, v := range rates {
						r32[j] = float32(v * iso.DT) // expected counts per bin
					}
					resp = iso.Response(r32, ch.Clip.Frames, tis.Cells())
				}
			}
		}
		return resp, nil
	}
	// Illinois (regula falsi) on log contrast, bracketed by 1e-3 and 1.
	lo, hi := math.Log(1e-3), 0.0
	flo, err := f(math.Exp(lo))
	if err != nil {
		return 0, err
	}
	fhi, err := f(1)
	if err != nil || fhi < iso.Target {
		return 1, err
	}
	if flo >= iso.Target {
		return 1e-3, nil
	}
	flo, fhi = flo-iso.Target, fhi-iso.Target
	side := 0
	for i := 0; i < 60 && hi-lo > 1e-2; i++ {
		x := (lo*fhi - hi*flo) / (fhi - flo)
		fx, err := f(math.Exp(x))
		if err != nil {
			return 0, err
		}
		fx -= iso.Target
		if math.Abs(fx) < 1e-3*iso.Target {
			return math.Exp(x), nil
		}
		if fx < 0 {
			lo, flo = x, fx
			if side == -1 {
				fhi /= 2
			}
			side = -1
		} else {
			hi, fhi = x, fx
			if side == 1 {
				flo /= 2
			}
			side = 1
		}
	}
	return math.Exp((lo + hi) / 2), nil
}
