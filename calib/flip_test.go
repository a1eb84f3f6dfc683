package calib_test

import (
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/simdevice"
	"retinad/clock"
)

// Flip is on the frame loop: it must not allocate, with or without the simulated device.
func TestFlipAllocatesNothing(t *testing.T) {
	dev, err := simdevice.NewDevice(simdevice.DeviceConfig{Latency: 8 * time.Millisecond, Jitter: 500 * time.Microsecond}, clock.System{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	for _, light := range []calib.LightSink{nil, dev} {
		p := calib.New(calib.Options{OnOnset: func(calib.Onset) {}, Light: light})
		f := uint64(0)
		if n := testing.AllocsPerRun(1000, func() { p.Flip(f, int64(f)*1e7, float64(f%2)); f++ }); n != 0 {
			t.Errorf("Flip (light %T) allocates %v times", light, n)
		}
	}
}

func BenchmarkFlip(b *testing.B) {
	p := calib.New(calib.Options{OnOnset: func(calib.Onset) {}})
	b.ReportAllocs()
	f := uint64(0)
	for b.Loop() {
		p.Flip(f, int64(f)*1e7, float64(f%2))
		f++
	}
}
