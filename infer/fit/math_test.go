package fit

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func randProblem(rng *rand.Rand, rows, d int, link Link) *poisson {
	x := make([]float64, rows*d)
	y := make([]float64, rows)
	for t := 0; t < rows; t++ {
		x[t*d] = 1
		for i := 1; i < d; i++ {
			x[t*d+i] = rng.NormFloat64() * 0.5
		}
		y[t] = float64(rng.IntN(4))
	}
	prior := glmPrior(d, 1, d-1, 0.7, 0.3)
	off := make([]float64, rows)
	for t := range off {
		off[t] = 0.1 * rng.NormFloat64()
	}
	return &poisson{X: x, rows: rows, d: d, y: y, link: link, prior: prior, offset: off}
}

// TestGradientHessianNumerically compares the exact gradient and Hessian of the Poisson
// objective (both links, with prior and offset) with central finite differences.
func TestGradientHessianNumerically(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, link := range []Link{Exp, Softplus} {
		const d = 6
		p := randProblem(rng, 200, d, link)
		w := make([]float64, d)
		for i := range w {
			w[i] = 0.3 * rng.NormFloat64()
		}
		grad := make([]float64, d)
		hess := make([]float64, d*d)
		p.objective(w, grad, hess)
		const h = 1e-5
		g2 := make([]float64, d)
		for i := 0; i < d; i++ {
			wp := append([]float64(nil), w...)
			wm := append([]float64(nil), w...)
			wp[i] += h
			wm[i] -= h
			num := (p.objective(wp, nil, nil) - p.objective(wm, nil, nil)) / (2 * h)
			if math.Abs(num-grad[i]) > 1e-5*math.Max(1, math.Abs(num)) {
				t.Errorf("%s: grad[%d] = %.8g, finite difference %.8g", link, i, grad[i], num)
			}
			// Hessian column i from differences of the exact gradient.
			p.objective(wp, g2, nil)
			gp := append([]float64(nil), g2...)
			p.objective(wm, g2, nil)
			for j := 0; j < d; j++ {
				num := (gp[j] - g2[j]) / (2 * h)
				if math.Abs(num-hess[j*d+i]) > 1e-4*math.Max(1, math.Abs(num)) {
					t.Errorf("%s: hess[%d][%d] = %.8g, finite difference %.8g", link, j, i, hess[j*d+i], num)
				}
			}
		}
	}
}

// TestNewtonReachesStationaryPoint checks that the optimum's gradient vanishes.
func TestNewtonReachesStationaryPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, link := range []Link{Exp, Softplus} {
		p := randProblem(rng, 500, 5, link)
		w := make([]float64, 5)
		w[0] = 0.1
		if _, err := p.newton(context.Background(), w); err != nil {
			t.Fatal(err)
		}
		g := make([]float64, 5)
		p.objective(w, g, nil)
		for i, v := range g {
			if math.Abs(v) > 1e-6 {
				t.Errorf("%s: gradient[%d] = %g at the optimum", link, i, v)
			}
		}
	}
}

// TestRidgeMatchesNormalEquations checks ridge weights against the least-squares solution of
// the augmented system [X; sqrt(lambda) I'] w = [y; 0] (by QR, an independent route), and
// the cross-validation error from Gram matrices against refitting each fold directly.
func TestRidgeMatchesNormalEquations(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const rows, d = 300, 7
	x := make([]float64, rows*d)
	y := make([]float64, rows)
	for i := 0; i < rows; i++ {
		x[i*d] = 1
		for j := 1; j < d; j++ {
			x[i*d+j] = rng.NormFloat64()
		}
		y[i] = 2 + x[i*d+1] - 0.5*x[i*d+3] + rng.NormFloat64()
	}
	direct := func(rowsLo, rowsHi []int, lambda float64) []float64 {
		var idx []int
		for r := 0; r < rows; r++ {
			in := true
			for f := range rowsLo {
				if r >= rowsLo[f] && r < rowsHi[f] {
					in = false
				}
			}
			if in {
				idx = append(idx, r)
			}
		}
		a := mat.NewDense(len(idx)+d-1, d, nil)
		b := mat.NewVecDense(len(idx)+d-1, nil)
		for i, r := range idx {
			for j := 0; j < d; j++ {
				a.Set(i, j, x[r*d+j])
			}
			b.SetVec(i, y[r])
		}
		for j := 1; j < d; j++ {
			a.Set(len(idx)+j-1, j, math.Sqrt(lambda))
		}
		var w mat.VecDense
		if err := w.SolveVec(a, b); err != nil {
			t.Fatal(err)
		}
		return w.RawVector().Data
	}
	rr, err := ridgeCV(x, rows, d, y, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := direct(nil, nil, rr.Lambda)
	for i := range want {
		if math.Abs(rr.W[i]-want[i]) > 1e-9 {
			t.Errorf("w[%d] = %.12g, normal equations by QR give %.12g", i, rr.W[i], want[i])
		}
	}
	for li, lambda := range rr.Lambdas[:4] {
		var sse float64
		for f := 0; f < 5; f++ {
			lo, hi := rows*f/5, rows*(f+1)/5
			w := direct([]int{lo}, []int{hi}, lambda)
			for r := lo; r < hi; r++ {
				var p float64
				for j := 0; j < d; j++ {
					p += x[r*d+j] * w[j]
				}
				sse += (y[r] - p) * (y[r] - p)
			}
		}
		if got, want := rr.CVError[li], sse/rows; math.Abs(got-want) > 1e-9*want {
			t.Errorf("CV error at lambda %g = %.12g, refitting the folds gives %.12g", lambda, got, want)
		}
	}
}

func TestScore(t *testing.T) {
	y := []float64{0, 1, 0, 2, 0, 1}
	// The homogeneous rate itself scores 0 bits per spike.
	flat := []float64{4.0 / 6, 4.0 / 6, 4.0 / 6, 4.0 / 6, 4.0 / 6, 4.0 / 6}
	if s := score(flat, y); math.Abs(float64(s.BitsPerSpike)) > 1e-12 || s.NSpikes != 4 || !math.IsNaN(float64(s.R)) {
		t.Errorf("flat rate: %+v, want 0 bits, 4 spikes, r undefined", s)
	}
	// A perfect-shape prediction: positive bits, r = 1.
	s := score([]float64{0.01, 1, 0.01, 2, 0.01, 1}, y)
	want := (1*math.Log(1) + 2*math.Log(2) + math.Log(1) - 4.03 - (4*math.Log(4.0/6) - 4)) / (4 * math.Ln2)
	if math.Abs(float64(s.BitsPerSpike)-want) > 1e-12 || float64(s.R) < 0.99 {
		t.Errorf("score = %+v, want bits %g and r near 1", s, want)
	}
}
