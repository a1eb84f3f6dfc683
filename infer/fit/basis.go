package fit

import "math"

// cosineBasis returns a k x b matrix (row-major, row j for lag j+1) of raised-cosine bumps
// on a log-stretched time axis (Pillow et al., Nature 2008): fine resolution at short lags,
// coarse at long ones, smooth filters from few coefficients. With b >= k it is the identity
// (one coefficient per lag).
func cosineBasis(k, b int) []float64 {
	m := make([]float64, k*b)
	if b >= k {
		for j := 0; j < k; j++ {
			m[j*b+j] = 1
		}
		return m
	}
	const c = 1.0 // stretch offset, in bins
	lo, hi := math.Log(1+c), math.Log(float64(k)+c)
	step := (hi - lo) / float64(b-1)
	for j := 0; j < k; j++ {
		x := math.Log(float64(j+1) + c)
		for i := 0; i < b; i++ {
			u := (x - (lo + float64(i)*step)) * math.Pi / (2 * step)
			u = math.Max(-math.Pi, math.Min(math.Pi, u))
			m[j*b+i] = (math.Cos(u) + 1) / 2
		}
	}
	return m
}
