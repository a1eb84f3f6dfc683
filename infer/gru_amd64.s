//go:build !purego

#include "textflag.h"

// The conv-GRU's gates (gates.go: gruGatesGo is the arithmetic, in the same order). Constant
// registers: Z31 1, Z30 expHi, Z29 expLo, Z28 log2e, Z27 C1, Z26 C2, Z25..Z20 P0..P5, Z19
// sign bit, Z18 -2, Z17 tanhMid, Z16..Z12 Q0..Q4.

DATA gruconst<>+0(SB)/4, $1.0
DATA gruconst<>+4(SB)/4, $88.3
DATA gruconst<>+8(SB)/4, $-87.3
DATA gruconst<>+12(SB)/4, $1.44269504088896341
DATA gruconst<>+16(SB)/4, $0.693359375
DATA gruconst<>+20(SB)/4, $-2.12194440e-4
DATA gruconst<>+24(SB)/4, $1.9875691500e-4
DATA gruconst<>+28(SB)/4, $1.3981999507e-3
DATA gruconst<>+32(SB)/4, $8.3334519073e-3
DATA gruconst<>+36(SB)/4, $4.1665795894e-2
DATA gruconst<>+40(SB)/4, $1.6666665459e-1
DATA gruconst<>+44(SB)/4, $5.0000001201e-1
DATA gruconst<>+48(SB)/4, $0x80000000
DATA gruconst<>+52(SB)/4, $-2.0
DATA gruconst<>+56(SB)/4, $0.625
DATA gruconst<>+60(SB)/4, $-5.70498872745e-3
DATA gruconst<>+64(SB)/4, $2.06390887954e-2
DATA gruconst<>+68(SB)/4, $-5.37397155531e-2
DATA gruconst<>+72(SB)/4, $1.33314422036e-1
DATA gruconst<>+76(SB)/4, $-3.33332819422e-1
GLOBL gruconst<>(SB), RODATA|NOPTR, $80

// EXP(x, n, p, t): p = e^x (x is clamped and reduced in place; n and t are scratch). The
// clamps take x as the operand a NaN is returned from, so NaN stays NaN.
#define EXP(x, n, p, t) \
	VMINPS       x, Z30, x; \
	VMAXPS       x, Z29, x; \
	VMULPS       Z28, x, n; \
	VRNDSCALEPS  $0, n, n; \
	VFNMADD231PS Z27, n, x; \
	VFNMADD231PS Z26, n, x; \
	VMOVAPS      Z25, p; \
	VFMADD213PS  Z24, x, p; \
	VFMADD213PS  Z23, x, p; \
	VFMADD213PS  Z22, x, p; \
	VFMADD213PS  Z21, x, p; \
	VFMADD213PS  Z20, x, p; \
	VMULPS       x, x, t; \
	VFMADD213PS  x, t, p; \
	VADDPS       Z31, p, p; \
	VSCALEFPS    n, p, p

// func gruGatesAVX512(h, gi, gh *float32, n, stride int)
// n a multiple of 16, at least 16.
TEXT ·gruGatesAVX512(SB), NOSPLIT, $0-40
	MOVQ h+0(FP), DI
	MOVQ gi+8(FP), SI
	MOVQ gh+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ stride+32(FP), R8
	SHLQ $2, R8                // the gates' planes, in bytes apart
	LEAQ (R8)(R8*1), R9
	SHRQ $4, CX

	LEAQ         gruconst<>(SB), AX
	VBROADCASTSS 0(AX), Z31
	VBROADCASTSS 4(AX), Z30
	VBROADCASTSS 8(AX), Z29
	VBROADCASTSS 12(AX), Z28
	VBROADCASTSS 16(AX), Z27
	VBROADCASTSS 20(AX), Z26
	VBROADCASTSS 24(AX), Z25
	VBROADCASTSS 28(AX), Z24
	VBROADCASTSS 32(AX), Z23
	VBROADCASTSS 36(AX), Z22
	VBROADCASTSS 40(AX), Z21
	VBROADCASTSS 44(AX), Z20
	VBROADCASTSS 48(AX), Z19
	VBROADCASTSS 52(AX), Z18
	VBROADCASTSS 56(AX), Z17
	VBROADCASTSS 60(AX), Z16
	VBROADCASTSS 64(AX), Z15
	VBROADCASTSS 68(AX), Z14
	VBROADCASTSS 72(AX), Z13
	VBROADCASTSS 76(AX), Z12

