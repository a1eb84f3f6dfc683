package rig

import (
	"math"

	"retinad/daemon"
	"retinad/infer"
	"retinad/stimulus"
	"retinad/stimulus/present"
)

// sequence plays a stimulus.Source from frame 0, looping a finite one.
type sequence struct {
	src stimulus.Source
	i   int
}

var _ daemon.Source = (*sequence)(nil)

func (s *sequence) Next(dst []float32) (uint64, error) {
	if n := s.src.Len(); n > 0 && s.i >= n {
		s.i = 0
	}
	s.src.Frame(s.i, dst)
	s.i++
	return uint64(s.i - 1), nil
}

// presenter adapts the OpenGL presenter.
type presenter struct{ p *present.Presenter }

var _ daemon.Presenter = presenter{}

func (p presenter) Present(frame []float32) (daemon.Flip, error) {
	f, err := p.p.Present(frame)
	return daemon.Flip{HostNs: f.HostNS, Level: float64(f.Patch)}, err
}

// engine adapts infer's engines: rates are NaN until the history is full.
type engine struct {
	step func(frame, rates []float32) bool
}

func (e engine) Step(frame, rates []float32) error {
	if !e.step(frame, rates) {
		for i := range rates {
			rates[i] = float32(math.NaN())
		}
	}
	return nil
}

// newEngine makes the engine that runs m. Until infer has its streaming engines, this is the
// reference engine: exact, but it recomputes the whole window each bin and allocates.
func newEngine(m *infer.Model, o infer.Options) (daemon.Engine, error) {
	ref, err := infer.NewReference(m, o)
	if err != nil {
		return nil, err
	}
	return engine{step: ref.Step}, nil
}
