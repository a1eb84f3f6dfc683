package calib

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// GammaMeter measures a display's response from level samples: the caller shows a gray level,
// calls Step with the drive level and the host-time window in which the patch is settled,
// and passes every block of samples to Levels (Options.OnLevels). Safe for one caller of Step
// and Run's goroutine calling Levels.
type GammaMeter struct {
	mu    sync.Mutex
	steps []gammaStep
}

type gammaStep struct {
	drive    float64
	from, to int64 // host ns
	sum      float64
	n        int
}

// Step adds a gray level: samples stamped in [from, to) host ns are its measurement.
func (g *GammaMeter) Step(drive float64, from, to int64) {
	g.mu.Lock()
	g.steps = append(g.steps, gammaStep{drive: drive, from: from, to: to})
	g.mu.Unlock()
}

// Levels takes one block of samples (it is an Options.OnLevels).
func (g *GammaMeter) Levels(l *Levels) {
	if l.HostNs == 0 {
		return // the clock sync is not ready: the samples cannot be placed
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range l.N {
		t := l.HostNs + int64(i)*int64(l.Period)
		for k := len(g.steps) - 1; k >= 0; k-- {
			s := &g.steps[k]
			if t >= s.from && t < s.to {
				s.sum += l.Samples[i]
				s.n++
				break
			}
		}
	}
}

// Gamma is a fitted display response: normalised luminance L = drive^Exponent, and the
// measured table.
type Gamma struct {
	Exponent float64
	RMS      float64   // RMS of the measured normalised luminances about the power law
	Drive    []float64 // the measured drive levels, ascending
	Lum      []float64 // their normalised luminances (0 at drive 0, 1 at full drive)
	Black    float64   // raw level at drive 0, fraction of the diode's full scale
	White    float64   // raw level at full drive
}

// Result fits the steps measured so far. It needs at least 3 steps with samples, among
// them drive 0 and drive 1, and the white level above the black.
func (g *GammaMeter) Result() (Gamma, error) {
	drive, raw, err := g.Means()
	if err != nil {
		return Gamma{}, err
	}
	return FitGamma(drive, raw)
}

// Means returns the steps' drive levels and mean raw levels (fractions of full scale), in the
// order they were added; it fails if a step has no samples.
func (g *GammaMeter) Means() (drive, raw []float64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.steps {
		if s.n == 0 {
			return nil, nil, fmt.Errorf("calib: gamma: drive level %.4f: no level samples in its window", s.drive)
		}
		drive, raw = append(drive, s.drive), append(raw, s.sum/float64(s.n))
	}
	return drive, raw, nil
}

// FitGamma fits L = drive^exponent to raw levels measured at drive levels (ascending, from
// 0 to 1): the levels are normalised between the readings at drive 0 and drive 1, and the
// exponent is the least-squares slope of log L on log drive, each point weighted by L^2 (the
// inverse variance of log L for a constant noise on L), over the drive levels strictly between
// 0 and 1 whose L is above 1%.
func FitGamma(drive, raw []float64) (Gamma, error) {
	n := len(drive)
	if n < 3 || len(raw) != n {
		return Gamma{}, fmt.Errorf("calib: gamma: %d drive levels and %d readings: want 3 or more of each", n, len(raw))
	}
	if drive[0] != 0 || drive[n-1] != 1 {
		return Gamma{}, fmt.Errorf("calib: gamma: drive levels from %g to %g: want 0 to 1", drive[0], drive[n-1])
	}
	black, white := raw[0], raw[n-1]
	if !(white > black) {
		return Gamma{}, fmt.Errorf("calib: gamma: level at full drive %.4f is not above the level at drive 0 %.4f: is the diode on the patch?", white, black)
	}
	g := Gamma{Drive: append([]float64(nil), drive...), Lum: make([]float64, n), Black: black, White: white}
	var sxy, sxx float64
	for i := range n {
		if i > 0 && drive[i] <= drive[i-1] {
			return Gamma{}, fmt.Errorf("calib: gamma: drive level %g after %g: want ascending", drive[i], drive[i-1])
		}
		l := (raw[i] - black) / (white - black)
		g.Lum[i] = l
		if drive[i] > 0 && drive[i] < 1 && l > 0.01 {
			w := l * l
			x, y := math.Log(drive[i]), math.Log(l)
			sxy += w * x * y
			sxx += w * x * x
		}
	}
	if sxx == 0 {
		return Gamma{}, errors.New("calib: gamma: no drive level between 0 and 1 gave light above 1% of full: cannot fit an exponent")
	}
	g.Exponent = sxy / sxx
	var ss float64
	for i := range n {
		d := g.Lum[i] - math.Pow(drive[i], g.Exponent)
		ss += d * d
	}
	g.RMS = math.Sqrt(ss / float64(n))
	return g, nil
}

// Table resamples the measured luminances to size equally spaced drive levels (linear
// interpolation), made non-decreasing: the table a presenter inverts (display.gamma.lut).
func (g *Gamma) Table(size int) []float64 {
	t := make([]float64, size)
	j := 0
	for k := range t {
		d := float64(k) / float64(size-1)
		for j+2 < len(g.Drive) && g.Drive[j+1] < d {
			j++
		}
		d0, d1 := g.Drive[j], g.Drive[j+1]
		f := min(max((d-d0)/(d1-d0), 0), 1)
		t[k] = g.Lum[j] + f*(g.Lum[j+1]-g.Lum[j])
		if k > 0 && t[k] < t[k-1] {
			t[k] = t[k-1]
		}
	}
	return t
}
