//go:build !purego

package infer

import "golang.org/x/sys/cpu"

// cmacAVX2 is cmacGeneric in AVX2 with FMA (cmac_amd64.s): four complex values per
// instruction, the product (wr*xr - wi*xi, wi*xr + wr*xi) by one multiply and one fused
// multiply-add-subtract.
//
//go:noescape
func cmacAVX2(acc, w, x []complex64)

// dotAVX2 is dotGeneric in AVX2 with FMA: 32 products per iteration in four accumulators.
//
//go:noescape
func dotAVX2(a, b []float32) float32

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		cmac = cmacAVX2
		dot = dotAVX2
	}
}
