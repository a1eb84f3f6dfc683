package infer

import "fmt"

// specMAC is the frequency-domain half of a convolution: out_c = sum_k W[c][k] * X_k (complex,
// elementwise) for every output channel c, over nk input spectra X_k of n values each (the
// frames of a window, or the input channels). Spectra and weights are held planar in blocks of
// eight (eight real parts, then their eight imaginary parts; the last block padded with zeros)
// and the weights in the order the kernel reads them, so that one pass over the weights serves
// four channels and a product costs four fused multiply-adds with no shuffles.
type specMAC struct {
	n, nb, nk, co int
	ng            int         // groups of four output channels (the last padded)
	w             []float32   // [ng][nb][nk][4][16]
	acc           []complex64 // [ng*4][nb*8]: the sums, interleaved
}

// newSpecMAC takes the weight spectra w as [co][nk][n] complex values.
func newSpecMAC(w []complex64, co, nk, n int) *specMAC {
	nb := (n + 7) / 8
	ng := (co + 3) / 4
	s := &specMAC{n: n, nb: nb, nk: nk, co: co, ng: ng, w: make([]float32, ng*nb*nk*64), acc: make([]complex64, ng*4*nb*8)}
	for c := 0; c < co; c++ {
		g, j := c/4, c%4
		for k := 0; k < nk; k++ {
			src := w[(c*nk+k)*n : (c*nk+k+1)*n]
			for i, v := range src {
				b, l := i/8, i%8
				o := (((g*nb+b)*nk+k)*4+j)*16 + l
				s.w[o], s.w[o+8] = real(v), imag(v)
			}
		}
	}
	return s
}

// planarLen is the number of float32s a planar spectrum of the bank's n values takes.
func (s *specMAC) planarLen() int { return s.nb * 16 }

// run computes every channel's sum; block b of input k is the planar block at
// x[xoff[k]+b*xstride:] (xstride 16: each input whole in turn; nk*16: the inputs' blocks
// interleaved, as the engine holds them, so that the kernel reads x as one stream).
func (s *specMAC) run(x []float32, xoff []int, xstride int) { s.runGroups(x, xoff, xstride, 0, s.ng) }

// runGroups is run for the groups of four channels g0 to g1-1 only (one core's share).
func (s *specMAC) runGroups(x []float32, xoff []int, xstride, g0, g1 int) {
	if len(xoff) != s.nk || xstride < 16 {
		panic(fmt.Sprintf("infer: specMAC: %d inputs of block stride %d, want %d of at least 16", len(xoff), xstride, s.nk))
	}
	for _, o := range xoff {
		_ = x[o : o+(s.nb-1)*xstride+16] // the kernel reads each input whole
	}
	if g0 >= g1 {
		return
	}
	cs := s.nb * 8
	cmacPlanar(s.acc[g0*4*cs:], cs, s.w[g0*s.nb*s.nk*64:], x, xoff, xstride, s.nk, s.nb, g1-g0, 0)
}

// runBlocks is run for group g's blocks b0 to b1-1 and, of each, the len(xoff) inputs from
// k0 on, input k0+i at x[xoff[i]+b*xstride:]; the sums go to dst, channel j of the group at
// dst[j*cstride + 8b:] (acc, or a buffer of its shape). The temporal blocking of the
// streamed first layer (convRing) runs its classes of blocks this way.
func (s *specMAC) runBlocks(dst []complex64, cstride int, x []float32, xoff []int, xstride, g, b0, b1, k0 int) {
	nk := len(xoff)
	if b0 < 0 || b1 > s.nb || g < 0 || g >= s.ng || k0 < 0 || k0+nk > s.nk || nk == 0 || xstride < 16 {
		panic(fmt.Sprintf("infer: specMAC: blocks [%d, %d) of %d, group %d of %d, inputs %d+%d of %d, stride %d", b0, b1, s.nb, g, s.ng, k0, nk, s.nk, xstride))
	}
	if b0 >= b1 {
		return
	}
	for _, o := range xoff {
		_ = x[o+b0*xstride : o+(b1-1)*xstride+16]
	}
	cmacPlanar(dst[g*4*cstride+b0*8:], cstride, s.w[((g*s.nb+b0)*s.nk+k0)*64:], x[b0*xstride:], xoff, xstride, nk, b1-b0, 1, (s.nk-nk)*64)
}

