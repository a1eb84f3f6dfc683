package fit

import (
	"context"
	"fmt"
	"math"
	"sort"

	"retinad/infer/dataset"
)

// LN is a fitted linear-nonlinear model of every cell of a dataset.
type LN struct {
	H, W, History int     // stimulus grid and filter length in bins
	FrameRate     float64 // bins per second
	FullField     bool    // the stimulus was uniform on its grid and was fitted as one pixel
	Cells         []LNCell
	Bins          Bins
}

// Bins says which bins a fit trained and tested on.
type Bins struct {
	First, TestFirst, End int // rows [First, TestFirst) train, [TestFirst, End) test
}

// LNCell is one cell's LN model: rate = Link(Bias + sum Filter * window) * frame rate.
type LNCell struct {
	Index int
	ID    int64
	// Filter is the linear filter in the units of the link's argument per unit contrast,
	// lag-major: Filter[k*H*W + y*W + x] weighs pixel (y, x) k bins before the current one.
	Filter []float64
	Bias   float64
	// Link is the parametric nonlinearity: Options.Link, or the one of softplus and exp with
	// the higher training likelihood summed over cells (one for the whole model).
	Link Link
	// STA is the spike-triggered average (contrast), laid out as Filter.
	STA []float64
	// Temporal and Spatial are the separable factors of the linear stage (before the
	// nonlinearity's gain), Spatial on the whole grid (zero outside the region fitted).
	Temporal, Spatial [][]float64
	Lambda            float64 // ridge penalty chosen by cross-validation
	Binned            Binned  // the nonparametric nonlinearity on the linear stage's output
	// Scores of the model (Link) and of each candidate nonlinearity, by name:
	// "softplus", "exp", "binned".
	Train, Test         Score
	TrainByNL, TestByNL map[string]Score

	byLink map[Link]linkFit
}

// linkFit is one cell's LN model with one parametric nonlinearity.
type linkFit struct {
	filter      []float64
	bias        float64
	nll         float64 // training negative log-likelihood
	train, test Score
}

// useLink makes link the nonlinearity of every cell (a model file has one for all cells).
func (m *LN) useLink(link Link) {
	for i := range m.Cells {
		c := &m.Cells[i]
		f := c.byLink[link]
		c.Link, c.Filter, c.Bias, c.Train, c.Test = link, f.filter, f.bias, f.train, f.test
	}
}

// Binned is a nonparametric nonlinearity: the mean count in each quantile bin of the linear
// drive, interpolated linearly between bin centres and held constant beyond them.
type Binned struct {
	Centers []float64 // mean drive in each bin (spikes per bin, the ridge prediction)
	Rates   []float64 // mean count in each bin (spikes per bin)
}

func (b Binned) rate(g float64) float64 {
	c, r := b.Centers, b.Rates
	i := sort.SearchFloat64s(c, g)
	switch {
	case i == 0:
		return r[0]
	case i == len(c):
		return r[len(r)-1]
	}
	a := (g - c[i-1]) / (c[i] - c[i-1])
	return r[i-1] + a*(r[i]-r[i-1])
}

func fitBinned(g, y []float64, bins int) Binned {
	idx := make([]int, len(g))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return g[idx[a]] < g[idx[b]] })
	var b Binned
	for j := 0; j < bins; j++ {
		lo, hi := len(idx)*j/bins, len(idx)*(j+1)/bins
		if hi == lo {
			continue
		}
		var sg, sy float64
		for _, i := range idx[lo:hi] {
			sg += g[i]
			sy += y[i]
		}
		c := sg / float64(hi-lo)
		if n := len(b.Centers); n > 0 && c <= b.Centers[n-1] {
			continue // ties: keep the centres strictly increasing
		}
		b.Centers = append(b.Centers, c)
		b.Rates = append(b.Rates, sy/float64(hi-lo))
	}
	return b
}

