package infer_test

import (
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
)

func benchStep(b *testing.B, m *infer.Model) {
	s, err := infer.NewStream(m, infer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	frames := enginetest.Frames(m, 64, 1)
	rates := make([]float32, len(m.Cells))
	for i := range m.Input.History {
		s.Step(frames[i], rates)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Step(frames[i%len(frames)], rates)
		i++
	}
	b.ReportMetric(float64(s.FLOPs())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkStepPaper is the paper's BN-CNN (40x50x50, 8@15x15, 8@11x11, 16 cells).
func BenchmarkStepPaper(b *testing.B) { benchStep(b, infertest.CNN(1, infertest.Paper)) }

// BenchmarkReferencePaper is the plain engine on the same model, for the ratio.
func BenchmarkReferencePaper(b *testing.B) {
	m := infertest.CNN(1, infertest.Paper)
	r, _ := infer.NewReference(m, infer.Options{})
	frames := enginetest.Frames(m, m.Input.History+1, 1)
	rates := make([]float32, len(m.Cells))
	for i := range m.Input.History {
		r.Step(frames[i], rates)
	}
	for b.Loop() {
		r.Step(frames[m.Input.History], rates)
	}
}

func BenchmarkStepLNPaper(b *testing.B) { benchStep(b, infertest.LNModel(1, infertest.Paper)) }
