package sim

import (
	"fmt"
	"math/rand/v2"
)

// Spiker draws spike counts from firing rates: a Poisson process with an absolute refractory
// period (dead time), whose driving intensity is raised so that the mean rate is the one
// asked for (λ = r / (1 - r·d)). Spike times are exact within a bin (the rate is held constant
// over the bin); refractoriness carries across bins. Counts are sub-Poisson: the Fano factor
// of a long window is about (1 - r·d)².
type Spiker struct {
	dt, dead float64
	rng      *rand.Rand
	free     []float64 // time from the start of the next bin at which each cell can fire again
	need     []float64 // remaining unit-exponential hazard until each cell's next spike
	times    []SpikeTime
}

// SpikeTime is one spike of the last bin: the cell's index and the time from the bin's start,
// seconds.
type SpikeTime struct {
	Cell int
	At   float64
}

// Times returns the spikes of the last Spike call, in cell order and, per cell, in time
// order. The slice is reused by the next call.
func (s *Spiker) Times() []SpikeTime { return s.times }

// NewSpiker makes the spike generator of cells cells at frameRate bins per second with the
// given refractory period (seconds), its noise drawn from seed.
func NewSpiker(cells int, frameRate, refractory float64, seed uint64) (*Spiker, error) {
	if cells < 1 || !(frameRate > 0) || !(refractory >= 0) {
		return nil, fmt.Errorf("sim: spiker: %d cells at %g Hz, refractory %g s: want cells >= 1, rate > 0, refractory >= 0", cells, frameRate, refractory)
	}
	s := &Spiker{dt: 1 / frameRate, dead: refractory, rng: rand.New(rand.NewPCG(seed, 0x7370_696b_6573)),
		free: make([]float64, cells), need: make([]float64, cells)}
	// At most one spike per refractory period and cell in a bin: the buffer never grows.
	perCell := 4
	if refractory > 0 {
		perCell = int(s.dt/refractory) + 1
	}
	s.times = make([]SpikeTime, 0, perCell*cells)
	for c := range s.need {
		s.need[c] = s.rng.ExpFloat64()
	}
	return s, nil
}

// Spike draws one bin's spike counts from rate (spikes/s, one per cell) into counts.
// A rate at or above 1/refractory is treated as just below it. It allocates nothing.
func (s *Spiker) Spike(rate []float64, counts []float32) {
	if len(rate) != len(s.free) || len(counts) != len(s.free) {
		panic("sim: Spike: rate or counts of the wrong length")
	}
	s.times = s.times[:0]
	for c, r := range rate {
		n := 0
		if r > 0 {
			if s.dead > 0 {
				r = min(r, 0.95/s.dead)
			}
			lam := r / (1 - r*s.dead)
			t := max(s.free[c], 0)
			for t < s.dt {
				mass := lam * (s.dt - t)
				if mass < s.need[c] {
					s.need[c] -= mass
					break
				}
				t += s.need[c] / lam
				n++
				s.times = append(s.times, SpikeTime{c, t})
				s.need[c] = s.rng.ExpFloat64()
				s.free[c] = t + s.dead
				t = s.free[c]
			}
		}
		s.free[c] -= s.dt
		counts[c] = float32(n)
	}
}
