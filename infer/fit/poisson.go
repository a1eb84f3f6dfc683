package fit

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Link is the output nonlinearity of a Poisson regression: the rate in spikes per bin is
// Link(eta) for the linear predictor eta.
type Link int

const (
	Exp      Link = iota // exp(eta): the canonical link, the GLM's
	Softplus             // log(1+exp(eta)): the LN model's
)

func (l Link) String() string {
	if l == Softplus {
		return "softplus"
	}
	return "exp"
}

// rate returns f(eta), f'(eta) and f”(eta).
func (l Link) rate(eta float64) (f, d1, d2 float64) {
	if l == Exp {
		f = math.Exp(eta)
		return f, f, f
	}
	s := 1 / (1 + math.Exp(-eta)) // sigmoid
	return softplus(eta), s, s * (1 - s)
}

// Rate is the rate in spikes per bin for the linear predictor eta.
func (l Link) Rate(eta float64) float64 { f, _, _ := l.rate(eta); return f }

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// minRate keeps log(rate) finite where a softplus underflows.
const minRate = 1e-12

// poisson is a Poisson regression problem: maximise
//
//	L(w) = sum_t y[t] log f(eta[t]) - f(eta[t]) - w'Pw/2,  eta = X w + offset
//
// over w, for counts y in spikes per bin. X is rows x d, row-major.
type poisson struct {
	X      []float64
	rows   int
	d      int
	y      []float64
	offset []float64 // nil or [rows]
	link   Link
	prior  []float64 // nil or d x d symmetric, the Gaussian prior's precision P

	eta, wt []float64 // scratch [rows]
}

func (p *poisson) predictor(w []float64) []float64 {
	if p.eta == nil {
		p.eta = make([]float64, p.rows)
	}
	x := blas64.General{Rows: p.rows, Cols: p.d, Stride: p.d, Data: p.X}
	if p.offset != nil {
		copy(p.eta, p.offset)
	} else {
		clear(p.eta)
	}
	blas64.Gemv(blas.NoTrans, 1, x, blas64.Vector{N: p.d, Inc: 1, Data: w}, 1, blas64.Vector{N: p.rows, Inc: 1, Data: p.eta})
	return p.eta
}

// objective returns -L(w), the negative log posterior (up to a constant), and when grad is
// not nil stores its gradient there, and when hess is not nil (d x d) its Hessian.
func (p *poisson) objective(w, grad, hess []float64) float64 {
	eta := p.predictor(w)
	if p.wt == nil {
		p.wt = make([]float64, p.rows)
	}
	var nll float64
	for t, e := range eta {
		f, d1, d2 := p.link.rate(e)
		y := p.y[t]
		lf := math.Log(max(f, minRate))
		nll -= y*lf - f
		// dL/deta and -d2L/deta2 (>= 0, since log f is concave and f convex)
		var g, h float64
		if p.link == Exp {
			g, h = y-f, f
		} else {
			fc := max(f, minRate)
			g = (y/fc - 1) * d1
			h = d2 - y*(d2*fc-d1*d1)/(fc*fc)
			h = max(h, 0)
		}
		eta[t] = g // reuse: eta now holds dL/deta
		p.wt[t] = h
	}
	if math.IsNaN(nll) {
		nll = math.Inf(1)
	}
	var pen float64
	if p.prior != nil {
		for i := 0; i < p.d; i++ {
			for j := 0; j < p.d; j++ {
				pen += w[i] * p.prior[i*p.d+j] * w[j]
			}
		}
	}
	nll += pen / 2
	x := blas64.General{Rows: p.rows, Cols: p.d, Stride: p.d, Data: p.X}
	if grad != nil {
		// grad = -X' dL/deta + P w
		blas64.Gemv(blas.Trans, -1, x, blas64.Vector{N: p.rows, Inc: 1, Data: eta}, 0, blas64.Vector{N: p.d, Inc: 1, Data: grad})
		if p.prior != nil {
			for i := 0; i < p.d; i++ {
				for j := 0; j < p.d; j++ {
					grad[i] += p.prior[i*p.d+j] * w[j]
				}
			}
		}
	}
	if hess != nil {
		if p.prior != nil {
			copy(hess, p.prior)
		} else {
			clear(hess)
		}
		weightedGram(hess, p.X, p.wt, p.rows, p.d)
		for i := 0; i < p.d; i++ { // mirror the upper triangle
			for j := 0; j < i; j++ {
				hess[i*p.d+j] = hess[j*p.d+i]
			}
		}
	}
	return nll
}

// newton maximises the posterior from w (modified in place) by Newton's method with exact
// Hessians and a backtracking line search. It returns the number of iterations.
func (p *poisson) newton(ctx context.Context, w []float64) (int, error) {
	d := p.d
	grad := make([]float64, d)
	hess := make([]float64, d*d)
	step := make([]float64, d)
	trial := make([]float64, d)
	f := p.objective(w, grad, hess)
	if math.IsInf(f, 0) {
		return 0, fmt.Errorf("fit: the starting point has an infinite likelihood")
	}
	for it := 1; it <= 100; it++ {
		if err := ctx.Err(); err != nil {
			return it, err
		}
		if err := solveSPD(hess, d, grad, step); err != nil {
			return it, err
		}
		dec := 0.0 // Newton decrement squared: grad' H^-1 grad
		for i := range step {
			dec += grad[i] * step[i]
		}
		scale := math.Max(1, math.Abs(f))
		if dec/2 < 1e-15*scale {
			return it, nil
		}
		a := 1.0
		if dec > 1e-6*scale { // far from the optimum: backtrack until the objective drops enough
			for ; a >= 1e-10; a /= 2 {
				for i := range w {
					trial[i] = w[i] - a*step[i]
				}
				if p.objective(trial, nil, nil) <= f-1e-4*a*dec {
					break
				}
			}
			if a < 1e-10 {
				return it, nil // no further progress: at the optimum to rounding
			}
		} else { // near it, where Newton converges quadratically: full steps
			for i := range w {
				trial[i] = w[i] - step[i]
			}
		}
		copy(w, trial)
		f = p.objective(w, grad, hess)
	}
	return 100, fmt.Errorf("fit: Newton's method did not converge in 100 iterations")
}

// solveSPD solves A x = b for a symmetric positive definite d x d matrix A (row-major),
// adding a small ridge if A is only semidefinite.
func solveSPD(a []float64, d int, b, x []float64) error {
	sym := mat.NewSymDense(d, append([]float64(nil), a...))
	var ch mat.Cholesky
	jitter := 0.0
	for try := 0; ; try++ {
		if ch.Factorize(sym) {
			break
		}
		if try == 20 {
			return fmt.Errorf("fit: the Hessian is not positive definite (a column of the design is constant or collinear)")
		}
		if jitter == 0 {
			var tr float64
			for i := 0; i < d; i++ {
				tr += a[i*d+i]
			}
			jitter = 1e-10 * math.Max(tr/float64(d), 1e-12)
		} else {
			jitter *= 10
		}
		for i := 0; i < d; i++ {
			sym.SetSym(i, i, a[i*d+i]+jitter)
		}
	}
	xv := mat.NewVecDense(d, x)
	return ch.SolveVecTo(xv, mat.NewVecDense(d, b))
}