gates:
	// r = 1/(1+e^-(gi_r+gh_r)) in Z0
	VMOVUPS (SI), Z0
	VADDPS  (DX), Z0, Z0
	VPXORD  Z19, Z0, Z0
	EXP(Z0, Z1, Z2, Z3)
	VADDPS  Z31, Z2, Z2
	VDIVPS  Z2, Z31, Z0

	// z = 1/(1+e^-(gi_z+gh_z)) in Z4
	VMOVUPS (SI)(R8*1), Z4
	VADDPS  (DX)(R8*1), Z4, Z4
	VPXORD  Z19, Z4, Z4
	EXP(Z4, Z1, Z2, Z3)
	VADDPS  Z31, Z2, Z2
	VDIVPS  Z2, Z31, Z4

	// a = gi_n + r*gh_n in Z5; s = |a| in Z6
	VMOVUPS     (SI)(R9*1), Z5
	VFMADD231PS (DX)(R9*1), Z0, Z5
	VPANDND     Z5, Z19, Z6

	// above tanhMid: (1-e)/(1+e), e = e^(-2s), in Z7
	VMULPS Z18, Z6, Z7
	EXP(Z7, Z1, Z2, Z3)
	VSUBPS Z2, Z31, Z7
	VADDPS Z31, Z2, Z2
	VDIVPS Z2, Z7, Z7

	// below: s + s*z*Q(z), z = s*s, in Z8
	VMULPS      Z6, Z6, Z9
	VMOVAPS     Z16, Z8
	VFMADD213PS Z15, Z9, Z8
	VFMADD213PS Z14, Z9, Z8
	VFMADD213PS Z13, Z9, Z8
	VFMADD213PS Z12, Z9, Z8
	VMULPS      Z9, Z8, Z8
	VFMADD213PS Z6, Z6, Z8

	VCMPPS    $1, Z17, Z6, K1 // s < tanhMid (false for NaN: the exp's branch, which keeps it)
	VBLENDMPS Z8, Z7, K1, Z7
	VPANDD    Z19, Z5, Z5      // the sign of a
	VPORD     Z5, Z7, Z7       // c

	// h = c + z*(h-c)
	VMOVUPS     (DI), Z1
	VSUBPS      Z7, Z1, Z1
	VFMADD231PS Z4, Z1, Z7
	VMOVUPS     Z7, (DI)

	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	DECQ CX
	JNZ  gates
	VZEROUPPER
	RET

