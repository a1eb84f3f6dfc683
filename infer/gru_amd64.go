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
	}
}
