package fit

// weightedGram adds the upper triangle of X' diag(wt) X to h (d x d, row-major), for rows x d
// row-major X. Four rows at a time: for the narrow designs here (tens of columns, 10^5 rows)
// this runs several times faster than a BLAS rank-k update, which updates row by row.
func weightedGram(h, x, wt []float64, rows, d int) {
	t := 0
	for ; t+4 <= rows; t += 4 {
		x0, x1, x2, x3 := x[t*d:(t+1)*d], x[(t+1)*d:(t+2)*d], x[(t+2)*d:(t+3)*d], x[(t+3)*d:(t+4)*d]
		w0, w1, w2, w3 := wt[t], wt[t+1], wt[t+2], wt[t+3]
		for i := 0; i < d; i++ {
			a0, a1, a2, a3 := w0*x0[i], w1*x1[i], w2*x2[i], w3*x3[i]
			hr := h[i*d+i : i*d+d]
			y0, y1, y2, y3 := x0[i:d], x1[i:d], x2[i:d], x3[i:d]
			y0, y1, y2, y3 = y0[:len(hr)], y1[:len(hr)], y2[:len(hr)], y3[:len(hr)]
			for j := range hr {
				hr[j] += a0*y0[j] + a1*y1[j] + a2*y2[j] + a3*y3[j]
			}
		}
	}
	for ; t < rows; t++ {
		x0, w0 := x[t*d:(t+1)*d], wt[t]
		for i := 0; i < d; i++ {
			a0 := w0 * x0[i]
			hr := h[i*d+i : i*d+d]
			y0 := x0[i:d]
			y0 = y0[:len(hr)]
			for j := range hr {
				hr[j] += a0 * y0[j]
			}
		}
	}
}
