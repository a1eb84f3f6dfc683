package photodiode_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"retinad/calib/photodiode"
)

// TestMeasureThreshold measures the threshold on the fake device over a real pty: with the
// patch under the diode, midway between dark (0) and bright (1) with 20% hysteresis; with the
// diode off the patch (it sees the same light whatever is shown), a clear error.
func TestMeasureThreshold(t *testing.T) {
	for _, onPatch := range []bool{true, false} {
		l := startLevelLink(t, 0)
		th, err := photodiode.MeasureThreshold(l.ctx, l.p, &l.meter, photodiode.ThresholdOptions{Hold: 60 * time.Millisecond,
			Show: func(f uint64, level float64) int64 {
				if !onPatch {
					level = 0.3 // the diode sees the room, not the patch
				}
				return l.show(f, level)
			}})
		l.stop()
		if !onPatch {
			if err == nil || !strings.Contains(err.Error(), "is the photodiode on the patch") {
				t.Errorf("diode off the patch: got %+v, %v; want the error saying the levels are too close", th, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("dark %.4f bright %.4f: threshold %.4f hysteresis %.4f", th.Dark, th.Bright, th.Threshold, th.Hysteresis)
		if math.Abs(th.Threshold-0.5) > 0.01 || math.Abs(th.Hysteresis-0.2) > 0.01 {
			t.Errorf("threshold %.4f hysteresis %.4f: want 0.5 and 0.2 within 0.01", th.Threshold, th.Hysteresis)
		}
	}
}