// runBlocks2 is runBlocks for two sets of inputs of the same count from k0 on, xoff0 into
// dst0 and xoff1 into dst1: the full class of the blocked first layer sums a chunk for
// several outputs, and the AVX-512 kernel reads each weight block once for two of them.
func (s *specMAC) runBlocks2(dst0, dst1 []complex64, cstride int, x []float32, xoff0, xoff1 []int, xstride, g, b0, b1, k0 int) {
	nk := len(xoff0)
	if b0 < 0 || b1 > s.nb || g < 0 || g >= s.ng || k0 < 0 || k0+nk > s.nk || nk == 0 || len(xoff1) != nk || xstride < 16 {
		panic(fmt.Sprintf("infer: specMAC: blocks [%d, %d) of %d, group %d of %d, inputs %d+%d (and %d) of %d, stride %d", b0, b1, s.nb, g, s.ng, k0, nk, len(xoff1), s.nk, xstride))
	}
	if b0 >= b1 {
		return
	}
	for _, xoff := range [2][]int{xoff0, xoff1} {
		for _, o := range xoff {
			_ = x[o+b0*xstride : o+(b1-1)*xstride+16]
		}
	}
	o := g*4*cstride + b0*8
	cmacPlanar2(dst0[o:], dst1[o:], cstride, s.w[((g*s.nb+b0)*s.nk+k0)*64:], x[b0*xstride:], xoff0, xoff1, xstride, nk, b1-b0, (s.nk-nk)*64)
}

// out returns channel c's sum (n values, interleaved); valid until the next run.
func (s *specMAC) out(c int) []complex64 { return s.acc[c*s.nb*8 : c*s.nb*8+s.n] }

// toPlanar writes the n complex values of src to dst in planar blocks of eight, block b at
// dst[b*stride:] (stride >= 16); the padding of the last block is left as it is (zero when
// dst was made for it).
func toPlanar(src []complex64, dst []float32, stride int) {
	done := toPlanarBlocks(src, dst, stride)
	for b := done / 8; b*8 < len(src); b++ {
		blk := src[b*8 : min(b*8+8, len(src))]
		d := dst[b*stride : b*stride+16]
		for l, v := range blk {
			d[l], d[8+l] = real(v), imag(v)
		}
	}
}

// toPlanarBlocks converts the whole blocks of src where the CPU has AVX2 and returns how many
// values it did (a multiple of eight); the Go loop does the rest.
var toPlanarBlocks = func(src []complex64, dst []float32, stride int) int { return 0 }

// cmacPlanar is the bank's kernel: assembly where the CPU has AVX2 and FMA.
var cmacPlanar = cmacPlanarGo

// cmacPlanar2 is cmacPlanar for one group and two sets of inputs, xoff0 into out0 and xoff1
// into out1: a kernel reading the weights once for both where the CPU has AVX-512.
var cmacPlanar2 = cmacPlanarPair

// cmacPlanarPair is cmacPlanar2 as two calls of cmacPlanar.
func cmacPlanarPair(out0, out1 []complex64, cstride int, w, x []float32, xoff0, xoff1 []int, xstride, nk, nb, wskip int) {
	cmacPlanar(out0, cstride, w, x, xoff0, xstride, nk, nb, 1, wskip)
	cmacPlanar(out1, cstride, w, x, xoff1, xstride, nk, nb, 1, wskip)
}

// cmacPlanarGo: for each group g of four channels, block b and channel j of the group,
// out[(4g+j)*cstride + 8b + l] = sum_k w[g][b][k][j] * x[xoff[k] + b*xstride] (element l of
// the planar blocks), interleaved. wskip floats of w are skipped after each block's nk
// inputs (0: the weights of every input are read; runBlocks reads a block's last inputs).
func cmacPlanarGo(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int) {
	var re, im [4][8]float32
	wi := 0
	for g := 0; g < ng; g++ {
		for b := 0; b < nb; b++ {
			re, im = [4][8]float32{}, [4][8]float32{}
			for k := 0; k < nk; k++ {
				xb := x[xoff[k]+b*xstride : xoff[k]+b*xstride+16]
				for j := 0; j < 4; j++ {
					wb := w[wi : wi+16]
					wi += 16
					for l := 0; l < 8; l++ {
						xr, xi, wr, wim := xb[l], xb[8+l], wb[l], wb[8+l]
						re[j][l] += wr*xr - wim*xi
						im[j][l] += wr*xi + wim*xr
					}
				}
			}
			wi += wskip
			for j := 0; j < 4; j++ {
				o := out[(4*g+j)*cstride+8*b : (4*g+j)*cstride+8*b+8]
				for l := range o {
					o[l] = complex(re[j][l], im[j][l])
				}
			}
		}
	}
}
