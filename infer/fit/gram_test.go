package fit

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

func TestWeightedGramMatchesSyrk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, rows := range []int{0, 1, 3, 4, 7, 101} {
		const d = 9
		x := make([]float64, rows*d)
		wt := make([]float64, rows)
		z := make([]float64, rows*d)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		for r := range wt {
			wt[r] = rng.Float64()
			for j := 0; j < d; j++ {
				z[r*d+j] = math.Sqrt(wt[r]) * x[r*d+j]
			}
		}
		got := make([]float64, d*d)
		want := make([]float64, d*d)
		weightedGram(got, x, wt, rows, d)
		if rows > 0 {
			blas64.Syrk(blas.Trans, 1, blas64.General{Rows: rows, Cols: d, Stride: d, Data: z}, 0, blas64.Symmetric{Uplo: blas.Upper, N: d, Stride: d, Data: want})
		}
		for i := 0; i < d; i++ {
			for j := i; j < d; j++ {
				if math.Abs(got[i*d+j]-want[i*d+j]) > 1e-10 {
					t.Fatalf("rows %d: h[%d][%d] = %g, Syrk %g", rows, i, j, got[i*d+j], want[i*d+j])
				}
			}
		}
	}
}

func benchGram(b *testing.B, syrk bool) {
	const rows, d = 115200, 46
	x := make([]float64, rows*d)
	wt := make([]float64, rows)
	for i := range x {
		x[i] = float64(i%7) - 3
	}
	for i := range wt {
		wt[i] = 0.5
	}
	h := make([]float64, d*d)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if syrk {
			blas64.Syrk(blas.Trans, 1, blas64.General{Rows: rows, Cols: d, Stride: d, Data: x}, 0, blas64.Symmetric{Uplo: blas.Upper, N: d, Stride: d, Data: h})
		} else {
			weightedGram(h, x, wt, rows, d)
		}
	}
	b.ReportMetric(float64(rows)*d*(d+1)/2*2/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOPS")
}

// BenchmarkGram/{own,syrk}: the Hessian's weighted Gram matrix for a full-field GLM design
// (20 min at 120 Hz, 46 columns), by weightedGram and by gonum's Dsyrk in the same process.
func BenchmarkGram(b *testing.B) {
	b.Run("own", func(b *testing.B) { benchGram(b, false) })
	b.Run("syrk", func(b *testing.B) { benchGram(b, true) })
}
