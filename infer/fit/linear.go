package fit

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"retinad/infer/dataset"
)

// linear is the linear stage of one cell: a space-time separable filter of rank r over a
// region of interest (for full-field stimuli, one pixel and an unconstrained temporal filter)
// fitted by ridge regression of the counts, plus the spike-triggered average it starts from.
type linear struct {
	sta      []float64   // [N*P], lag-major: sta[k*P+p] is pixel p k bins before the spike
	roi      []int       // pixels the filter may cover
	temporal [][]float64 // [r][N], lag 0 first
	spatial  [][]float64 // [r][len(roi)], unit norm, centre pixel positive
	bias     float64     // ridge intercept, spikes per bin
	lambda   float64     // ridge penalty of the last step
	drive    []float64   // [rows] ridge prediction, spikes per bin
}

// filter returns the full filter [N*P], lag-major, zero outside the region of interest.
func (l *linear) filter(n, p int) []float64 {
	f := make([]float64, n*p)
	for r := range l.temporal {
		for k := 0; k < n; k++ {
			for i, px := range l.roi {
				f[k*p+px] += l.temporal[r][k] * l.spatial[r][i]
			}
		}
	}
	return f
}

// spikeTriggeredAverage returns the mean stimulus (minus its mean) over the n bins up to and
// including each spike of cell c in the training rows, lag-major [N*P], weighted by count.
func spikeTriggeredAverage(d *dataset.Dataset, s split, c, n int) []float64 {
	p := d.Pixels()
	sta := make([]float64, n*p)
	mean := make([]float64, p)
	for t := 0; t < s.t0+s.nTrain; t++ {
		for i, v := range d.Frame(t) {
			mean[i] += float64(v)
		}
	}
	for i := range mean {
		mean[i] /= float64(s.t0 + s.nTrain)
	}
	var nsp float64
	for t := s.t0; t < s.t0+s.nTrain; t++ {
		y := float64(d.Counts[t*d.C+c])
		if y == 0 {
			continue
		}
		nsp += y
		for k := 0; k < n; k++ {
			dst := sta[k*p : (k+1)*p]
			for i, v := range d.Frame(t - k) {
				dst[i] += y * float64(v)
			}
		}
	}
	for k := 0; k < n; k++ {
		for i := 0; i < p; i++ {
			sta[k*p+i] = sta[k*p+i]/nsp - mean[i]
		}
	}
	return sta
}

// regionOfInterest is the square of side roi pixels (clipped to the grid) centred on the
// pixel where the STA has the most energy; all pixels when the grid is no larger.
func regionOfInterest(sta []float64, n, h, w, roi int) []int {
	p := h * w
	best, bestE := 0, -1.0
	for i := 0; i < p; i++ {
		var e float64
		for k := 0; k < n; k++ {
			e += sta[k*p+i] * sta[k*p+i]
		}
		if e > bestE {
			best, bestE = i, e
		}
	}
	cy, cx := best/w, best%w
	span := func(c, size int) (int, int) {
		if roi >= size {
			return 0, size
		}
		lo := min(max(c-roi/2, 0), size-roi)
		return lo, lo + roi
	}
	y0, y1 := span(cy, h)
	x0, x1 := span(cx, w)
	var px []int
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			px = append(px, y*w+x)
		}
	}
	return px
}