// FitLN fits an LN model to every cell of d; name (the file) labels its errors.
func FitLN(ctx context.Context, d *dataset.Dataset, name string, o Options) (*LN, error) {
	o = o.withDefaults()
	if err := o.check(d, false); err != nil {
		return nil, err
	}
	grid := d
	d, uniform := fullField(d)
	s, err := newSplit(d, name, o.History-1, o.TestFraction, d.CellIDs)
	if err != nil {
		return nil, err
	}
	m := &LN{H: d.H, W: d.W, History: o.History, FrameRate: d.FrameRate, Cells: make([]LNCell, d.C),
		Bins: Bins{s.t0, s.t0 + s.nTrain, s.T}}
	err = forCells(ctx, o, "ln", d.C, func(c int) error {
		cell, err := fitLNCell(ctx, d, s, c, o)
		if err != nil {
			return fmt.Errorf("fit: %s: cell %d (id %d): %w", name, c, d.CellIDs[c], err)
		}
		m.Cells[c] = *cell
		return nil
	})
	if err != nil {
		return nil, err
	}
	link := o.Link
	if !o.LinkSet {
		var nll [2]float64
		for _, c := range m.Cells {
			nll[Softplus] += c.byLink[Softplus].nll
			nll[Exp] += c.byLink[Exp].nll
		}
		link = Softplus
		if nll[Exp] < nll[Softplus] {
			link = Exp
		}
	}
	m.useLink(link)
	if uniform {
		m.spreadTo(grid.H, grid.W)
	}
	return m, nil
}

func fitLNCell(ctx context.Context, d *dataset.Dataset, s split, c int, o Options) (*LNCell, error) {
	y := counts(d, s, c)
	lin, err := fitLinear(d, s, c, y, o)
	if err != nil {
		return nil, err
	}
	n, p := o.History, d.Pixels()
	cell := &LNCell{Index: c, ID: d.CellIDs[c], STA: lin.sta, Lambda: lin.lambda,
		TrainByNL: map[string]Score{}, TestByNL: map[string]Score{}}
	for r := range lin.temporal {
		cell.Temporal = append(cell.Temporal, lin.temporal[r])
		sp := make([]float64, p)
		for i, px := range lin.roi {
			sp[px] = lin.spatial[r][i]
		}
		cell.Spatial = append(cell.Spatial, sp)
	}

	// Output nonlinearity: rate = f(a*g + b) on the linear drive g, by maximum likelihood.
	g := lin.drive
	x := make([]float64, 2*len(g))
	for i, v := range g {
		x[2*i], x[2*i+1] = 1, v
	}
	var ybar float64
	for _, v := range y[:s.nTrain] {
		ybar += v
	}
	ybar /= float64(s.nTrain)
	linFilter := lin.filter(n, p)
	cell.byLink = map[Link]linkFit{}
	for _, link := range []Link{Softplus, Exp} {
		pr := &poisson{X: x[:2*s.nTrain], rows: s.nTrain, d: 2, y: y[:s.nTrain], link: link}
		w := []float64{math.Log(ybar), 0}
		if link == Softplus {
			w[0] = math.Log(math.Expm1(ybar))
		}
		if _, err := pr.newton(ctx, w); err != nil {
			return nil, fmt.Errorf("%s nonlinearity: %w", link, err)
		}
		rate := make([]float64, len(g))
		for i, v := range g {
			rate[i] = link.Rate(w[0] + w[1]*v)
		}
		lf := linkFit{nll: pr.objective(w, nil, nil), bias: w[0] + w[1]*lin.bias, filter: make([]float64, len(linFilter))}
		lf.train, lf.test = scores(rate, y, s)
		for i, v := range linFilter {
			lf.filter[i] = w[1] * v
		}
		cell.byLink[link] = lf
		cell.TrainByNL[link.String()], cell.TestByNL[link.String()] = lf.train, lf.test
	}
	cell.Binned = fitBinned(g[:s.nTrain], y[:s.nTrain], 20)
	rate := make([]float64, len(g))
	for i, v := range g {
		rate[i] = cell.Binned.rate(v)
	}
	cell.TrainByNL["binned"], cell.TestByNL["binned"] = scores(rate, y, s)
	return cell, nil
}

// scores splits rate and y at the split's test boundary and scores both parts.
func scores(rate, y []float64, s split) (train, test Score) {
	train = score(rate[:s.nTrain], y[:s.nTrain])
	if s.nTest() > 0 {
		test = score(rate[s.nTrain:], y[s.nTrain:])
	}
	return train, test
}
