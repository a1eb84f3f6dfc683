//go:build !amd64 || purego

package infer

// gruGatesKernels is every gates kernel this build has besides the Go one: none.
func gruGatesKernels() map[string]func(h, gi, gh []float32, stride int) { return nil }
