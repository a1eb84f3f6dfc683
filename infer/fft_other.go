//go:build !amd64 || purego

package infer

// fftStageAsm: elsewhere (or with -tags purego) every stage runs in Go.
func fftStageAsm(p int, x, y, tw []complex64, s, m int, inv bool) bool { return false }
