package infer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
)

func benchStep(b *testing.B, m *infer.Model) { benchStepOn(b, m, infer.Options{}) }

func benchStepOn(b *testing.B, m *infer.Model, opt infer.Options) {
	s, err := infer.NewStream(m, opt)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	frames := enginetest.Frames(m, 64, 1)
	rates := make([]float32, len(m.Cells))
	for i := range m.Input.History {
		s.Step(frames[i], rates)
	}
	// The median step, besides the mean: on a machine shared with other work, the steps the
	// scheduler took the core away in move the mean and hardly the median.
	times := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t0 := time.Now()
		s.Step(frames[i%len(frames)], rates)
		if len(times) < cap(times) {
			times = append(times, time.Since(t0))
		}
		i++
	}
	b.ReportMetric(float64(s.FLOPs())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "p50-us")
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

// BenchmarkStepRecurrentPaper is the paper's BN-CNN with a convgru of 8 state channels and
// 3x3 kernels after its convolutions (26x26), as train/'s RecurrentBNCNN with hidden=8.
func BenchmarkStepRecurrentPaper(b *testing.B) {
	benchStep(b, infertest.RecurrentCNN(1, infertest.Paper, 8, 3))
}

func BenchmarkStepLNPaper(b *testing.B) { benchStep(b, infertest.LNModel(1, infertest.Paper)) }

// BenchmarkPredict10Min is batch prediction of a 10-minute movie (60,000 frames at 100 Hz,
// 50x50) with the paper's BN-CNN on every core: one op is the whole movie.
func BenchmarkPredict10Min(b *testing.B) {
	m := infertest.CNN(1, infertest.Paper)
	const T = 60000
	hw := m.Input.Height * m.Input.Width
	frames := enginetest.Frames(m, 97, 2)
	flat := make([]float32, T*hw)
	for t := 0; t < T; t++ {
		copy(flat[t*hw:], frames[t%len(frames)])
	}
	stim := tensor.New(tensor.WithShape(T, m.Input.Height, m.Input.Width), tensor.WithBacking(flat))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := infer.Predict(context.Background(), m, stim, infer.BatchOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(T)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkStepSweep times every model in $RETINAD_BENCHMODELS (written by `python3 -m
// train.benchmodels DIR`; the sizes of issue #24), one sub-benchmark per file, on one core and
// split across two (threads=2: the pool's helper and the dense layer's split by inputs).
func BenchmarkStepSweep(b *testing.B) {
	dir := os.Getenv("RETINAD_BENCHMODELS")
	if dir == "" {
		b.Skip("RETINAD_BENCHMODELS is not set (make bench-models writes bin/benchmodels)")
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.retinad"))
	if len(paths) == 0 {
		b.Fatalf("no *.retinad in %s", dir)
	}
	for _, p := range paths {
		m, err := infer.Load(p)
		if err != nil {
			b.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".retinad")
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) { benchStepOn(b, m, infer.Options{Threads: threads}) })
		}
	}
}
