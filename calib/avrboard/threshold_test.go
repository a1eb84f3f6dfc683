package avrboard_test

import (
	"math"
	"testing"
	"time"

	"retinad/calib/avrboard"
	"retinad/calib/photodiode"
)

// TestThresholdOnBoard measures the threshold (photodiode.MeasureThreshold) on the real
// firmware's level streaming: dark at 400 mV and bright at 3600 mV of the 5 V full scale must
// give a threshold of 0.4 and a hysteresis of 0.2 x 0.64, within 2 ADC steps.
func TestThresholdOnBoard(t *testing.T) {
	l := startLevels(t, &avrboard.Display{Latency: 8 * time.Millisecond, DarkMV: 400, LightMV: 3600})
	disp := l.disp
	th, err := photodiode.MeasureThreshold(l.ctx, l.p, &l.m, photodiode.ThresholdOptions{Hold: 400 * time.Millisecond, Show: l.show})
	if err != nil {
		t.Fatalf("%v (%s)", err, lags(disp, 2))
	}
	t.Logf("dark %.4f bright %.4f: threshold %.4f hysteresis %.4f", th.Dark, th.Bright, th.Threshold, th.Hysteresis)
	const step = 64.0 / 65535 // one 10-bit ADC step
	if math.Abs(th.Threshold-0.4) > 2*step || math.Abs(th.Hysteresis-0.2*0.64) > 2*step {
		t.Errorf("threshold %.4f hysteresis %.4f: want 0.4 and %.4f within 2 ADC steps (%s)",
			th.Threshold, th.Hysteresis, 0.2*0.64, lags(disp, 2))
	}
}
