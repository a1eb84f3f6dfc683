// Package fittest makes synthetic datasets from known LN and GLM cells, the ground truth that
// tests of package fit (and of the fit command) recover. The stimulus is Gaussian white noise
// of unit contrast, so the spike-triggered average of an LN cell is proportional to its
// filter (Bussgang's theorem): a closed form to check fits against.
//
// Everything is deterministic for a seed; safe for concurrent use.
package fittest

import (
	"math"
	"math/rand/v2"

	"retinad/infer/dataset"
)

// Cell is a ground-truth model cell. Its rate in spikes per bin is
//
//	f(Bias + sum_k sum_p Temporal[k] Spatial[p] stimulus[t-k][p] + sum_j History[j] count[t-1-j]
//	  + sum_i sum_j Coupling[i][j] count_i[t-1-j])
//
// with f = exp, or softplus when Softplus is set.
type Cell struct {
	Temporal []float64 // lag 0 (the current frame) first
	Spatial  []float64 // [H*W]; nil means 1 everywhere (full-field)
	Bias     float64
	Softplus bool
	History  []float64   // own spikes, lag 1 first
	Coupling [][]float64 // [cell][lag-1]; nil entries for none
}

// Spec is a synthetic recording.
type Spec struct {
	T, H, W   int
	FrameRate float64
	Seed      uint64
	Cells     []Cell
}

// Generate draws the stimulus and the spikes and returns the dataset with each cell's
// noise-free conditional rate in spikes per bin ([cell][bin]).
func Generate(s Spec) (*dataset.Dataset, [][]float64) {
	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	p := s.H * s.W
	d := &dataset.Dataset{T: s.T, H: s.H, W: s.W, C: len(s.Cells), FrameRate: s.FrameRate}
	d.Stimulus = make([]float32, s.T*p)
	for i := range d.Stimulus {
		d.Stimulus[i] = float32(rng.NormFloat64())
	}
	d.Counts = make([]float32, s.T*d.C)
	d.CellIDs = make([]int64, d.C)
	rates := make([][]float64, d.C)
	// The spatially filtered stimulus of each cell, then its temporal filter.
	proj := make([][]float64, d.C)
	for c, cell := range s.Cells {
		d.CellIDs[c] = int64(100 + c)
		rates[c] = make([]float64, s.T)
		proj[c] = make([]float64, s.T)
		for t := 0; t < s.T; t++ {
			f := d.Stimulus[t*p : (t+1)*p]
			var a float64
			for i, v := range f {
				w := 1.0
				if cell.Spatial != nil {
					w = cell.Spatial[i]
				}
				a += w * float64(v)
			}
			proj[c][t] = a
		}
	}
	for t := 0; t < s.T; t++ {
		for c, cell := range s.Cells {
			eta := cell.Bias
			for k, w := range cell.Temporal {
				if t-k >= 0 {
					eta += w * proj[c][t-k]
				}
			}
			for j, w := range cell.History {
				if t-1-j >= 0 {
					eta += w * float64(d.Counts[(t-1-j)*d.C+c])
				}
			}
			for i, filt := range cell.Coupling {
				for j, w := range filt {
					if t-1-j >= 0 {
						eta += w * float64(d.Counts[(t-1-j)*d.C+i])
					}
				}
			}
			var r float64
			if cell.Softplus {
				r = math.Log1p(math.Exp(eta))
			} else {
				r = math.Exp(min(eta, 5))
			}
			rates[c][t] = r
			d.Counts[t*d.C+c] = float32(poisson(rng, r))
		}
	}
	return d, rates
}

// poisson draws a Poisson count of mean lambda (Knuth's method; lambda here is small).
func poisson(rng *rand.Rand, lambda float64) int {
	l := math.Exp(-lambda)
	k, p := 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// Biphasic is a temporal filter of n lags (lag 0 first) with a positive lobe peaking near
// lag peak and a smaller, later negative lobe, scaled to unit norm: the shape of an ON
// ganglion cell's filter (negate it for OFF).
func Biphasic(n int, peak float64) []float64 {
	f := make([]float64, n)
	var nrm float64
	for k := range f {
		x := float64(k)
		f[k] = math.Pow(x/peak, 3)*math.Exp(-3*(x/peak-1)) - 0.5*math.Pow(x/(2*peak), 3)*math.Exp(-3*(x/(2*peak)-1))
		nrm += f[k] * f[k]
	}
	for k := range f {
		f[k] /= math.Sqrt(nrm)
	}
	return f
}

// Gaussian is a unit-norm 2-D Gaussian spatial profile on an h x w grid centred at (cy, cx)
// with standard deviation sigma pixels.
func Gaussian(h, w int, cy, cx, sigma float64) []float64 {
	g := make([]float64, h*w)
	var nrm float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dy, dx := float64(y)-cy, float64(x)-cx
			v := math.Exp(-(dy*dy + dx*dx) / (2 * sigma * sigma))
			g[y*w+x] = v
			nrm += v * v
		}
	}
	for i := range g {
		g[i] /= math.Sqrt(nrm)
	}
	return g
}

// Scale returns v times a.
func Scale(v []float64, a float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = a * x
	}
	return out
}

// Corr is the Pearson correlation of a and b (equal lengths).
func Corr(a, b []float64) float64 {
	n := float64(len(a))
	var sa, sb, saa, sbb, sab float64
	for i := range a {
		sa += a[i]
		sb += b[i]
		saa += a[i] * a[i]
		sbb += b[i] * b[i]
		sab += a[i] * b[i]
	}
	return (sab - sa*sb/n) / math.Sqrt((saa-sa*sa/n)*(sbb-sb*sb/n))
}
