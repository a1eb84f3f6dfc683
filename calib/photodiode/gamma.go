package photodiode

import (
	"context"
	"fmt"
	"time"

	"retinad/calib"
)

// GammaOptions sets a gamma measurement.
type GammaOptions struct {
	Steps int           // gray levels, equally spaced from 0 to full drive; at least 3
	Hold  time.Duration // how long each is shown; its second half is measured
	// Period is the level sample period asked of the device; default 1 ms.
	Period time.Duration
	// Show puts drive level (0..1) on the photodiode's patch as frame and returns the host ns
	// of the flip. In simulation it flips the fake device's light directly.
	Show func(frame uint64, level float64) int64
}

// MeasureGamma shows o.Steps gray levels through o.Show, each for o.Hold, with the device
// streaming levels into m (which must be p's Options.OnLevels), and fits the display's
// response. p must be running with its clock sync ready. Level streaming is turned off again
// before it returns.
func MeasureGamma(ctx context.Context, p *calib.Photodiode, m *calib.GammaMeter, o GammaOptions) (calib.Gamma, error) {
	if o.Steps < 3 {
		return calib.Gamma{}, fmt.Errorf("photodiode: gamma: %d steps: want at least 3", o.Steps)
	}
	if err := showSteps(ctx, p, m, o); err != nil {
		return calib.Gamma{}, err
	}
	return m.Result()
}

// showSteps shows o.Steps (2 or more) gray levels from 0 to 1 with the device streaming levels
// into m, for MeasureGamma and MeasureThreshold.
func showSteps(ctx context.Context, p *calib.Photodiode, m *calib.GammaMeter, o GammaOptions) error {
	if o.Hold < 20*time.Millisecond {
		return fmt.Errorf("photodiode: gamma: hold %v: want at least 20ms (the display's latency must pass)", o.Hold)
	}
	if o.Period <= 0 {
		o.Period = time.Millisecond
	}
	p.StreamLevels(o.Period)
	defer p.StreamLevels(0)
	// Let the device start streaming before the first level counts.
	if err := sleep(ctx, 50*time.Millisecond); err != nil {
		return err
	}
	for k := range o.Steps {
		drive := float64(k) / float64(o.Steps-1)
		ns := o.Show(uint64(k), drive)
		m.Step(drive, ns+int64(o.Hold/2), ns+int64(o.Hold))
		if err := sleep(ctx, o.Hold); err != nil {
			return err
		}
	}
	// The last samples leave the device a block (16 samples) after they are taken.
	return sleep(ctx, 16*o.Period+50*time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("photodiode: gamma: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