// func gruConvAVX512(dst, src, w, bias *float32, offs *int32, nk, nblk, oplane int)
// Eight output channels of a convolution on the padded planes at src (gruConvGo is the
// arithmetic): for each of nblk blocks of 48 outputs, 24 accumulators (8 channels x 3
// registers) start at the bias and take, for each of the nk taps, the 48 inputs at offs[k]
// (floats from the block's start) times each channel's weight w[k*8+c]; the sums go to the
// channels' planes, oplane floats apart.
TEXT ·gruConvAVX512(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ w+16(FP), R8
	MOVQ bias+24(FP), R9
	MOVQ offs+32(FP), R10
	MOVQ nk+40(FP), R11
	MOVQ nblk+48(FP), R12
	MOVQ oplane+56(FP), R13
	SHLQ $2, R13

block:
	VBROADCASTSS 0(R9), Z0
	VMOVAPS      Z0, Z1
	VMOVAPS      Z0, Z2
	VBROADCASTSS 4(R9), Z3
	VMOVAPS      Z3, Z4
	VMOVAPS      Z3, Z5
	VBROADCASTSS 8(R9), Z6
	VMOVAPS      Z6, Z7
	VMOVAPS      Z6, Z8
	VBROADCASTSS 12(R9), Z9
	VMOVAPS      Z9, Z10
	VMOVAPS      Z9, Z11
	VBROADCASTSS 16(R9), Z12
	VMOVAPS      Z12, Z13
	VMOVAPS      Z12, Z14
	VBROADCASTSS 20(R9), Z15
	VMOVAPS      Z15, Z16
	VMOVAPS      Z15, Z17
	VBROADCASTSS 24(R9), Z18
	VMOVAPS      Z18, Z19
	VMOVAPS      Z18, Z20
	VBROADCASTSS 28(R9), Z21
	VMOVAPS      Z21, Z22
	VMOVAPS      Z21, Z23
	MOVQ         R8, AX
	MOVQ         R10, BX
	MOVQ         R11, CX

tap:
	MOVLQSX (BX), DX
	VMOVUPS (SI)(DX*4), Z24
	VMOVUPS 64(SI)(DX*4), Z25
	VMOVUPS 128(SI)(DX*4), Z26
	VBROADCASTSS 0(AX), Z27
	VFMADD231PS  Z27, Z24, Z0
	VFMADD231PS  Z27, Z25, Z1
	VFMADD231PS  Z27, Z26, Z2
	VBROADCASTSS 4(AX), Z27
	VFMADD231PS  Z27, Z24, Z3
	VFMADD231PS  Z27, Z25, Z4
	VFMADD231PS  Z27, Z26, Z5
	VBROADCASTSS 8(AX), Z27
	VFMADD231PS  Z27, Z24, Z6
	VFMADD231PS  Z27, Z25, Z7
	VFMADD231PS  Z27, Z26, Z8
	VBROADCASTSS 12(AX), Z27
	VFMADD231PS  Z27, Z24, Z9
	VFMADD231PS  Z27, Z25, Z10
	VFMADD231PS  Z27, Z26, Z11
	VBROADCASTSS 16(AX), Z27
	VFMADD231PS  Z27, Z24, Z12
	VFMADD231PS  Z27, Z25, Z13
	VFMADD231PS  Z27, Z26, Z14
	VBROADCASTSS 20(AX), Z27
	VFMADD231PS  Z27, Z24, Z15
	VFMADD231PS  Z27, Z25, Z16
	VFMADD231PS  Z27, Z26, Z17
	VBROADCASTSS 24(AX), Z27
	VFMADD231PS  Z27, Z24, Z18
	VFMADD231PS  Z27, Z25, Z19
	VFMADD231PS  Z27, Z26, Z20
	VBROADCASTSS 28(AX), Z27
	VFMADD231PS  Z27, Z24, Z21
	VFMADD231PS  Z27, Z25, Z22
	VFMADD231PS  Z27, Z26, Z23
	ADDQ         $32, AX
	ADDQ         $4, BX
	DECQ         CX
	JNZ          tap

	MOVQ DI, DX
	VMOVUPS Z0, 0(DX)
	VMOVUPS Z1, 64(DX)
	VMOVUPS Z2, 128(DX)
	ADDQ    R13, DX
	VMOVUPS Z3, 0(DX)
	VMOVUPS Z4, 64(DX)
	VMOVUPS Z5, 128(DX)
	ADDQ    R13, DX
	VMOVUPS Z6, 0(DX)
	VMOVUPS Z7, 64(DX)
	VMOVUPS Z8, 128(DX)
	ADDQ    R13, DX
	VMOVUPS Z9, 0(DX)
	VMOVUPS Z10, 64(DX)
	VMOVUPS Z11, 128(DX)
	ADDQ    R13, DX
	VMOVUPS Z12, 0(DX)
	VMOVUPS Z13, 64(DX)
	VMOVUPS Z14, 128(DX)
	ADDQ    R13, DX
	VMOVUPS Z15, 0(DX)
	VMOVUPS Z16, 64(DX)
	VMOVUPS Z17, 128(DX)
	ADDQ    R13, DX
	VMOVUPS Z18, 0(DX)
	VMOVUPS Z19, 64(DX)
	VMOVUPS Z20, 128(DX)
	ADDQ    R13, DX
	VMOVUPS Z21, 0(DX)
	VMOVUPS Z22, 64(DX)
	VMOVUPS Z23, 128(DX)
	ADDQ    $192, SI
	ADDQ    $192, DI
	DECQ    R12
	JNZ     block
	VZEROUPPER
	RET
