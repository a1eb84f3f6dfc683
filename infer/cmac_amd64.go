//go:build !purego

package infer

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// cmacPlanarAVX2 is cmacPlanarGo in AVX2 with FMA: eight complex products of four channels
// per pass over an input block, the accumulators in registers.
//
//go:noescape
func cmacPlanarAVX2(out *complex64, cstride int, w, x *float32, xoff *int, xstride, nk, nb, ng, wskip int)

// cmacPlanarAVX512 is cmacPlanarAVX2 with each planar block of eight complex values in one
// 16-wide register: two FMAs for eight complex products of a channel instead of four.
//
//go:noescape
func cmacPlanarAVX512(out *complex64, cstride int, w, x *float32, xoff *int, xstride, nk, nb, ng, wskip int)

// cmacPlanar2AVX512 is cmacPlanarAVX512 for one group and two sets of inputs, each weight block
// loaded once for both (see cmacPlanarPair).
//
//go:noescape
func cmacPlanar2AVX512(out0, out1 *complex64, cstride int, w, x *float32, xoff0, xoff1 *int, xstride, nk, nb, wskip int)

// dotAVX2 is dotGeneric in AVX2 with FMA: 32 products per iteration in four accumulators.
//
//go:noescape
func dotAVX2(a, b []float32) float32

// affineAVX2 is affineGo in AVX2 with FMA, eight values per instruction.
//
//go:noescape
func affineAVX2(x, scale, shift []float32, relu bool)

// toPlanarAVX2 is toPlanar for nb whole blocks of eight (nb >= 1), stride floats apart.
//
//go:noescape
func toPlanarAVX2(dst *float32, src *complex64, nb, stride int)

// denseBlocksAVX2 and denseBlocksAVX512 are denseBlocksGo for nob >= 1 blocks (checked by
// denseBlocksKernel).
//
//go:noescape
func denseBlocksAVX2(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)

//go:noescape
func denseBlocksAVX512(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)

// denseWideAVX512 is denseBlocksAVX512 for slabs of denseWide outputs.
//
//go:noescape
func denseWideAVX512(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)

// denseWide64AVX512 is denseBlocksAVX512 for slabs of denseWide64 outputs.
//
//go:noescape
func denseWide64AVX512(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)

// gatherNonzeroAVX512 is gatherNonzeroGo for nb >= 1 whole blocks of 16 inputs (checked by
// gatherNonzeroKernel); iota points to gatherIota.
//
//go:noescape
func gatherNonzeroAVX512(idx *int32, val *float32, x *float32, iota *int32, nb int) int

// gatherIota is the indices of a block of 16 inputs, which gatherNonzeroAVX512 counts on from.
var gatherIota = [16]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// gatherNonzeroKernel is gatherNonzeroAVX512 over the whole blocks of 16 and gatherNonzeroGo
// over the rest, behind the check of the lengths it relies on.
func gatherNonzeroKernel(idx []int32, val []float32, x []float32) int {
	if len(idx) < len(x) || len(val) < len(x) {
		panic(fmt.Sprintf("infer: gatherNonzero: %d indices and %d values for %d inputs", len(idx), len(val), len(x)))
	}
	n, nb := 0, len(x)/16
	if nb > 0 {
		n = gatherNonzeroAVX512(&idx[0], &val[0], &x[0], &gatherIota[0], nb)
	}
	done := nb * 16
	m := gatherNonzeroGo(idx[n:], val[n:], x[done:])
	for k := n; k < n+m; k++ {
		idx[k] += int32(done)
	}
	return n + m
}

// rowsFMAAVX2 is rowsFMAGo for rows >= 1 (checked by rowsFMAKernel).
//
//go:noescape
func rowsFMAAVX2(dst, src *float32, a float32, rows, n, stride int)

// fmaPeakAVX512 and fmaPeakAVX2 are fmaPeakGo in the widest FMAs: twelve independent
// accumulators of 16 or 8 lanes, 384 or 192 FLOPs an iteration.
//
//go:noescape
func fmaPeakAVX512(n int) float32

//go:noescape
func fmaPeakAVX2(n int) float32

// fmaPeakKernelOf is an assembly peak kernel behind the check it relies on.
func fmaPeakKernelOf(k func(n int) float32) func(n int) float32 {
	return func(n int) float32 {
		if n < 1 {
			return 0
		}
		return k(n)
	}
}

