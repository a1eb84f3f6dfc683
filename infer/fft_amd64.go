//go:build !purego

package infer

import "golang.org/x/sys/cpu"

// The FFT's radix-2, 3, 4 and 5 stages in AVX2 with FMA (fft_amd64.s): each call runs one
// whole Stockham stage (every q, every sequence r), four sequences per instruction, the last
// group of a stage overlapping the one before when s is not a multiple of four (the stage is
// out of place, so recomputing a sequence writes the same values again). They need s >= 4.
//
//go:noescape
func fftR2(x, y, tw *complex64, s, m int, rot *[8]float32)

//go:noescape
func fftR3(x, y, tw *complex64, s, m int, rot *[8]float32)

//go:noescape
func fftR4(x, y, tw *complex64, s, m int, rot *[8]float32)

//go:noescape
func fftR5(x, y, tw *complex64, s, m int, rot *[8]float32)

// fftK holds the real constants the assembly broadcasts: 1/2, sqrt(3)/2, then the radix-5
// cosines and sines.
var fftK = [8]float32{0.5, s3, c51, c52, s51, s52}

// rotMask turns the swapped (im, re) into rot(z): (im, -re) = -i z for the forward transform,
// (-im, re) = i z for the inverse.
var rotMask = [2][8]float32{{1, -1, 1, -1, 1, -1, 1, -1}, {-1, 1, -1, 1, -1, 1, -1, 1}}

var fftAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// fftStageAsm runs stage st (radix p) in assembly and reports whether it could: the CPU must
// have AVX2 and FMA, s must be at least 4 and p one of 2, 3, 4, 5.
func fftStageAsm(p int, x, y, tw []complex64, s, m int, inv bool) bool {
	if !fftAVX2 || s < 4 {
		return false
	}
	n := p * m * s
	_, _ = x[n-1], y[n-1] // the assembly reads and writes n values of each
	_ = tw[m*p-1]
	rot := &rotMask[0]
	if inv {
		rot = &rotMask[1]
	}
	switch p {
	case 2:
		fftR2(&x[0], &y[0], &tw[0], s, m, rot)
	case 3:
		fftR3(&x[0], &y[0], &tw[0], s, m, rot)
	case 4:
		fftR4(&x[0], &y[0], &tw[0], s, m, rot)
	case 5:
		fftR5(&x[0], &y[0], &tw[0], s, m, rot)
	default:
		return false
	}
	return true
}

// The inverse's transposes in AVX2 (fft_amd64.s), four row pairs by four columns per block.
//
//go:noescape
func fillAVX2(z, spec *complex64, np, hf, w int)

//go:noescape
func unpackAVX2(dst *float32, out *complex64, np, ow int, bias float32)

// conjMask multiplies an interleaved complex value into its conjugate.
var conjMask = [2]float32{1, -1}

// fillAsm is the Hermitian fill of spectral.inverse for P whole row pairs; it reports whether
// it could (AVX2, and at least four pairs, four columns in each half).
func fillAsm(z, g []complex64, P, hf, w int) bool {
	if !fftAVX2 || P < 4 || hf < 4 || w-hf < 4 {
		return false
	}
	_, _ = z[w*P-1], g[2*P*hf-1]
	fillAVX2(&z[0], &g[0], P, hf, w)
	return true
}

// unpackAsm is the last step of spectral.inverse for 2P rows of ow; it reports whether it
// could (AVX2, at least four pairs and four columns).
func unpackAsm(dst []float32, out []complex64, P, ow int, bias float32) bool {
	if !fftAVX2 || P < 4 || ow < 4 {
		return false
	}
	_, _ = dst[2*P*ow-1], out[ow*P-1]
	unpackAVX2(&dst[0], &out[0], P, ow, bias)
	return true
}

// The forward's transposes in AVX2 (fft_amd64.s).
//
//go:noescape
func packAVX2(z *complex64, img *float32, np, w int)

//go:noescape
func splitAVX2(u, zs *complex64, np, hf, w int)

// packAsm is the row pairing of spectral.spectrum for P whole pairs; it reports whether it
// could (AVX2, at least four pairs and four columns).
func packAsm(z []complex64, img []float32, P, w int) bool {
	if !fftAVX2 || P < 4 || w < 4 {
		return false
	}
	_, _ = z[w*P-1], img[2*P*w-1]
	packAVX2(&z[0], &img[0], P, w)
	return true
}

// splitAsm unpacks columns fx >= 1 of spectral.spectrum's P whole pairs; it reports whether
// it could (AVX2, at least four pairs, hf >= 5).
func splitAsm(u, zs []complex64, P, hf, w int) bool {
	if !fftAVX2 || P < 4 || hf < 5 {
		return false
	}
	_, _ = u[2*P*hf-1], zs[w*P-1]
	splitAVX2(&u[0], &zs[0], P, hf, w)
	return true
}
