package fit_test

import (
	"context"
	"testing"

	"retinad/infer/dataset"
	"retinad/infer/fit"
	"retinad/infer/fit/fittest"
)

// twentyMinutes is 20 minutes of full-field flicker at 120 Hz (144,000 bins) from 16 ON and
// OFF cells with refractory spike history: the size the fit command must handle in seconds.
func twentyMinutes(b *testing.B, hw int) *dataset.Dataset {
	b.Helper()
	spec := fittest.Spec{T: 144000, H: hw, W: hw, FrameRate: 120, Seed: 1}
	if hw > 1 {
		spec.T = 36000 // 5 minutes of 50x50 checkerboard: 360 MB of float32 already
	}
	for c := 0; c < 16; c++ {
		sign := []float64{1, -1}[c%2]
		cell := fittest.Cell{Temporal: fittest.Scale(fittest.Biphasic(40, 6+float64(c%4)), sign), Bias: -2.5,
			History: []float64{-2, -1, -0.5, -0.2}}
		if hw > 1 {
			cell.Spatial = fittest.Gaussian(hw, hw, float64(5+(c*7)%(hw-10)), float64(5+(c*13)%(hw-10)), 2)
		}
		spec.Cells = append(spec.Cells, cell)
	}
	d, _ := fittest.Generate(spec)
	return d
}

func benchFit(b *testing.B, hw int, f func(d *dataset.Dataset) error) {
	d := twentyMinutes(b, hw)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/fit")
}

func BenchmarkFitLNFullField20min(b *testing.B) {
	benchFit(b, 1, func(d *dataset.Dataset) error {
		_, err := fit.FitLN(context.Background(), d, "bench", fit.Options{History: 40, TestFraction: 0.2})
		return err
	})
}

func BenchmarkFitGLMFullField20min(b *testing.B) {
	benchFit(b, 1, func(d *dataset.Dataset) error {
		_, err := fit.FitGLM(context.Background(), d, "bench", fit.Options{History: 40, SpikeHistory: 10, TestFraction: 0.2})
		return err
	})
}

func BenchmarkFitGLMCoupledFullField20min(b *testing.B) {
	benchFit(b, 1, func(d *dataset.Dataset) error {
		_, err := fit.FitGLM(context.Background(), d, "bench", fit.Options{History: 40, SpikeHistory: 10, Coupling: true, TestFraction: 0.2})
		return err
	})
}

func BenchmarkFitLNSpatial50x50_5min(b *testing.B) {
	benchFit(b, 50, func(d *dataset.Dataset) error {
		_, err := fit.FitLN(context.Background(), d, "bench", fit.Options{History: 40, TestFraction: 0.2})
		return err
	})
}

func BenchmarkFitGLMSpatial50x50_5min(b *testing.B) {
	benchFit(b, 50, func(d *dataset.Dataset) error {
		_, err := fit.FitGLM(context.Background(), d, "bench", fit.Options{History: 40, SpikeHistory: 10, TestFraction: 0.2})
		return err
	})
}
