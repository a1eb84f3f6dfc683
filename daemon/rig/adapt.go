package rig

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"retinad/acquisition/sim"
	"retinad/calib"
	"retinad/calib/simdevice"
	"retinad/daemon"
	"retinad/infer"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
	"retinad/stimulus/present"
)

// sequence plays a stimulus.Source from frame 0, looping a finite one.
type sequence struct {
	src  stimulus.Source
	desc *pb.StimulusSource // src.Describe(), made once
	i    int
}

var (
	_ daemon.Source    = (*sequence)(nil)
	_ daemon.Describer = (*sequence)(nil)
)

func newSequence(src stimulus.Source) *sequence {
	return &sequence{src: src, desc: src.Describe().Proto()}
}

// Description is the source every frame comes from.
func (s *sequence) Description() *pb.StimulusSource { return s.desc }

func (s *sequence) Next(dst []float32) (uint64, error) {
	if n := s.src.Len(); n > 0 && s.i >= n {
		s.i = 0
	}
	s.src.Frame(s.i, dst)
	s.i++
	return uint64(s.i - 1), nil
}

// presenter adapts the OpenGL presenter, and keeps the last frame shown for the virtual
// retina (valid until the frame loop's next generate, after the flip is reported).
type presenter struct {
	p       *present.Presenter
	last    []float32
	dump    io.Writer // Options.FrameDump; nil: none
	dumpBuf []byte
}

var _ daemon.Presenter = (*presenter)(nil)

func (p *presenter) Present(frame []float32) (daemon.Flip, error) {
	f, err := p.p.Present(frame)
	p.last = frame
	if p.dump != nil && err == nil {
		for i, v := range frame {
			binary.LittleEndian.PutUint32(p.dumpBuf[4*i:], math.Float32bits(v))
		}
		if _, werr := p.dump.Write(p.dumpBuf); werr != nil {
			err = fmt.Errorf("rig: frame dump: %w", werr)
		}
	}
	return daemon.Flip{HostNs: f.HostNS, Level: float64(f.Patch), Missed: f.Missed}, err
}

// retinaView shows the virtual retina every frame at the moment it really lit the screen (the
// fake photodiode device's truth in simulation, else the flip plus the configured latency), then
// passes the flip on to the photodiode. Called from the frame loop only.
type retinaView struct {
	pres    *presenter
	next    *calib.Photodiode // nil without a photodiode
	onset   func(calib.Onset) // the daemon's, to resolve frames untimed when next is nil
	dev     *simdevice.Device // nil unless the photodiode is the fake device
	acq     *sim.Acquisition
	latency int64
}

func (v *retinaView) Flip(frame uint64, ns int64, level float64) {
	if v.next != nil {
		v.next.Flip(frame, ns, level)
	} else {
		v.onset(calib.Onset{Frame: frame, FlipNs: ns, Status: calib.Untimed})
	}
	on := ns + v.latency
	if v.dev != nil {
		tr := v.dev.Truth(frame)
		if tr.Dropped {
			return // it never lit: the retina keeps seeing the frame before
		}
		if tr.Valid {
			on = tr.LightNs
		}
	}
	v.acq.Show(frame, v.pres.last, on)
}

// engine adapts infer's engines: rates are NaN until the history is full. Observe hands a GLM
// the recorded counts of the bin it stepped last (daemon.Observer).
type engine struct {
	s *infer.Stream
}

var (
	_ daemon.Observer = engine{}
	_ daemon.Resetter = engine{}
)

func (e engine) Step(frame, rates []float32) error {
	if !e.s.Step(frame, rates) {
		for i := range rates {
			rates[i] = float32(math.NaN())
		}
	}
	return nil
}

func (e engine) Observe(counts []float32) { e.s.Observe(counts) }

// Reset starts the engine afresh where a session begins (daemon.Resetter).
func (e engine) Reset() { e.s.Reset() }

// Close ends the stream's helpers (Threads > 1) when the daemon unloads the model, giving their
// cores back then rather than when the collector gets to the engine.
func (e engine) Close() { e.s.Close() }

// newEngine makes the streaming engine that runs m. A GLM's spike history follows its own
// samples unless the model is configured observed (then the daemon feeds it the recording).
func newEngine(m *infer.Model, o infer.Options) (daemon.Engine, error) {
	s, err := infer.NewStream(m, o)
	if err != nil {
		return nil, err
	}
	return engine{s: s}, nil
}
