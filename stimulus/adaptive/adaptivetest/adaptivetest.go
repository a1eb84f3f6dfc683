// Package adaptivetest holds what the adaptive package's tests and examples run against: a
// local Predictor on this machine's cores (infer's batch engine), and a Tissue, the virtual
// retina (acquisition/sim) shown clip after clip as a rig would show them, which records
// spikes. It may import infer and sim; package adaptive may not.
package adaptivetest

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gorgonia.org/tensor"

	"retinad/acquisition/sim"
	"retinad/infer"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

// Local predicts clips with infer's engines on this machine, one goroutine per core, each
// clip with its History-1 frames before Start (gray where Start is too near the source's
// beginning). With Cache set, a clip already predicted is not predicted again (clips are
// reproducible: the same Clip gives the same frames).
type Local struct {
	names   []string
	models  []*infer.Model
	Workers int
	Cache   bool

	mu    sync.Mutex
	cache map[string][]adaptive.Rates
	Calls int // clip predictions computed (not served from the cache)
}

var _ adaptive.Predictor = (*Local)(nil)

// NewLocal loads the model files, named by names.
func NewLocal(names, files []string) (*Local, error) {
	l := &Local{names: names, cache: map[string][]adaptive.Rates{}}
	for i, f := range files {
		m, err := infer.Load(f)
		if err != nil {
			return nil, fmt.Errorf("adaptivetest: model %s: %w", names[i], err)
		}
		l.models = append(l.models, m)
	}
	return l, nil
}

// Model returns model i.
func (l *Local) Model(i int) *infer.Model { return l.models[i] }

// History is the longest history of the models (the Lead of a clip is History-1).
func (l *Local) History() int {
	h := 1
	for _, m := range l.models {
		h = max(h, m.Input.History)
	}
	return h
}

func (l *Local) Models() []string { return l.names }

func (l *Local) Predict(ctx context.Context, clips []adaptive.Clip) ([][]adaptive.Rates, error) {
	out := make([][]adaptive.Rates, len(clips))
	var todo []int
	l.mu.Lock()
	for i, c := range clips {
		if r, ok := l.cache[key(c)]; ok && l.Cache {
			out[i] = r
		} else {
			todo = append(todo, i)
		}
	}
	l.mu.Unlock()
	workers := l.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r, err := l.one(ctx, clips[i])
				if err != nil {
					errs <- err
					return
				}
				out[i] = r
			}
		}()
	}
feed:
	for _, i := range todo {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		case err := <-errs:
			close(jobs)
			wg.Wait()
			return nil, err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	for _, i := range todo {
		l.cache[key(clips[i])] = out[i]
		l.Calls++
	}
	l.mu.Unlock()
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

func (l *Local) one(ctx context.Context, c adaptive.Clip) ([]adaptive.Rates, error) {
	out := make([]adaptive.Rates, len(l.models))
	for m, model := range l.models {
		lead := model.Input.History - 1
		frames, err := Frames(c, c.Start-lead, lead+c.Frames)
		if err != nil {
			return nil, fmt.Errorf("adaptivetest: clip: %w", err)
		}
		st := tensor.New(tensor.WithShape(lead+c.Frames, c.Stimulus.Height, c.Stimulus.Width), tensor.WithBacking(frames))
		pred, err := infer.Predict(ctx, model, st, infer.BatchOptions{Workers: 1})
		if err != nil {
			return nil, fmt.Errorf("adaptivetest: model %s: %w", l.names[m], err)
		}
		cells := len(model.Cells)
		all := pred.Data().([]float32)
		out[m] = adaptive.Rates{Model: l.names[m], Cells: cells, Rates: all[lead*cells:]}
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
// found by bisection on log contrast to within a factor of 1.01. It returns 1 when even
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
	lo, hi := math.Log(1e-3), 0.0
	if r, err := f(1); err != nil || r < iso.Target {
		return 1, err
	}
	for hi-lo > 1e-2 {
		mid := (lo + hi) / 2
		r, err := f(math.Exp(mid))
		if err != nil {
			return 0, err
		}
		if r < iso.Target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2), nil
}