// addComplexAVX2 is addComplexGo for n values, eight at a time.
//
//go:noescape
func addComplexAVX2(dst, src *complex64, n int)

// addComplexKernel checks the length the assembly relies on and calls it.
func addComplexKernel(dst, src []complex64) {
	if len(dst) == 0 {
		return
	}
	src = src[:len(dst)]
	addComplexAVX2(&dst[0], &src[0], len(dst))
}

// rowsFMAKernel checks the lengths the assembly relies on and calls it.
func rowsFMAKernel(dst, src []float32, a float32, rows, n, stride int) {
	if rows < 1 || n < 1 {
		return
	}
	if stride < n || len(dst) < rows*n || len(src) < (rows-1)*stride+n {
		panic(fmt.Sprintf("infer: rowsFMA: %d rows of %d (stride %d) from %d values into %d", rows, n, stride, len(src), len(dst)))
	}
	rowsFMAAVX2(&dst[0], &src[0], a, rows, n, stride)
}

// planarIdx gathers the real parts of four interleaved values, then their imaginary parts.
var planarIdx = [8]int32{0, 2, 4, 6, 1, 3, 5, 7}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		cmacPlanar = cmacPlanarKernel(cmacPlanarAVX2)
		dot = dotAVX2
		affine = affineAVX2
		toPlanarBlocks = toPlanarKernel
		denseBlocks = denseBlocksKernel(denseBlocksAVX2)
		rowsFMA = rowsFMAKernel
		addComplex = addComplexKernel
		fmaPeak, fmaPeakFLOPs, fmaPeakKernel = fmaPeakKernelOf(fmaPeakAVX2), 12*8*2, "avx2"
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasFMA {
		cmacPlanar = cmacPlanarKernel(cmacPlanarAVX512)
		cmacPlanar2 = cmacPlanar2Kernel
		denseBlocks = denseBlocksKernel(denseBlocksAVX512)
		denseWideBlocks = denseWideKernels()
		gatherNonzero = gatherNonzeroKernel
		fmaPeak, fmaPeakFLOPs, fmaPeakKernel = fmaPeakKernelOf(fmaPeakAVX512), 12*16*2, "avx512"
	}
}

// denseBlocksKernel returns the assembly kernel k behind the checks it relies on: every index
// inside the slab, and the slices as long as the blocks.
func denseBlocksKernel(k func(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)) func(acc, w []float32, idx []int32, val []float32, in, nob int) {
	return denseBlocksKernelW(k, denseBlock)
}

// denseBlocksKernelW is denseBlocksKernel for slabs of width outputs.
func denseBlocksKernelW(k func(acc, w *float32, idx *int32, val *float32, nnz, in, nob int), width int) func(acc, w []float32, idx []int32, val []float32, in, nob int) {
	return func(acc, w []float32, idx []int32, val []float32, in, nob int) {
		if nob < 1 || in < 1 || len(acc) < nob*width || len(w) < nob*in*width || len(val) < len(idx) {
			panic(fmt.Sprintf("infer: denseBlocks: %d sums, %d weights, %d indices, %d values for %d blocks of %d inputs", len(acc), len(w), len(idx), len(val), nob, in))
		}
		for _, i := range idx {
			if i < 0 || int(i) >= in {
				panic(fmt.Sprintf("infer: denseBlocks: input %d of %d", i, in))
			}
		}
		if len(idx) == 0 {
			clear(acc[:nob*width])
			return
		}
		k(&acc[0], &w[0], &idx[0], &val[0], len(idx), in, nob)
	}
}

// cmacPlanarKernel returns the assembly kernel k behind the checks of the lengths it relies on.
func cmacPlanarKernel(k func(out *complex64, cstride int, w, x *float32, xoff *int, xstride, nk, nb, ng, wskip int)) func(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int) {
	return func(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int) {
		cmacPlanarChecked(k, out, cstride, w, x, xoff, xstride, nk, nb, ng, wskip)
	}
}

