//go:build !amd64 || purego

package infer

// gruGatesKernels is every gates kernel this build has besides the Go one: none.
func gruGatesKernels() map[string]func(h, gi, gh []float32, stride int) { return nil }

// gruConvKernels is every direct conv-GRU kernel this build has: none.
func gruConvKernels() map[string]func(dst, src, w, bias []float32, offs []int32, nblk, oplane int) {
	return nil
}
