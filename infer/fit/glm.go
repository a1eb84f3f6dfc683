package fit

import (
	"context"
	"fmt"
	"math"

	"retinad/infer/dataset"
)

// GLM is a fitted Poisson GLM of every cell of a dataset:
//
//	rate[t] = exp(Bias + Filter . stimulus[t-N+1..t] + History . own[t-K..t-1]
//	              + sum over cells j of Coupling[j] . counts_j[t-K..t-1]) * frame rate
type GLM struct {
	H, W, History int     // stimulus grid and filter length in bins
	SpikeHistory  int     // history and coupling filter length in bins (K)
	FrameRate     float64 // bins per second
	Coupled       bool
	FullField     bool // the stimulus was uniform on its grid and was fitted as one pixel
	Cells         []GLMCell
	Bins          Bins
}

// GLMCell is one cell's GLM.
type GLMCell struct {
	Index int
	ID    int64
	// Filter is the stimulus filter (log rate per unit contrast), lag-major as LNCell.Filter.
	Filter   []float64
	Temporal [][]float64 // its temporal factors (lag 0 first)
	Spatial  [][]float64 // its spatial factors on the whole grid
	Bias     float64     // log spikes per bin
	// History[j] weighs the cell's own count j+1 bins back (log rate per spike).
	History []float64
	// Coupling[i][j] weighs cell i's count j+1 bins back; nil without coupling, and
	// Coupling[Index] is nil (that is History).
	Coupling    [][]float64
	Iterations  int // Newton iterations, the stimulus-only fit's included
	Train, Test Score
	// StimulusOnly scores the same fit without history and coupling, for comparison
	// (zero when SpikeHistory is 0).
	StimulusOnlyTrain, StimulusOnlyTest Score
}

// FitGLM fits a Poisson GLM to every cell of d by maximum a posteriori estimation (exact
// gradient and Hessian, Newton's method). For spatial stimuli the spatial profile of each
// cell comes from the rank-r ridge fit of its linear stage and stays fixed; the temporal
// filter, bias, history and coupling are fitted by likelihood. name labels its errors.
func FitGLM(ctx context.Context, d *dataset.Dataset, name string, o Options) (*GLM, error) {
	o = o.withDefaults()
	if err := o.check(d, true); err != nil {
		return nil, err
	}
	grid := d
	d, uniform := fullField(d)
	k := o.SpikeHistory
	s, err := newSplit(d, name, max(o.History-1, k), o.TestFraction, d.CellIDs)
	if err != nil {
		return nil, err
	}
	m := &GLM{H: d.H, W: d.W, History: o.History, SpikeHistory: k, FrameRate: d.FrameRate,
		Coupled: o.Coupling, Cells: make([]GLMCell, d.C), Bins: Bins{s.t0, s.t0 + s.nTrain, s.T}}

	// History features of every cell, shared: h[c][row*b+i] = sum_j basis[j][i] counts_c[t-1-j].
	b := min(o.Basis, k)
	basis := cosineBasis(k, b)
	var hist [][]float64
	if k > 0 {
		hist = make([][]float64, d.C)
		for c := range hist {
			hist[c] = make([]float64, s.rows()*b)
			for i := 0; i < s.rows(); i++ {
				t := s.t0 + i
				for j := 0; j < k; j++ {
					y := float64(d.Counts[(t-1-j)*d.C+c])
					if y == 0 {
						continue
					}
					for q := 0; q < b; q++ {
						hist[c][i*b+q] += basis[j*b+q] * y
					}
				}
			}
		}
	}
	err = forCells(ctx, o, "glm", d.C, func(c int) error {
		cell, err := fitGLMCell(ctx, d, s, c, o, hist, basis, b)
		if err != nil {
			return fmt.Errorf("fit: %s: cell %d (id %d): %w", name, c, d.CellIDs[c], err)
		}
		m.Cells[c] = *cell
		return nil
	})
	if err != nil {
		return nil, err
	}
	if uniform {
		m.spreadTo(grid.H, grid.W)
	}
	return m, nil
}