// cmacPlanarChecked checks the lengths the assembly kernel k relies on and calls it.
func cmacPlanarChecked(k func(out *complex64, cstride int, w, x *float32, xoff *int, xstride, nk, nb, ng, wskip int), out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int) {
	cmacPlanarCheck(out, cstride, w, x, xoff, xstride, nk, nb, ng, wskip)
	k(&out[0], cstride, &w[0], &x[0], &xoff[0], xstride, nk, nb, ng, 4*wskip)
}

// cmacPlanar2Kernel is cmacPlanarPair in cmacPlanar2AVX512, behind the checks of both halves.
func cmacPlanar2Kernel(out0, out1 []complex64, cstride int, w, x []float32, xoff0, xoff1 []int, xstride, nk, nb, wskip int) {
	cmacPlanarCheck(out0, cstride, w, x, xoff0, xstride, nk, nb, 1, wskip)
	cmacPlanarCheck(out1, cstride, w, x, xoff1, xstride, nk, nb, 1, wskip)
	cmacPlanar2AVX512(&out0[0], &out1[0], cstride, &w[0], &x[0], &xoff0[0], &xoff1[0], xstride, nk, nb, 4*wskip)
}

// cmacPlanarCheck panics unless the lengths are those the assembly kernels rely on.
func cmacPlanarCheck(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int) {
	if nk < 1 || nb < 1 || ng < 1 || wskip < 0 || cstride < nb*8 || xstride < 16 || len(out) < (ng-1)*4*cstride+3*cstride+nb*8 || len(w) < (ng*nb-1)*(nk*64+wskip)+nk*64 || len(xoff) < nk {
		panic(fmt.Sprintf("infer: cmacPlanar: %d outputs of stride %d, %d weights, %d inputs of %d blocks %d apart, %d groups", len(out), cstride, len(w), nk, nb, xstride, ng))
	}
	for _, o := range xoff[:nk] {
		if o < 0 || o+(nb-1)*xstride+16 > len(x) {
			panic(fmt.Sprintf("infer: cmacPlanar: input at %d of %d floats, want %d blocks %d apart", o, len(x), nb, xstride))
		}
	}
}

func toPlanarKernel(src []complex64, dst []float32, stride int) int {
	nb := len(src) / 8
	if nb == 0 {
		return 0
	}
	if stride < 16 {
		panic(fmt.Sprintf("infer: toPlanar: block stride %d, want at least 16", stride))
	}
	_ = dst[(nb-1)*stride+15]
	toPlanarAVX2(&dst[0], &src[0], nb, stride)
	return nb * 8
}

// cmacKernels is every spectral multiply-accumulate kernel this CPU can run besides the Go
// one, for the tests to hold to it and the benchmark to compare.
func cmacKernels() map[string]func(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int) {
	k := map[string]func(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int){}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		k["avx2"] = cmacPlanarKernel(cmacPlanarAVX2)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasFMA {
		k["avx512"] = cmacPlanarKernel(cmacPlanarAVX512)
	}
	return k
}

// denseKernels is every dense kernel this CPU can run, for the tests to hold to the Go one.
func denseKernels() map[string]func(acc, w []float32, idx []int32, val []float32, in, nob int) {
	k := map[string]func(acc, w []float32, idx []int32, val []float32, in, nob int){}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		k["avx2"] = denseBlocksKernel(denseBlocksAVX2)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasFMA {
		k["avx512"] = denseBlocksKernel(denseBlocksAVX512)
	}
	return k
}

// denseWideKernels is every wide dense kernel this CPU can run, by slab width (nil: none).
func denseWideKernels() map[int]func(acc, w []float32, idx []int32, val []float32, in, nob int) {
	if !cpu.X86.HasAVX512F || !cpu.X86.HasFMA {
		return nil
	}
	return map[int]func(acc, w []float32, idx []int32, val []float32, in, nob int){
		denseWide:   denseBlocksKernelW(denseWideAVX512, denseWide),
		denseWide64: denseBlocksKernelW(denseWide64AVX512, denseWide64),
	}
}

// peakKernels is every FMA peak kernel this CPU can run.
func peakKernels() map[string]func(n int) float32 {
	k := map[string]func(n int) float32{}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		k["avx2"] = fmaPeakKernelOf(fmaPeakAVX2)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasFMA {
		k["avx512"] = fmaPeakKernelOf(fmaPeakAVX512)
	}
	return k
}
