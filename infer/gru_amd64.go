//go:build !purego

package infer

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// gruGatesAVX512 is gruGatesGo on n values (a multiple of 16, at least 16), sixteen at a time.
//
//go:noescape
func gruGatesAVX512(h, gi, gh *float32, n, stride int)

// gruGatesKernel checks the lengths the assembly relies on, runs it on the whole sixteens and
// gruGatesGo on the rest.
func gruGatesKernel(h, gi, gh []float32, stride int) {
	n := len(h)
	if stride < n || len(gi) < 2*stride+n || len(gh) < 2*stride+n {
		panic(fmt.Sprintf("infer: gruGates: %d values, gates of %d and %d values %d apart", n, len(gi), len(gh), stride))
	}
	m := n &^ 15
	if m > 0 {
		gruGatesAVX512(&h[0], &gi[0], &gh[0], m, stride)
	}
	if m < n {
		gruGatesGo(h[m:], gi[m:], gh[m:], stride)
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
	if cpu.X86.HasAVX512F {
		k["avx512"] = gruGatesKernel
	}
	return k
}

func init() {
	if cpu.X86.HasAVX512F {
		gruGates = gruGatesKernel
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
