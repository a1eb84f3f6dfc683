//go:build !amd64 || purego

package infer

// Elsewhere (or with -tags purego) cmacPlanar and dot stay in Go.

// cmacKernels is every spectral multiply-accumulate kernel this build has besides the Go
// one: none.
func cmacKernels() map[string]func(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int) {
	return nil
}

// denseKernels is every dense kernel this build has besides the Go one: none.
func denseKernels() map[string]func(acc, w []float32, idx []int32, val []float32, in, nob int) {
	return nil
}

// denseWideKernels is every wide dense kernel this build has, by slab width: none.
func denseWideKernels() map[int]func(acc, w []float32, idx []int32, val []float32, in, nob int) {
	return nil
}

// peakKernels is every FMA peak kernel this build has besides the Go one: none.
func peakKernels() map[string]func(n int) float32 { return nil }
