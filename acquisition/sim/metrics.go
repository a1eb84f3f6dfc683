package sim

import "math"

// Pearson is the correlation of a and b (NaN if either is constant).
func Pearson(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma, mb = ma/n, mb/n
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	return sab / math.Sqrt(saa*sbb)
}

// Column returns column c of a row-major [T, C] array as float64.
func Column(x []float32, C, c int) []float64 {
	out := make([]float64, len(x)/C)
	for t := range out {
		out[t] = float64(x[t*C+c])
	}
	return out
}

// Reliability is each cell's repeat-to-repeat reliability on repeated trials (counts
// [R,T,C], R >= 2): the mean over trials of the correlation between that trial's counts and
// the mean of the other trials, and the correlation of the noise-free rate (rates [T,C]) with
// the trial-averaged counts, which is the ceiling that a perfect model reaches on R trials.
func Reliability(counts []float32, rates []float32, R, T, C int) (oneVsRest, ceiling []float64) {
	oneVsRest = make([]float64, C)
	ceiling = make([]float64, C)
	a := make([]float64, T)
	b := make([]float64, T)
	mean := make([]float64, T)
	for c := 0; c < C; c++ {
		clear(mean)
		for r := 0; r < R; r++ {
			for t := 0; t < T; t++ {
				mean[t] += float64(counts[(r*T+t)*C+c]) / float64(R)
			}
		}
		for r := 0; r < R; r++ {
			for t := 0; t < T; t++ {
				a[t] = float64(counts[(r*T+t)*C+c])
				b[t] = (mean[t]*float64(R) - a[t]) / float64(R-1)
			}
			oneVsRest[c] += Pearson(a, b) / float64(R)
		}
		for t := 0; t < T; t++ {
			a[t] = float64(rates[t*C+c])
		}
		ceiling[c] = Pearson(a, mean)
	}
	return oneVsRest, ceiling
}

// Fano is the Fano factor (variance over mean across trials) of spike counts in windows of
// window bins, pooled over every window and cell whose mean count is at least minMean:
// sum of variances over sum of means. counts is [R,T,C].
func Fano(counts []float32, R, T, C, window int, minMean float64) float64 {
	var sv, sm float64
	for c := 0; c < C; c++ {
		for t0 := 0; t0+window <= T; t0 += window {
			var s, ss float64
			for r := 0; r < R; r++ {
				var n float64
				for t := t0; t < t0+window; t++ {
					n += float64(counts[(r*T+t)*C+c])
				}
				s += n
				ss += n * n
			}
			m := s / float64(R)
			if m < minMean {
				continue
			}
			sv += (ss - s*m) / float64(R-1)
			sm += m
		}
	}
	return sv / sm
}
