package fit_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"retinad/infer"
	"retinad/infer/dataset"
	"retinad/infer/fit"
	"retinad/infer/fit/fittest"
)

// rateFromFile evaluates a loaded LN or GLM model by the formulas of the model file's spec
// (infer/doc.go), independently of package fit: spikes per bin of cell c at bin t.
func rateFromFile(m *infer.Model, d *dataset.Dataset, c, t int) float64 {
	in := m.Input
	p := in.Height * in.Width
	window := func(w []float32) float64 { // w: [history*p], oldest frame first
		var s float64
		for j := 0; j < in.History; j++ {
			f := d.Frame(t - in.History + 1 + j)
			for i := 0; i < p; i++ {
				s += float64(w[j*p+i]) * (float64(f[i]) - in.Mean) / in.Std
			}
		}
		return s
	}
	scale := m.OutputScale / in.FrameRate // rates per bin
	if m.Kind == infer.LN {
		dense, nl := m.Layers[0], m.Layers[1]
		z := window(dense.Weight.Data[c*in.History*p:(c+1)*in.History*p]) + float64(dense.Bias.Data[c])
		switch nl.Type {
		case infer.Softplus:
			return math.Log1p(math.Exp(z)) * scale
		case infer.Exp:
			return math.Exp(z) * scale
		}
		panic("unexpected nonlinearity " + nl.Type)
	}
	g := m.GLM
	z := window(g.StimulusFilter.Data[c*in.History*p:(c+1)*in.History*p]) + float64(g.Bias.Data[c])
	nc := len(m.Cells)
	if g.HistoryFilter != nil {
		L := g.HistoryFilter.Shape[1]
		for j := 0; j < L; j++ {
			z += float64(g.HistoryFilter.Data[c*L+j]) * float64(d.Counts[(t-1-j)*d.C+c])
			if g.CouplingFilter != nil {
				for i := 0; i < nc; i++ {
					z += float64(g.CouplingFilter.Data[(c*nc+i)*L+j]) * float64(d.Counts[(t-1-j)*d.C+i])
				}
			}
		}
	}
	return math.Exp(z) * scale
}

// TestModelFilesReproduceTheFit writes each fit as a native model file, loads it, evaluates
// it by the file format's formulas and checks that it scores exactly what the fit reported.
func TestModelFilesReproduceTheFit(t *testing.T) {
	spec := glmSpec(20000)
	spec.H, spec.W = 3, 4 // a spatial grid: exercises the window order and the pixel layout
	for i := range spec.Cells {
		spec.Cells[i].Spatial = fittest.Gaussian(3, 4, 1, 1+float64(i), 1)
	}
	d, _ := fittest.Generate(spec)
	dir := t.TempDir()
	type fitted struct {
		name  string
		write func(string) error
		train func(c int) fit.Score
		bins  fit.Bins
	}
	var fits []fitted
	ln, err := fit.FitLN(context.Background(), d, "grid", fit.Options{History: n, TestFraction: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	fits = append(fits, fitted{"ln", ln.WriteModel, func(c int) fit.Score { return ln.Cells[c].Train }, ln.Bins})
	glm, err := fit.FitGLM(context.Background(), d, "grid", fit.Options{History: n, SpikeHistory: 8, Coupling: true, TestFraction: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	fits = append(fits, fitted{"glm", glm.WriteModel, func(c int) fit.Score { return glm.Cells[c].Train }, glm.Bins})
	for _, f := range fits {
		path := filepath.Join(dir, f.name+".model")
		if err := f.write(path); err != nil {
			t.Fatal(err)
		}
		m, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Input.Height != 3 || m.Input.Width != 4 || m.Input.History != n || m.Input.FrameRate != 100 || len(m.Cells) != 2 || m.Cells[1] != 101 {
			t.Fatalf("%s: input %+v cells %v", f.name, m.Input, m.Cells)
		}
		for c := 0; c < d.C; c++ {
			var ll, nsp, sum float64
			rows := f.bins.TestFirst - f.bins.First
			for tt := f.bins.First; tt < f.bins.TestFirst; tt++ {
				r := rateFromFile(m, d, c, tt)
				y := float64(d.Counts[tt*d.C+c])
				ll += y*math.Log(r) - r
				nsp += y
				sum += y
			}
			mean := sum / float64(rows)
			bits := (ll - (nsp*math.Log(mean) - nsp)) / (nsp * math.Ln2)
			if want := float64(f.train(c).BitsPerSpike); math.Abs(bits-want) > 1e-3 {
				t.Errorf("%s cell %d: the model file scores %.5f bits/spike on the training bins, the fit reported %.5f", f.name, c, bits, want)
			}
		}
	}
}
