package sim

import (
	"testing"
)

// BenchmarkTenMinutes simulates 10 minutes of 16 cells at 100 Hz (60,000 frames of 50x50
// natural scenes): frame generation, retina and spikes, on one goroutine. The target is
// under 30 s per op on one core.
func BenchmarkTenMinutes(b *testing.B) {
	const T = 60000
	r := newRetina(b, 16)
	sp, _ := NewSpiker(16, 100, 0.004, 1)
	nat, err := Natural(50, 50, 100, 0.5, 20, 1)
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]float32, 2500)
	rate := make([]float64, 16)
	counts := make([]float32, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.Reset()
		for i := 0; i < T; i++ {
			nat(i, frame)
			r.Step(frame, rate)
			sp.Spike(rate, counts)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/10min")
}

// BenchmarkSpatial compares the separable centre-surround filter of one frame with the
// direct 2-D convolution (its peer, measured in the same process).
func BenchmarkSpatial(b *testing.B) {
	r := newRetina(b, 16)
	frame := make([]float32, 2500)
	WhiteNoise(50, 50, 1, 1, 1)(0, frame)
	b.Run("separable", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.spatial(frame)
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			directDoG(r, frame)
		}
	})
}

func BenchmarkStep(b *testing.B) {
	r := newRetina(b, 16)
	frame := make([]float32, 2500)
	WhiteNoise(50, 50, 1, 1, 1)(0, frame)
	rate := make([]float64, 16)
	b.ReportAllocs()
	for b.Loop() {
		r.Step(frame, rate)
	}
}