func fitGLMCell(ctx context.Context, d *dataset.Dataset, s split, c int, o Options, hist [][]float64, basis []float64, b int) (*GLMCell, error) {
	y := counts(d, s, c)
	n, p, k := o.History, d.Pixels(), o.SpikeHistory
	// The stimulus enters through the projections z_r of the linear stage's spatial factors
	// (the stimulus itself for full-field), each with an unconstrained temporal filter.
	var lin *linear
	if p == 1 {
		lin = &linear{roi: []int{0}, spatial: [][]float64{{1}}}
	} else {
		var err error
		if lin, err = fitLinear(d, s, c, y, o); err != nil {
			return nil, err
		}
	}
	z := lin.projected(d)
	rank := len(z)
	stim, sdim := temporalDesign(z, s, n) // [1, stimulus lags]

	var ybar float64
	for _, v := range y[:s.nTrain] {
		ybar += v
	}
	ybar /= float64(s.nTrain)

	// Coupled cells' history blocks (own first), then the design [1, stim, history blocks].
	var blocks []int
	if k > 0 {
		blocks = append(blocks, c)
		if o.Coupling {
			for j := 0; j < d.C; j++ {
				if j != c {
					blocks = append(blocks, j)
				}
			}
		}
	}
	fitWith := func(blocks []int, w0 []float64) ([]float64, int, []float64, error) {
		dim := sdim + len(blocks)*b
		x := make([]float64, s.rows()*dim)
		for i := 0; i < s.rows(); i++ {
			row := x[i*dim : (i+1)*dim]
			copy(row, stim[i*sdim:(i+1)*sdim])
			for bi, j := range blocks {
				copy(row[sdim+bi*b:sdim+(bi+1)*b], hist[j][i*b:(i+1)*b])
			}
		}
		prior := glmPrior(dim, rank, n, o.L2, o.Smooth)
		pr := &poisson{X: x[:s.nTrain*dim], rows: s.nTrain, d: dim, y: y[:s.nTrain], link: Exp, prior: prior}
		w := make([]float64, dim)
		w[0] = math.Log(ybar)
		copy(w, w0) // a warm start: the stimulus-only fit's bias and stimulus weights
		it, err := pr.newton(ctx, w)
		if err != nil {
			return nil, it, nil, err
		}
		eta := predict(x, s.rows(), dim, w)
		for i := range eta {
			eta[i] = math.Exp(eta[i])
		}
		return w, it, eta, nil
	}
	w0, it0, rate0, err := fitWith(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("stimulus-only fit: %w", err)
	}
	w, it, rate := w0, it0, rate0
	if len(blocks) > 0 {
		if w, it, rate, err = fitWith(blocks, w0); err != nil {
			return nil, err
		}
	}
	cell := &GLMCell{Index: c, ID: d.CellIDs[c], Bias: w[0], Iterations: it0 + it}
	cell.Train, cell.Test = scores(rate, y, s)
	if k > 0 {
		cell.StimulusOnlyTrain, cell.StimulusOnlyTest = scores(rate0, y, s)
	}
	for r := 0; r < rank; r++ {
		cell.Temporal = append(cell.Temporal, append([]float64(nil), w[1+r*n:1+(r+1)*n]...))
		sp := make([]float64, p)
		for i, px := range lin.roi {
			sp[px] = lin.spatial[r][i]
		}
		cell.Spatial = append(cell.Spatial, sp)
	}
	lin.temporal = cell.Temporal
	cell.Filter = lin.filter(n, p)
	expand := func(coef []float64) []float64 {
		f := make([]float64, k)
		for j := 0; j < k; j++ {
			for q := 0; q < b; q++ {
				f[j] += basis[j*b+q] * coef[q]
			}
		}
		return f
	}
	for bi, j := range blocks {
		f := expand(w[sdim+bi*b : sdim+(bi+1)*b])
		if j == c {
			cell.History = f
			continue
		}
		if cell.Coupling == nil {
			cell.Coupling = make([][]float64, d.C)
		}
		cell.Coupling[j] = f
	}
	return cell, nil
}

// glmPrior is the Gaussian prior's precision: l2 on every weight but the bias (column 0),
// plus smooth times the squared second difference along lags of each of the rank temporal
// stimulus filters (columns 1..rank*n).
func glmPrior(dim, rank, n int, l2, smooth float64) []float64 {
	p := make([]float64, dim*dim)
	for i := 1; i < dim; i++ {
		p[i*dim+i] = l2
	}
	if smooth > 0 {
		for r := 0; r < rank; r++ {
			off := 1 + r*n
			for k := 1; k+1 < n; k++ { // row (1, -2, 1) at lags k-1, k, k+1
				idx := []int{off + k - 1, off + k, off + k + 1}
				coef := []float64{1, -2, 1}
				for a := range idx {
					for bb := range idx {
						p[idx[a]*dim+idx[bb]] += smooth * coef[a] * coef[bb]
					}
				}
			}
		}
	}
	return p
}
