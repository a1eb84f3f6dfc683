package photodiode

import (
	"context"
	"fmt"
	"time"

	"retinad/calib"
)

// ThresholdOptions sets a threshold measurement.
type ThresholdOptions struct {
	Hold time.Duration // how long dark and bright are each shown; see GammaOptions
	// Show puts a drive level on the patch; see GammaOptions.
	Show func(frame uint64, level float64) int64
	// Margin is the hysteresis as a fraction of the dark-to-bright gap; default 0.2: an edge
	// needs the light to pass 10% of the gap beyond the midpoint.
	Margin float64
	// MinGap is the least bright-minus-dark, fraction of the diode's full scale, that can be
	// told apart; default 0.05 (about 50 steps of a 10-bit ADC).
	MinGap float64
}

// Threshold is a measured edge threshold, fractions of the diode's full scale.
type Threshold struct {
	Dark, Bright          float64 // levels of the patch at drive 0 and 1
	Threshold, Hysteresis float64 // what to send to the device (calib.Options)
}

// MeasureThreshold shows the patch dark, then bright, with the device streaming levels into m
// (m must be p's Options.OnLevels, and new), measured as MeasureGamma measures, and sets the threshold midway between
// dark and bright with Margin of the gap as hysteresis. It fails, saying why, when the levels
// are too close to separate. `retinad calibrate threshold` runs it, checks edges on a test
// sequence with the result and writes it into the calibration file (WriteThreshold).
func MeasureThreshold(ctx context.Context, p *calib.Photodiode, m *calib.GammaMeter, o ThresholdOptions) (Threshold, error) {
	if o.Margin <= 0 {
		o.Margin = 0.2
	}
	if o.MinGap <= 0 {
		o.MinGap = 0.05
	}
	if err := showSteps(ctx, p, m, GammaOptions{Steps: 2, Hold: o.Hold, Show: o.Show}); err != nil {
		return Threshold{}, fmt.Errorf("photodiode: threshold: %w", err)
	}
	_, raw, err := m.Means()
	if err != nil {
		return Threshold{}, fmt.Errorf("photodiode: threshold: %w", err)
	}
	th := Threshold{Dark: raw[0], Bright: raw[1]}
	if gap := th.Bright - th.Dark; gap < o.MinGap {
		return th, fmt.Errorf("photodiode: threshold: the patch reads %.3f dark and %.3f bright (of full scale), %.3f apart, less than %.3f: is the photodiode on the patch, and the patch larger than the photodiode?",
			th.Dark, th.Bright, gap, o.MinGap)
	}
	th.Threshold = (th.Dark + th.Bright) / 2
	th.Hysteresis = o.Margin * (th.Bright - th.Dark)
	return th, nil
}
