package sim

import (
	"errors"
	"fmt"
)

// Params are the virtual retina's parameters, each standing for a piece of the biology.
// Lengths are in stimulus pixels, times in seconds. DefaultParams gives a salamander-like
// retina at 100 Hz on a 50x50 grid (50 µm pixels).
type Params struct {
	FrameRate float64 // bins (stimulus frames) per second

	// Bipolar-cell subunits: the excitatory inputs of a ganglion cell.
	SubunitSpacing int     // spacing of the bipolar mosaic (one subunit every SubunitSpacing pixels)
	CenterSigma    float64 // bipolar receptive-field centre (photoreceptor convergence, dendrites), Gaussian s.d.
	SurroundSigma  float64 // horizontal-cell surround, Gaussian s.d.
	SurroundWeight float64 // surround strength relative to the centre (1 = balanced, no response to uniform light)
	// Temporal filter: a fast low-pass cascade (phototransduction and the bipolar membrane)
	// minus Biphasic times a slower one (the antagonistic phase: adaptation in the cone and
	// bipolar cell), giving the biphasic, band-pass impulse response of bipolar cells.
	TauFast, TauSlow float64 // time constant of each stage of the two cascades
	Stages           int     // first-order stages per cascade (the filter's delay and sharpness)
	Biphasic         float64 // weight of the slow cascade (0 monophasic, 1 fully transient)
	// Divisive contrast gain control at the bipolar terminal: each subunit's filtered signal
	// is divided by GainSemi + sqrt(v), v the running mean (time constant GainTau) of its
	// squared signal, its local contrast. A step up in contrast lowers the gain over about
	// GainTau: contrast adaptation. GainSemi is in the filtered signal's units (contrast).
	GainTau  float64
	GainSemi float64
	// Threshold of synaptic release at the bipolar terminal, in units of the normalised
	// signal: each subunit is rectified, ON [x-θ]+ and OFF [-x-θ]+, before the ganglion cell
	// pools it. This nonlinear spatial summation is what makes natural scenes escape an LN model.
	Threshold float64

	// Ganglion cells.
	RFSigma float64 // dendritic field: Gaussian s.d. of the weights on the subunits it pools
	Jitter  float64 // position jitter of the cell mosaic, fraction of the mosaic's spacing
	// Feedforward amacrine inhibition: amacrine cells pool the subunits of the opposite polarity
	// (crossover inhibition) over a wider field and inhibit the ganglion cell after a delay.
	AmacrineSigma  float64 // amacrine field, Gaussian s.d.
	AmacrineTau    float64 // time constant of each of the two low-pass stages of the delay
	AmacrineWeight float64 // inhibition strength relative to excitation
	// The ganglion cell's own contrast adaptation (slow inactivation of its spike generator,
	// and the contrast adaptation of its inputs that is not in the subunits): the pooled drive
	// is taken relative to its running mean and divided by CellGainSemi plus its running
	// standard deviation, both over CellGainTau.
	CellGainTau  float64
	CellGainSemi float64 // drive units (normalised subunit signal)

	// Spike generation: rate = RateScale * softplus(Slope*(g - Offset)) / Slope (spikes/s), g
	// the adapted drive (in its standard deviations),
	// capped at MaxRate; spikes are drawn with an absolute refractory period (the sodium
	// channels' inactivation) that makes spike counts less variable than Poisson.
	RateScale  float64 // spikes/s per unit drive, at high drive
	Slope      float64 // sharpness of the threshold, per unit drive
	Offset     float64 // spike threshold, in drive units
	MaxRate    float64 // spikes/s; must stay below 1/Refractory
	Refractory float64
}

// DefaultParams is a salamander-like retina at 100 Hz: 100 µm bipolar spacing, ~150 µm
// ganglion-cell fields, filters peaking near 80 ms, a few seconds of contrast adaptation.
func DefaultParams() Params {
	return Params{
		FrameRate:      100,
		SubunitSpacing: 2,
		CenterSigma:    1.0,
		SurroundSigma:  3.0,
		SurroundWeight: 0.6,
		TauFast:        0.025,
		TauSlow:        0.050,
		Stages:         4,
		Biphasic:       0.8,
		GainTau:        2.0,
		GainSemi:       0.01,
		Threshold:      0.3,
		RFSigma:        3.0,
		Jitter:         0.2,
		AmacrineSigma:  6.0,
		AmacrineTau:    0.030,
		AmacrineWeight: 0.5,
		CellGainTau:    4.0,
		CellGainSemi:   0.02,
		RateScale:      40,
		Slope:          2,
		Offset:         1.0,
		MaxRate:        200,
		Refractory:     0.004,
	}
}

// Check reports every parameter out of range, naming it.
func (p Params) Check() error {
	var errs []error
	pos := func(name string, v float64) {
		if !(v > 0) {
			errs = append(errs, fmt.Errorf("sim: params: %s = %g, want > 0", name, v))
		}
	}
	nonneg := func(name string, v float64) {
		if !(v >= 0) {
			errs = append(errs, fmt.Errorf("sim: params: %s = %g, want >= 0", name, v))
		}
	}
	pos("FrameRate", p.FrameRate)
	if p.SubunitSpacing < 1 {
		errs = append(errs, fmt.Errorf("sim: params: SubunitSpacing = %d, want >= 1", p.SubunitSpacing))
	}
	if p.Stages < 1 {
		errs = append(errs, fmt.Errorf("sim: params: Stages = %d, want >= 1", p.Stages))
	}
	pos("CenterSigma", p.CenterSigma)
	pos("SurroundSigma", p.SurroundSigma)
	nonneg("SurroundWeight", p.SurroundWeight)
	pos("TauFast", p.TauFast)
	pos("TauSlow", p.TauSlow)
	nonneg("Biphasic", p.Biphasic)
	nonneg("Threshold", p.Threshold)
	pos("RFSigma", p.RFSigma)
	nonneg("Jitter", p.Jitter)
	pos("AmacrineSigma", p.AmacrineSigma)
	pos("AmacrineTau", p.AmacrineTau)
	nonneg("AmacrineWeight", p.AmacrineWeight)
	pos("GainTau", p.GainTau)
	pos("GainSemi", p.GainSemi)
	pos("CellGainTau", p.CellGainTau)
	pos("CellGainSemi", p.CellGainSemi)
	pos("RateScale", p.RateScale)
	pos("Slope", p.Slope)
	pos("MaxRate", p.MaxRate)
	nonneg("Refractory", p.Refractory)
	if p.Refractory > 0 && p.MaxRate*p.Refractory >= 0.9 {
		errs = append(errs, fmt.Errorf("sim: params: MaxRate*Refractory = %g, want < 0.9 (a rate the refractory period allows)", p.MaxRate*p.Refractory))
	}
	return errors.Join(errs...)
}