// fitLinear estimates cell c's linear stage: STA, then (for spatial stimuli) alternating
// ridge fits of the temporal and spatial factors started from the STA's leading singular
// vectors; for full-field stimuli one ridge fit of the whole temporal filter.
func fitLinear(d *dataset.Dataset, s split, c int, y []float64, o Options) (*linear, error) {
	n, p := o.History, d.Pixels()
	l := &linear{sta: spikeTriggeredAverage(d, s, c, n)}
	rank := min(o.Rank, n)
	if p == 1 {
		l.roi, l.spatial, rank = []int{0}, [][]float64{{1}}, 1
		if err := l.fitTemporal(d, s, y, n, o.Folds); err != nil {
			return nil, err
		}
		return l, nil
	}
	l.roi = regionOfInterest(l.sta, n, d.H, d.W, o.ROI)
	rank = min(rank, len(l.roi))
	m := mat.NewDense(n, len(l.roi), nil)
	for k := 0; k < n; k++ {
		for i, px := range l.roi {
			m.Set(k, i, l.sta[k*p+px])
		}
	}
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDThin) {
		return nil, fmt.Errorf("fit: cell %d: the SVD of the spike-triggered average failed", c)
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	for r := 0; r < rank; r++ {
		l.temporal = append(l.temporal, mat.Col(nil, r, &u))
		l.spatial = append(l.spatial, mat.Col(nil, r, &v))
	}
	for pass := 0; pass < o.Passes; pass++ {
		if err := l.fitTemporal(d, s, y, n, o.Folds); err != nil {
			return nil, err
		}
		if err := l.fitSpatial(d, s, y, n, o.Folds); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// projected returns z[r][t] = sum over the region of spatial[r] * stimulus[t], for all bins.
func (l *linear) projected(d *dataset.Dataset) [][]float64 {
	z := make([][]float64, len(l.spatial))
	for r, sp := range l.spatial {
		z[r] = make([]float64, d.T)
		for t := 0; t < d.T; t++ {
			f := d.Frame(t)
			var a float64
			for i, px := range l.roi {
				a += sp[i] * float64(f[px])
			}
			z[r][t] = a
		}
	}
	return z
}

// temporalDesign is [1, z_0[t], z_0[t-1], ..., z_1[t], ...] for the rows of s.
func temporalDesign(z [][]float64, s split, n int) ([]float64, int) {
	dim := 1 + len(z)*n
	x := make([]float64, s.rows()*dim)
	for i := 0; i < s.rows(); i++ {
		t := s.t0 + i
		row := x[i*dim : (i+1)*dim]
		row[0] = 1
		for r := range z {
			for k := 0; k < n; k++ {
				row[1+r*n+k] = z[r][t-k]
			}
		}
	}
	return x, dim
}

func (l *linear) fitTemporal(d *dataset.Dataset, s split, y []float64, n, folds int) error {
	x, dim := temporalDesign(l.projected(d), s, n)
	rr, err := ridgeCV(x, s.nTrain, dim, y, folds)
	if err != nil {
		return err
	}
	l.bias, l.lambda = rr.W[0], rr.Lambda
	for r := range l.temporal {
		l.temporal[r] = append(l.temporal[r][:0], rr.W[1+r*n:1+(r+1)*n]...)
	}
	if len(l.temporal) == 0 {
		l.temporal = [][]float64{append([]float64(nil), rr.W[1:]...)}
	}
	l.drive = predict(x, s.rows(), dim, rr.W)
	return nil
}

func (l *linear) fitSpatial(d *dataset.Dataset, s split, y []float64, n, folds int) error {
	p, q := d.Pixels(), len(l.roi)
	// The region's pixels of every frame, contiguous, so that each row of the design is a
	// sum of N contiguous axpys.
	roi := make([]float64, d.T*q)
	for t := 0; t < d.T; t++ {
		f := d.Stimulus[t*p : (t+1)*p]
		for j, px := range l.roi {
			roi[t*q+j] = float64(f[px])
		}
	}
	dim := 1 + len(l.temporal)*q
	x := make([]float64, s.rows()*dim)
	for i := 0; i < s.rows(); i++ {
		t := s.t0 + i
		row := x[i*dim : (i+1)*dim]
		row[0] = 1
		for r, tf := range l.temporal {
			u := row[1+r*q : 1+(r+1)*q]
			for k := 0; k < n; k++ {
				floats.AddScaled(u, tf[k], roi[(t-k)*q:(t-k+1)*q])
			}
		}
	}
	rr, err := ridgeCV(x, s.nTrain, dim, y, folds)
	if err != nil {
		return err
	}
	l.bias, l.lambda = rr.W[0], rr.Lambda
	for r := range l.spatial {
		l.spatial[r] = append(l.spatial[r][:0], rr.W[1+r*q:1+(r+1)*q]...)
	}
	l.drive = predict(x, s.rows(), dim, rr.W)
	l.normalise()
	return nil
}

// normalise moves each spatial factor's norm into its temporal factor and makes the
// spatial factor's largest entry positive, so the temporal factor carries the polarity.
func (l *linear) normalise() {
	for r, sp := range l.spatial {
		var nrm, big float64
		for _, v := range sp {
			nrm += v * v
			if math.Abs(v) > math.Abs(big) {
				big = v
			}
		}
		nrm = math.Sqrt(nrm)
		if nrm == 0 {
			continue
		}
		if big < 0 {
			nrm = -nrm
		}
		for i := range sp {
			sp[i] /= nrm
		}
		for k := range l.temporal[r] {
			l.temporal[r][k] *= nrm
		}
	}
}

// predict returns X w.
func predict(x []float64, rows, dim int, w []float64) []float64 {
	out := make([]float64, rows)
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: rows, Cols: dim, Stride: dim, Data: x}, blas64.Vector{N: dim, Inc: 1, Data: w}, 0, blas64.Vector{N: rows, Inc: 1, Data: out})
	return out
}
