//go:build !purego

package infer

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// gruGatesAVX512 is gruGatesGo on n values (a multiple of 16, at least 16), sixteen at a time.
// (AVX-512 F alone: VSCALEFPS, VRNDSCALEPS and masks.)
//
//go:noescape
func gruGatesAVX512(h, gi, gh *float32, n, stride int)

// gruGatesAVX2 is gruGatesGo on n values (a multiple of 8, at least 8), eight at a time.
//
//go:noescape
func gruGatesAVX2(h, gi, gh *float32, n, stride int)

// gruGatesKernel returns the assembly kernel k (of width 16 or 8) behind the checks of the
// lengths it relies on: it runs k on the whole widths and gruGatesGo on the rest.
func gruGatesKernel(k func(h, gi, gh *float32, n, stride int), width int) func(h, gi, gh []float32, stride int) {
	return func(h, gi, gh []float32, stride int) {
		n := len(h)
		if stride < n || len(gi) < 2*stride+n || len(gh) < 2*stride+n {
			panic(fmt.Sprintf("infer: gruGates: %d values, gates of %d and %d values %d apart", n, len(gi), len(gh), stride))
		}
		m := n - n%width
		if m > 0 {
			k(&h[0], &gi[0], &gh[0], m, stride)
		}
		if m < n {
			gruGatesGo(h[m:], gi[m:], gh[m:], stride)
		}
	}
}

// gruConvKernels is every direct conv-GRU kernel this CPU can run.
func gruConvKernels() map[string]func(dst, src, w, bias []float32, offs []int32, nblk, oplane int) {
	k := map[string]func(dst, src, w, bias []float32, offs []int32, nblk, oplane int){}
	if cpu.X86.HasAVX512F {
		k["avx512"] = gruConvAVX512Kernel
	}
	return k
}

// gruGatesKernels is every gates kernel this CPU can run besides the Go one.
func gruGatesKernels() map[string]func(h, gi, gh []float32, stride int) {
	k := map[string]func(h, gi, gh []float32, stride int){}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		k["avx2"] = gruGatesKernel(gruGatesAVX2, 8)
	}
	if cpu.X86.HasAVX512F {
		k["avx512"] = gruGatesKernel(gruGatesAVX512, 16)
	}
	return k
}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		gruGates = gruGatesKernel(gruGatesAVX2, 8)
	}
	if cpu.X86.HasAVX512F {
		gruGates = gruGatesKernel(gruGatesAVX512, 16)
		gruConvKernel = gruConvAVX512Kernel
	}
}

//go:noescape
func gruConvAVX512(dst, src, w, bias *float32, offs *int32, nk, nblk, oplane int)

// gruConvAVX512Kernel checks the lengths the assembly relies on and calls it.
func gruConvAVX512Kernel(dst, src, w, bias []float32, offs []int32, nblk, oplane int) {
	gruConvCheck(dst, src, w, bias, offs, nblk, oplane)
	gruConvAVX512(&dst[0], &src[0], &w[0], &bias[0], &offs[0], len(offs), nblk, oplane)
}
