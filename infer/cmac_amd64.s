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
