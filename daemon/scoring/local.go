package scoring

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"retinad/configs"
	"retinad/infer"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

var _ adaptive.Predictor = (*Local)(nil)

// maxSources bounds each scorer's cache of stimulus sources (a natural-scene source holds its
// scaled photographs, so a candidate set of many seeds is not kept forever).
const maxSources = 64

// Local scores clips on this machine's cores.
type Local struct {
	models  []Model
	names   []string
	history int // the longest history of the models
	workers int

	mu   sync.Mutex
	free []*scorer // idle scorers, reused across calls
}

// NewLocal makes a Local predictor for models, in that order, on workers goroutines (0:
// GOMAXPROCS). The models' names must be distinct.
func NewLocal(models []Model, workers int) (*Local, error) {
	if len(models) == 0 {
		return nil, fmt.Errorf("scoring: no models")
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	l := &Local{models: models, workers: workers}
	seen := map[string]bool{}
	for _, m := range models {
		if seen[m.Name] {
			return nil, fmt.Errorf("scoring: model %q given twice", m.Name)
		}
		seen[m.Name] = true
		if m.Model == nil {
			return nil, fmt.Errorf("scoring: model %q: not loaded", m.Name)
		}
		l.names = append(l.names, m.Name)
		l.history = max(l.history, m.Model.Input.History)
	}
	return l, nil
}

// Models are the models' names, in the order of Predict's rates.
func (l *Local) Models() []string { return append([]string(nil), l.names...) }

// Workers is the number of goroutines Predict uses at most.
func (l *Local) Workers() int { return l.workers }

// Identities are the models with their hashes, in order.
func (l *Local) Identities() []Model { return append([]Model(nil), l.models...) }

// Predict scores every clip with every model: preds[i][m] is clip i, model m.
func (l *Local) Predict(ctx context.Context, clips []adaptive.Clip) ([][]adaptive.Rates, error) {
	out := make([][]adaptive.Rates, len(clips))
	var next atomic.Int64
	err := l.run(ctx, min(l.workers, len(clips)), func(s *scorer) error {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(clips) {
				return nil
			}
			r, err := s.score(ctx, clips[i])
			if err != nil {
				return fmt.Errorf("scoring: clip %d: %w", i, err)
			}
			out[i] = r
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// run calls f on n goroutines, each with a scorer of its own, and returns the first error.
func (l *Local) run(ctx context.Context, n int, f func(*scorer) error) error {
	if n <= 0 {
		return ctx.Err()
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := l.get()
			if err != nil {
				errs[g] = err
				return
			}
			errs[g] = f(s)
			l.put(s)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (l *Local) get() (*scorer, error) {
	l.mu.Lock()
	if n := len(l.free); n > 0 {
		s := l.free[n-1]
		l.free = l.free[:n-1]
		l.mu.Unlock()
		return s, nil
	}
	l.mu.Unlock()
	return newScorer(l)
}

func (l *Local) put(s *scorer) {
	l.mu.Lock()
	if len(l.free) < l.workers {
		l.free = append(l.free, s)
	}
	l.mu.Unlock()
}

// scorer is one goroutine's engines, frame buffer and sources.
type scorer struct {
	l       *Local
	streams []*infer.Stream
	sources map[configs.Stimulus]stimulus.Source
	frame   []float32 // the frame being stepped
	sink    []float32 // rates of the warm-up steps
}

func newScorer(l *Local) (*scorer, error) {
	s := &scorer{l: l, sources: map[configs.Stimulus]stimulus.Source{}}
	for _, m := range l.models {
		st, err := infer.NewStream(m.Model, infer.Options{})
		if err != nil {
			return nil, fmt.Errorf("scoring: model %s: %w", m.Name, err)
		}
		s.streams = append(s.streams, st)
	}
	return s, nil
}

// source returns the cached source for cfg, making it on first use.
func (s *scorer) source(cfg configs.Stimulus) (stimulus.Source, error) {
	if src, ok := s.sources[cfg]; ok {
		return src, nil
	}
	src, err := stimulus.New(cfg)
	if err != nil {
		return nil, err
	}
	if len(s.sources) >= maxSources {
		clear(s.sources)
	}
	s.sources[cfg] = src
	return src, nil
}

// score runs every model on one clip.
func (s *scorer) score(ctx context.Context, c adaptive.Clip) ([]adaptive.Rates, error) {
	if err := checkClip(c); err != nil {
		return nil, err
	}
	cfg := c.Stimulus
	for _, m := range s.l.models {
		in := m.Model.Input
		if in.Height != cfg.Height || in.Width != cfg.Width {
			return nil, fmt.Errorf("model %s sees %dx%d frames, the clip's stimulus is %dx%d", m.Name, in.Height, in.Width, cfg.Height, cfg.Width)
		}
		if f := cfg.FrameRate.Hz(); f > 0 && math.Abs(in.FrameRate-f) > 1e-6*f {
			return nil, fmt.Errorf("model %s runs at %g Hz, the clip's stimulus at %g Hz", m.Name, in.FrameRate, f)
		}
	}
	src, err := s.source(cfg)
	if err != nil {
		return nil, err
	}
	H := s.l.history
	lo, hi := c.Start-H+1, c.Start+c.Frames // frames [lo, hi) rendered
	if n := src.Len(); n > 0 && hi > n {
		return nil, fmt.Errorf("frames [%d, %d) of a %s source of %d frames", c.Start, hi, cfg.Kind, n)
	}
	hw := cfg.Height * cfg.Width
	s.frame = grow(s.frame, hw)
	out := make([]adaptive.Rates, len(s.streams))
	for k, st := range s.streams {
		m := s.l.models[k]
		cells := len(m.Model.Cells)
		out[k] = adaptive.Rates{Model: m.Name, Cells: cells, Rates: make([]float32, c.Frames*cells)}
		s.sink = grow(s.sink, cells)
		st.Reset()
	}
	// One frame at a time, every model stepped on it: memory is one frame whatever the clip.
	for i := lo; i < hi; i++ {
		if (i-lo)&63 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if i < 0 {
			clear(s.frame)
		} else {
			src.Frame(i, s.frame)
		}
		t := i - c.Start
		for k, st := range s.streams {
			if i < c.Start-s.l.models[k].Model.Input.History+1 {
				continue
			}
			row := s.sink[:out[k].Cells]
			if t >= 0 {
				row = out[k].Rates[t*out[k].Cells : (t+1)*out[k].Cells]
			}
			st.Step(s.frame, row)
		}
	}
	return out, nil
}

// maxClipFrames bounds one clip (a day at 100 Hz is 8.6 million frames); it keeps a bad
// request from asking a worker for memory it does not have.
const maxClipFrames = 1 << 20

func checkClip(c adaptive.Clip) error {
	if c.Start < 0 || c.Frames < 1 || c.Frames > maxClipFrames || c.Start > math.MaxInt32 {
		return fmt.Errorf("start %d frames %d: want start 0 or more and 1 to %d frames", c.Start, c.Frames, maxClipFrames)
	}
	return nil
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
