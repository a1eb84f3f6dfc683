//go:build !amd64 || purego

package infer

// fftStageAsm: elsewhere (or with -tags purego) every stage runs in Go.
func fftStageAsm(p int, x, y, tw []complex64, s, m int, inv bool) bool { return false }

func fillAsm(z, g []complex64, P, hf, w int) bool { return false }

func unpackAsm(dst []float32, out []complex64, P, ow int, bias float32) bool { return false }

func packAsm(z []complex64, img []float32, P, w int) bool { return false }

func splitAsm(u, zs []complex64, P, hf, w int) bool { return false }
