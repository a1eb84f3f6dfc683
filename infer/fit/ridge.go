package fit

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// gram returns X'X (d x d, full) and X'y for rows x d row-major X.
func gram(x []float64, rows, d int, y []float64) (g, b []float64) {
	g = make([]float64, d*d)
	b = make([]float64, d)
	if rows == 0 {
		return g, b
	}
	xg := blas64.General{Rows: rows, Cols: d, Stride: d, Data: x[:rows*d]}
	ones := make([]float64, rows)
	for i := range ones {
		ones[i] = 1
	}
	weightedGram(g, x, ones, rows, d)
	for i := 0; i < d; i++ {
		for j := 0; j < i; j++ {
			g[i*d+j] = g[j*d+i]
		}
	}
	blas64.Gemv(blas.Trans, 1, xg, blas64.Vector{N: rows, Inc: 1, Data: y[:rows]}, 0, blas64.Vector{N: d, Inc: 1, Data: b})
	return g, b
}

// ridgeSolve solves (G + lambda I') w = b, where I' is the identity with a zero for the
// intercept, column 0.
func ridgeSolve(g, b []float64, d int, lambda float64) ([]float64, error) {
	a := append([]float64(nil), g...)
	for i := 1; i < d; i++ {
		a[i*d+i] += lambda
	}
	w := make([]float64, d)
	return w, solveSPD(a, d, b, w)
}

// Ridge is the outcome of a cross-validated ridge regression.
type Ridge struct {
	W       []float64 // weights, W[0] the intercept
	Lambda  float64   // the chosen penalty
	Lambdas []float64 // the grid searched
	CVError []float64 // mean squared error on held-out folds for each of Lambdas
}

// ridgeCV fits y ~ X w by least squares with penalty lambda*|w[1:]|^2 (column 0 of X is the
// intercept and is not penalised), choosing lambda from a log-spaced grid by k-fold
// cross-validation over contiguous blocks of rows (neighbouring bins are correlated, so
// random folds would leak). All of it works from per-fold Gram matrices: one pass over X.
func ridgeCV(x []float64, rows, d int, y []float64, folds int) (Ridge, error) {
	if folds < 2 || rows < 2*folds {
		folds = 0
	}
	type fold struct {
		g, b []float64
		yy   float64
		n    int
	}
	var fs []fold
	gTot := make([]float64, d*d)
	bTot := make([]float64, d)
	if folds == 0 {
		gTot, bTot = gram(x, rows, d, y)
	}
	for f := 0; f < folds; f++ {
		lo, hi := rows*f/folds, rows*(f+1)/folds
		g, b := gram(x[lo*d:], hi-lo, d, y[lo:])
		var yy float64
		for _, v := range y[lo:hi] {
			yy += v * v
		}
		fs = append(fs, fold{g, b, yy, hi - lo})
		for i := range g {
			gTot[i] += g[i]
		}
		for i := range b {
			bTot[i] += b[i]
		}
	}
	// The grid is relative to the mean diagonal of the Gram matrix (the data's own scale).
	var scale float64
	for i := 1; i < d; i++ {
		scale += gTot[i*d+i]
	}
	scale /= math.Max(1, float64(d-1))
	if scale == 0 {
		scale = 1
	}
	r := Ridge{}
	for e := -6.0; e <= 1.01; e += 0.5 {
		r.Lambdas = append(r.Lambdas, scale*math.Pow(10, e))
	}
	best := 0
	if folds > 0 {
		r.CVError = make([]float64, len(r.Lambdas))
		gTrain := make([]float64, d*d)
		bTrain := make([]float64, d)
		for li, lambda := range r.Lambdas {
			var sse float64
			var n int
			for _, f := range fs {
				for i := range gTrain {
					gTrain[i] = gTot[i] - f.g[i]
				}
				for i := range bTrain {
					bTrain[i] = bTot[i] - f.b[i]
				}
				w, err := ridgeSolve(gTrain, bTrain, d, lambda)
				if err != nil {
					return r, err
				}
				// |y - Xw|^2 on the held-out fold = y'y - 2 w'b + w'Gw
				e := f.yy
				for i := 0; i < d; i++ {
					e -= 2 * w[i] * f.b[i]
					for j := 0; j < d; j++ {
						e += w[i] * f.g[i*d+j] * w[j]
					}
				}
				sse += e
				n += f.n
			}
			r.CVError[li] = sse / float64(n)
			if r.CVError[li] < r.CVError[best] {
				best = li
			}
		}
	} else {
		best = len(r.Lambdas) / 2
	}
	r.Lambda = r.Lambdas[best]
	w, err := ridgeSolve(gTot, bTot, d, r.Lambda)
	r.W = w
	return r, err
}
