package adaptive

import (
	"fmt"
	"math"

	"retinad/configs"
)

// Direction is one direction in stimulus space for IsoResponse: a drifting grating pattern
// whose contrast is the distance along the direction.
type Direction struct {
	Orientation float64 // degrees
	Period      float64 // stimulus pixels
}

// IsoResponse finds, for each direction, the contrast at which the chosen cells give the target
// response, closed loop: probes alternate with gray rests (so that adaptation to one probe
// fades before the next); the directions take turns; each probe's contrast comes from a
// line fitted to the recorded responses of the last probes of its direction against log
// contrast, solved for the target (a multiplicative step while fewer than two are known).
// Contour reports the contrast per direction: the iso-response contour.
type IsoResponse struct {
	Base       configs.Stimulus // grid, frame rate, mean; the probes are gratings on it
	Directions []Direction
	Speed      float64 // grating temporal frequency, Hz
	Probe      int     // frames per probe
	Rest       int     // gray frames before each probe
	Target     float64 // response to reach: weighted mean rate of Cells during a probe, spikes/s
	Start      float64 // first contrast of every direction
	Cells      CellSet
	DT         float64
	Fit        int // probes of a direction used in the fit (default 6)

	next   []float64      // contrast of the next probe, per direction
	trials [][][2]float64 // per direction: (log contrast, response)
}

func (s *IsoResponse) init() {
	if s.next == nil {
		s.next = make([]float64, len(s.Directions))
		for i := range s.next {
			s.next[i] = s.Start
		}
		s.trials = make([][][2]float64, len(s.Directions))
	}
}

func (s *IsoResponse) Name() string           { return "isoresponse" }
func (s *IsoResponse) NeedsPredictions() bool { return false }

// probe returns the direction of choice seq, or -1 for a rest.
func (s *IsoResponse) probe(seq int) int {
	if s.Rest > 0 && seq%2 == 0 {
		return -1
	}
	if s.Rest > 0 {
		seq /= 2
	}
	return seq % len(s.Directions)
}

func (s *IsoResponse) clip(seq int) Clip {
	s.init()
	k := s.probe(seq)
	st := s.Base
	if k < 0 {
		st.Kind = "gray"
		return Clip{Stimulus: st, Frames: s.Rest}
	}
	d := s.Directions[k]
	st.Kind = "grating"
	st.Grating = configs.Grating{Period: d.Period, Speed: configs.Frequency(s.Speed), Orientation: d.Orientation, Contrast: s.next[k]}
	return Clip{Stimulus: st, Frames: s.Probe}
}

func (s *IsoResponse) Candidates(seq int) []Clip { return []Clip{s.clip(seq)} }
func (s *IsoResponse) Default(seq int) Clip      { return s.clip(seq) }

func (s *IsoResponse) Choose(seq int, cands []Clip, _ [][]Rates) ([]float64, int, string) {
	k := s.probe(seq)
	if k < 0 {
		return nil, 0, fmt.Sprintf("gray rest of %d frames before the next probe", s.Rest)
	}
	n := len(s.trials[k])
	return nil, 0, fmt.Sprintf("direction %d (orientation %g°, period %g px): probe %d at contrast %.4f from the responses so far, target %.1f spikes/s", k, s.Directions[k].Orientation, s.Directions[k].Period, n+1, s.next[k], s.Target)
}

// direction finds which direction a shown clip probed, -1 for a rest.
func (s *IsoResponse) direction(c Clip) int {
	if c.Stimulus.Kind != "grating" {
		return -1
	}
	for k, d := range s.Directions {
		if d.Orientation == c.Stimulus.Grating.Orientation && d.Period == c.Stimulus.Grating.Period {
			return k
		}
	}
	return -1
}

// Response is the measure the strategy steers: the weighted mean rate of the chosen cells
// over a clip, spikes/s, from counts per bin.
func (s *IsoResponse) Response(counts []float32, frames, cells int) float64 {
	var sum, wsum float64
	s.Cells.each(cells, func(c int, w float64) {
		for t := 0; t < frames; t++ {
			sum += w * float64(counts[t*cells+c])
		}
		wsum += w
	})
	return sum / (wsum * float64(frames) * s.DT)
}

func (s *IsoResponse) Observe(ch *Choice, counts []float32) {
	s.init()
	k := s.direction(ch.Clip)
	if k < 0 || ch.Clip.Frames == 0 || len(counts)%ch.Clip.Frames != 0 || len(counts) == 0 {
		return
	}
	cells := len(counts) / ch.Clip.Frames
	c := ch.Clip.Stimulus.Grating.Contrast
	r := s.Response(counts, ch.Clip.Frames, cells)
	s.trials[k] = append(s.trials[k], [2]float64{math.Log(c), r})
	s.next[k] = s.solve(k, c)
}

// solve proposes the next contrast of direction k after a probe at contrast c.
func (s *IsoResponse) solve(k int, c float64) float64 {
	tr := s.trials[k]
	last := tr[len(tr)-1][1]
	step := func() float64 {
		f := math.Sqrt(s.Target / math.Max(last, 0.25*s.Target))
		return c * math.Min(math.Max(f, 0.5), 2)
	}
	next := step()
	if a, b, ok := s.line(k); ok && b > 0 {
		next = math.Exp((s.Target - a) / b)
		next = math.Min(math.Max(next, c/2), c*2)
	}
	return math.Min(math.Max(next, 1e-3), 1)
}

// line fits response = a + b*log(contrast) to the last Fit probes of direction k.
func (s *IsoResponse) line(k int) (a, b float64, ok bool) {
	n := s.Fit
	if n <= 0 {
		n = 6
	}
	tr := s.trials[k]
	if len(tr) > n {
		tr = tr[len(tr)-n:]
	}
	if len(tr) < 2 {
		return 0, 0, false
	}
	var mx, my float64
	for _, p := range tr {
		mx += p[0]
		my += p[1]
	}
	mx /= float64(len(tr))
	my /= float64(len(tr))
	var sxx, sxy float64
	for _, p := range tr {
		sxx += (p[0] - mx) * (p[0] - mx)
		sxy += (p[0] - mx) * (p[1] - my)
	}
	if sxx < 1e-9 {
		return 0, 0, false
	}
	b = sxy / sxx
	return my - b*mx, b, true
}

// ContourPoint is the iso-response contrast of one direction, as estimated so far.
type ContourPoint struct {
	Direction Direction
	Contrast  float64 // where the fitted response crosses the target
	Probes    int
}

// Contour reports the iso-response contour: for each direction, where the line fitted to its
// last probes crosses the target (the next probe's contrast when no rising line fits).
func (s *IsoResponse) Contour() []ContourPoint {
	s.init()
	out := make([]ContourPoint, len(s.Directions))
	for k, d := range s.Directions {
		c := s.next[k]
		if a, b, ok := s.line(k); ok && b > 0 {
			c = math.Min(math.Max(math.Exp((s.Target-a)/b), 1e-3), 1)
		}
		out[k] = ContourPoint{Direction: d, Contrast: c, Probes: len(s.trials[k])}
	}
	return out
}

// Probe is one observed probe of a direction: its contrast and the response it got.
type Probe struct {
	Contrast, Response float64
}

// Probes returns direction k's observed probes, in order.
func (s *IsoResponse) Probes(k int) []Probe {
	s.init()
	out := make([]Probe, len(s.trials[k]))
	for i, p := range s.trials[k] {
		out[i] = Probe{Contrast: math.Exp(p[0]), Response: p[1]}
	}
	return out
}
