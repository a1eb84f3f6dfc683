package fit_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"retinad/infer/fit"
	"retinad/infer/fit/fittest"
)

const n = 20 // filter length in the tests, bins

// onOff is a full-field recording of one ON and one OFF LN cell (softplus and exp).
func onOff(T int) fittest.Spec {
	on := fittest.Scale(fittest.Biphasic(n, 4), 1.2)
	off := fittest.Scale(fittest.Biphasic(n, 6), -1.0)
	return fittest.Spec{T: T, H: 1, W: 1, FrameRate: 100, Seed: 7, Cells: []fittest.Cell{
		{Temporal: on, Bias: -1.5, Softplus: true},
		{Temporal: off, Bias: -2},
	}}
}

// TestSTAIsTheFilterUnderWhiteNoise: for Gaussian white noise the STA of an LN cell is
// proportional to its filter (Bussgang), with the sign of the filter.
func TestSTAIsTheFilterUnderWhiteNoise(t *testing.T) {
	spec := onOff(40000)
	d, _ := fittest.Generate(spec)
	m, err := fit.FitLN(context.Background(), d, "onoff", fit.Options{History: n, TestFraction: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	for c, cell := range m.Cells {
		truth := spec.Cells[c].Temporal
		if r := fittest.Corr(cell.STA, truth); r < 0.97 {
			t.Errorf("cell %d: STA correlates %.3f with the true filter, want > 0.97", c, r)
		}
		var dot float64
		for k := range truth {
			dot += cell.STA[k] * truth[k]
		}
		if dot <= 0 {
			t.Errorf("cell %d: STA has the opposite sign of the true filter", c)
		}
	}
}

func TestLNRecoversFullFieldCells(t *testing.T) {
	spec := onOff(40000)
	d, _ := fittest.Generate(spec)
	m, err := fit.FitLN(context.Background(), d, "onoff", fit.Options{History: n, TestFraction: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	for c, cell := range m.Cells {
		truth := spec.Cells[c].Temporal
		if r := fittest.Corr(cell.Filter, truth); r < 0.98 {
			t.Errorf("cell %d: filter correlates %.3f with the truth, want > 0.98", c, r)
		}
		if fit.Polarity(cell.Filter, 1) != []string{"ON", "OFF"}[c] {
			t.Errorf("cell %d: polarity %s, want %s", c, fit.Polarity(cell.Filter, 1), []string{"ON", "OFF"}[c])
		}
		if cell.Test.BitsPerSpike < 0.05 || cell.Test.R < 0.2 {
			t.Errorf("cell %d: held-out %+v, want clearly better than a constant rate", c, cell.Test)
		}
		// The generating nonlinearity fits best: softplus for the ON cell, exp for the OFF.
		sp, ex := cell.TrainByNL["softplus"].BitsPerSpike, cell.TrainByNL["exp"].BitsPerSpike
		if (c == 0) != (sp > ex) {
			t.Errorf("cell %d: training bits/spike softplus %.4f, exp %.4f; the truth is %s", c, sp, ex, []string{"softplus", "exp"}[c])
		}
		// With the generating nonlinearity the filter's gain and the bias are the truth's.
		link := []fit.Link{fit.Softplus, fit.Exp}[c]
		forced, err := fit.FitLN(context.Background(), d, "onoff", fit.Options{History: n, TestFraction: 0.2, Link: link, LinkSet: true})
		if err != nil {
			t.Fatal(err)
		}
		fc := forced.Cells[c]
		var fitN, trueN float64
		for k := range truth {
			fitN += fc.Filter[k] * fc.Filter[k]
			trueN += truth[k] * truth[k]
		}
		if g := math.Sqrt(fitN / trueN); fc.Link != link || math.Abs(g-1) > 0.1 {
			t.Errorf("cell %d: %s filter gain %.3f of the truth's, want 1 +- 0.1", c, fc.Link, g)
		}
		if b := fc.Bias - spec.Cells[c].Bias; math.Abs(b) > 0.15 {
			t.Errorf("cell %d: bias %.3f, truth %.3f", c, fc.Bias, spec.Cells[c].Bias)
		}
		if len(cell.Binned.Centers) < 10 {
			t.Errorf("cell %d: binned nonlinearity has %d bins", c, len(cell.Binned.Centers))
		}
	}
}

func TestLNRecoversSpatialCell(t *testing.T) {
	const h, w = 16, 16
	sp := fittest.Gaussian(h, w, 5, 9, 1.5)
	spec := fittest.Spec{T: 20000, H: h, W: w, FrameRate: 100, Seed: 9, Cells: []fittest.Cell{
		{Temporal: fittest.Scale(fittest.Biphasic(n, 4), -1.5), Spatial: sp, Bias: -1.5},
	}}
	d, _ := fittest.Generate(spec)
	truth := make([]float64, n*h*w)
	for k := 0; k < n; k++ {
		for p := 0; p < h*w; p++ {
			truth[k*h*w+p] = spec.Cells[0].Temporal[k] * sp[p]
		}
	}
	for _, rank := range []int{1, 2} {
		m, err := fit.FitLN(context.Background(), d, "spatial", fit.Options{History: n, TestFraction: 0.2, ROI: 9, Rank: rank})
		if err != nil {
			t.Fatal(err)
		}
		cell := m.Cells[0]
		if len(cell.Temporal) != rank || len(cell.Spatial) != rank {
			t.Fatalf("rank %d: %d temporal and %d spatial factors", rank, len(cell.Temporal), len(cell.Spatial))
		}
		if r := fittest.Corr(cell.Filter, truth); r < 0.95 {
			t.Errorf("rank %d: filter correlates %.3f with the truth, want > 0.95", rank, r)
		}
		if r := fittest.Corr(cell.STA, truth); r < 0.5 { // the raw STA is noisy; the ridge stage is not
			t.Errorf("STA correlates %.3f with the truth, want > 0.5", r)
		}
		if r := fittest.Corr(cell.Temporal[0], spec.Cells[0].Temporal); r < 0.98 {
			t.Errorf("rank %d: temporal factor correlates %.3f with the truth", rank, r)
		}
		if got := fit.Polarity(cell.Filter, h*w); got != "OFF" {
			t.Errorf("rank %d: polarity %s, want OFF", rank, got)
		}
		if cell.Test.BitsPerSpike < 0.05 {
			t.Errorf("rank %d: held-out %+v", rank, cell.Test)
		}
	}
}

// glmSpec is a full-field GLM cell with strong refractoriness and a cell coupled to it.
func glmSpec(T int) fittest.Spec {
	hist := []float64{-3, -1.5, -0.6, -0.2, 0.1, 0.1, 0, 0}
	return fittest.Spec{T: T, H: 1, W: 1, FrameRate: 100, Seed: 11, Cells: []fittest.Cell{
		{Temporal: fittest.Scale(fittest.Biphasic(n, 4), 1.0), Bias: -1.2, History: hist},
		{Temporal: fittest.Scale(fittest.Biphasic(n, 5), -0.8), Bias: -1.8, History: hist,
			Coupling: [][]float64{{1.0, 0.6, 0.3, 0.1, 0, 0, 0, 0}, nil}},
	}}
}

func TestGLMHistoryBeatsStimulusOnly(t *testing.T) {
	spec := glmSpec(40000)
	d, _ := fittest.Generate(spec)
	m, err := fit.FitGLM(context.Background(), d, "glm", fit.Options{History: n, SpikeHistory: 8, Basis: 8, TestFraction: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	for c, cell := range m.Cells {
		if cell.Test.BitsPerSpike <= cell.StimulusOnlyTest.BitsPerSpike+0.02 {
			t.Errorf("cell %d: held-out %.3f bits/spike with history, %.3f without: want history to win", c, cell.Test.BitsPerSpike, cell.StimulusOnlyTest.BitsPerSpike)
		}
		// Cell 1 is also driven by cell 0's spikes, which this fit leaves out, so only cell
		// 0's stimulus filter must match (TestGLMCoupling checks both).
		if r := fittest.Corr(cell.Filter, spec.Cells[c].Temporal); c == 0 && r < 0.95 {
			t.Errorf("cell %d: stimulus filter correlates %.3f with the truth", c, r)
		}
		if r := fittest.Corr(cell.History, spec.Cells[c].History); r < 0.95 {
			t.Errorf("cell %d: history filter %v correlates %.3f with the truth %v", c, cell.History, r, spec.Cells[c].History)
		}
		if cell.History[0] > -1.5 {
			t.Errorf("cell %d: history at lag 1 = %.2f, want refractory (truth -3)", c, cell.History[0])
		}
		t.Logf("cell %d: train %+v test %+v; stimulus only: test %+v", c, cell.Train, cell.Test, cell.StimulusOnlyTest)
	}
}

func TestGLMCoupling(t *testing.T) {
	spec := glmSpec(40000)
	d, _ := fittest.Generate(spec)
	m, err := fit.FitGLM(context.Background(), d, "glm", fit.Options{History: n, SpikeHistory: 8, Basis: 8, Coupling: true, TestFraction: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	for c, cell := range m.Cells {
		if r := fittest.Corr(cell.Filter, spec.Cells[c].Temporal); r < 0.95 {
			t.Errorf("cell %d: stimulus filter correlates %.3f with the truth", c, r)
		}
		if cell.Test.BitsPerSpike <= cell.StimulusOnlyTest.BitsPerSpike {
			t.Errorf("cell %d: coupled GLM %.3f bits/spike held out, stimulus only %.3f", c, cell.Test.BitsPerSpike, cell.StimulusOnlyTest.BitsPerSpike)
		}
	}
	got := m.Cells[1].Coupling[0]
	if r := fittest.Corr(got, spec.Cells[1].Coupling[0]); r < 0.9 || got[0] < 0.5 {
		t.Errorf("coupling 0 -> 1 = %v, truth %v (r %.3f)", got, spec.Cells[1].Coupling[0], r)
	}
	for j, v := range m.Cells[0].Coupling[1] {
		if math.Abs(v) > 0.3 {
			t.Errorf("coupling 1 -> 0 at lag %d = %.3f, truth 0", j+1, v)
		}
	}
}

func TestRefusesSilentCell(t *testing.T) {
	d, _ := fittest.Generate(onOff(2000))
	for t := 0; t < d.T; t++ {
		d.Counts[t*d.C+1] = 0
	}
	_, err := fit.FitLN(context.Background(), d, "silent.npz", fit.Options{History: n})
	if err == nil || !strings.Contains(err.Error(), "silent.npz: counts: cell 1 (id 101) has no spikes") {
		t.Fatalf("err = %v, want it to name the file, array and cell", err)
	}
}

func TestCancel(t *testing.T) {
	d, _ := fittest.Generate(onOff(5000))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fit.FitGLM(ctx, d, "x", fit.Options{History: n, SpikeHistory: 5}); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
