//go:build !purego

#include "textflag.h"

// func cmacAVX2(acc, w, x []complex64)
// acc[i] += w[i] * x[i] for i < len(acc); w and x are at least as long.
TEXT ·cmacAVX2(SB), NOSPLIT, $0-72
	MOVQ acc_base+0(FP), DI
	MOVQ acc_len+8(FP), CX
	MOVQ w_base+24(FP), SI
	MOVQ x_base+48(FP), DX
	MOVQ CX, BX
	SHRQ $3, BX
	JZ   four

loop8:
	VMOVUPS        (SI), Y0
	VMOVUPS        32(SI), Y8
	VMOVUPS        (DX), Y1
	VMOVUPS        32(DX), Y9
	VMOVSLDUP      Y1, Y2
	VMOVSLDUP      Y9, Y10
	VMOVSHDUP      Y1, Y3
	VMOVSHDUP      Y9, Y11
	VPERMILPS      $0xB1, Y0, Y4
	VPERMILPS      $0xB1, Y8, Y12
	VMULPS         Y4, Y3, Y3
	VMULPS         Y12, Y11, Y11
	VFMADDSUB231PS Y2, Y0, Y3
	VFMADDSUB231PS Y10, Y8, Y11
	VADDPS         (DI), Y3, Y3
	VADDPS         32(DI), Y11, Y11
	VMOVUPS        Y3, (DI)
	VMOVUPS        Y11, 32(DI)
	ADDQ           $64, SI
	ADDQ           $64, DX
	ADDQ           $64, DI
	DECQ           BX
	JNZ            loop8

four:
	ANDQ $7, CX
	JZ   done

one:
	VMOVSD         (SI), X0
	VMOVSD         (DX), X1
	VMOVSLDUP      X1, X2
	VMOVSHDUP      X1, X3
	VPERMILPS      $0xB1, X0, X4
	VMULPS         X4, X3, X3
	VFMADDSUB231PS X2, X0, X3
	VMOVSD         (DI), X5
	VADDPS         X5, X3, X3
	VMOVSD         X3, (DI)
	ADDQ           $8, SI
	ADDQ           $8, DX
	ADDQ           $8, DI
	DECQ           CX
	JNZ            one

done:
	VZEROUPPER
	RET

// func dotAVX2(a, b []float32) float32
// The sum of a[i]*b[i] for i < len(a); b is at least as long. Four accumulators of eight.
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   CX, BX
	SHRQ   $5, BX
	JZ     dot8

dot32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DX), Y4, Y0
	VFMADD231PS 32(DX), Y5, Y1
	VFMADD231PS 64(DX), Y6, Y2
	VFMADD231PS 96(DX), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DX
	DECQ        BX
	JNZ         dot32

dot8:
	MOVQ CX, BX
	ANDQ $31, BX
	SHRQ $3, BX
	JZ   dotsum

dot8loop:
	VMOVUPS     (SI), Y4
	VFMADD231PS (DX), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DX
	DECQ        BX
	JNZ         dot8loop

dotsum:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X1, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	ANDQ         $7, CX
	JZ           dotdone

dot1:
	VMOVSS      (SI), X4
	VFMADD231SS (DX), X4, X0
	ADDQ        $4, SI
	ADDQ        $4, DX
	DECQ        CX
	JNZ         dot1

dotdone:
	VMOVSS X0, ret+48(FP)
	VZEROUPPER
	RET
