//go:build !purego

#include "textflag.h"

// One Stockham stage of radix p (see fftPlan.transform): for q < m and r < s,
//   a_j = x[r + s*(q + j*m)], y[r + s*(p*q + j)] = tw[q*p+j] * (butterfly of a)_j.
// Registers: AX the byte offset of r, BX its last value 8*(s-4), CX &tw[q*p]; s+24(FP) holds
// 8*s (bytes) once the prologue has run and m+32(FP) counts the q left. Complex values are
// interleaved (re, im); Y15 holds the rot mask, Y8-Y9 are scratch for TWMUL.

// TWMUL stores tw[q*p + off/8] * z at dst+AX.
#define TWMUL(z, off, dst) \
	VBROADCASTSS (off+4)(CX), Y8; \
	VPERMILPS    $0xB1, z, Y9; \
	VMULPS       Y8, Y9, Y9; \
	VBROADCASTSS (off)(CX), Y8; \
	VFMADDSUB231PS Y8, z, Y9; \
	VMOVUPS      Y9, (dst)(AX*1)

// ROT sets z to rot(z): swap re and im, then the signs of the mask.
#define ROT(z) \
	VPERMILPS $0xB1, z, z; \
	VMULPS    Y15, z, z

// NEXT moves r on by four, the last group ending at s-1 (overlapping the one before).
#define NEXT(body, done) \
	CMPQ AX, BX; \
	JEQ  done; \
	ADDQ $32, AX; \
	CMPQ AX, BX; \
	JLE  body; \
	MOVQ BX, AX; \
	JMP  body

// PROLOGUE sets BX = 8*s, stores it in s+24(FP), and AX = 8*s*m (the stride between inputs).
#define PROLOGUE \
	MOVQ  s+24(FP), BX; \
	SHLQ  $3, BX; \
	MOVQ  BX, s+24(FP); \
	MOVQ  m+32(FP), AX; \
	IMULQ BX, AX; \
	MOVQ  tw+16(FP), CX; \
	MOVQ  rot+40(FP), DX; \
	VMOVUPS (DX), Y15

// func fftR2(x, y, tw *complex64, s, m int, rot *[8]float32)
TEXT ·fftR2(SB), NOSPLIT, $0-48
	PROLOGUE
	MOVQ x+0(FP), SI
	LEAQ (SI)(AX*1), DI
	MOVQ y+8(FP), R10
	LEAQ (R10)(BX*1), R11
	SUBQ $32, BX

r2q:
	XORQ AX, AX

r2r:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS (DI)(AX*1), Y1
	VADDPS  Y1, Y0, Y2
	VMOVUPS Y2, (R10)(AX*1)
	VSUBPS  Y1, Y0, Y3
	TWMUL(Y3, 8, R11)
	NEXT(r2r, r2n)

r2n:
	ADDQ s+24(FP), SI
	ADDQ s+24(FP), DI
	MOVQ R11, R10
	ADDQ s+24(FP), R10
	MOVQ R10, R11
	ADDQ s+24(FP), R11
	ADDQ $16, CX
	DECQ m+32(FP)
	JNZ  r2q
	VZEROUPPER
	RET

// func fftR3(x, y, tw *complex64, s, m int, rot *[8]float32)
TEXT ·fftR3(SB), NOSPLIT, $0-48
	PROLOGUE
	MOVQ         x+0(FP), SI
	LEAQ         (SI)(AX*1), DI
	LEAQ         (DI)(AX*1), R8
	MOVQ         y+8(FP), R10
	LEAQ         (R10)(BX*1), R11
	LEAQ         (R11)(BX*1), R12
	SUBQ         $32, BX
	VBROADCASTSS ·fftK+0(SB), Y12
	VBROADCASTSS ·fftK+4(SB), Y13

r3q:
	XORQ AX, AX

r3r:
	VMOVUPS      (SI)(AX*1), Y0
	VMOVUPS      (DI)(AX*1), Y1
	VMOVUPS      (R8)(AX*1), Y2
	VADDPS       Y2, Y1, Y3     // t1 = a1 + a2
	VSUBPS       Y2, Y1, Y4     // a1 - a2
	VADDPS       Y3, Y0, Y5     // y0 = a0 + t1
	VMOVUPS      Y5, (R10)(AX*1)
	VFNMADD231PS Y12, Y3, Y0    // t2 = a0 - t1/2
	VMULPS       Y13, Y4, Y4
	ROT(Y4)                     // t3 = rot(s3 (a1 - a2))
	VADDPS       Y4, Y0, Y6
	TWMUL(Y6, 8, R11)
	VSUBPS       Y4, Y0, Y7
	TWMUL(Y7, 16, R12)
	NEXT(r3r, r3n)

r3n:
	ADDQ s+24(FP), SI
	ADDQ s+24(FP), DI
	ADDQ s+24(FP), R8
	MOVQ R12, R10
	ADDQ s+24(FP), R10
	MOVQ R10, R11
	ADDQ s+24(FP), R11
	MOVQ R11, R12
	ADDQ s+24(FP), R12
	ADDQ $24, CX
	DECQ m+32(FP)
	JNZ  r3q
	VZEROUPPER
	RET

// func fftR4(x, y, tw *complex64, s, m int, rot *[8]float32)
TEXT ·fftR4(SB), NOSPLIT, $0-48
	PROLOGUE
	MOVQ x+0(FP), SI
	LEAQ (SI)(AX*1), DI
	LEAQ (DI)(AX*1), R8
	LEAQ (R8)(AX*1), R9
	MOVQ y+8(FP), R10
	LEAQ (R10)(BX*1), R11
	LEAQ (R11)(BX*1), R12
	LEAQ (R12)(BX*1), R13
	SUBQ $32, BX

r4q:
	XORQ AX, AX

r4r:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS (DI)(AX*1), Y1
	VMOVUPS (R8)(AX*1), Y2
	VMOVUPS (R9)(AX*1), Y3
	VADDPS  Y2, Y0, Y4          // b0 = a0 + a2
	VSUBPS  Y2, Y0, Y5          // b1 = a0 - a2
	VADDPS  Y3, Y1, Y6          // b2 = a1 + a3
	VSUBPS  Y3, Y1, Y7
	ROT(Y7)                     // b3 = rot(a1 - a3)
	VADDPS  Y6, Y4, Y0
	VMOVUPS Y0, (R10)(AX*1)     // y0 = b0 + b2
	VADDPS  Y7, Y5, Y1
	TWMUL(Y1, 8, R11)           // y1 = w1 (b1 + b3)
	VSUBPS  Y6, Y4, Y2
	TWMUL(Y2, 16, R12)          // y2 = w2 (b0 - b2)
	VSUBPS  Y7, Y5, Y3
	TWMUL(Y3, 24, R13)          // y3 = w3 (b1 - b3)
	NEXT(r4r, r4n)

r4n:
	ADDQ s+24(FP), SI
	ADDQ s+24(FP), DI
	ADDQ s+24(FP), R8
	ADDQ s+24(FP), R9
	MOVQ R13, R10
	ADDQ s+24(FP), R10
	MOVQ R10, R11
	ADDQ s+24(FP), R11
	MOVQ R11, R12
	ADDQ s+24(FP), R12
	MOVQ R12, R13
	ADDQ s+24(FP), R13
	ADDQ $32, CX
	DECQ m+32(FP)
	JNZ  r4q
	VZEROUPPER
	RET

// func fftR5(x, y, tw *complex64, s, m int, rot *[8]float32)
TEXT ·fftR5(SB), NOSPLIT, $0-48
	PROLOGUE
	MOVQ         x+0(FP), SI
	LEAQ         (SI)(AX*1), DI
	LEAQ         (DI)(AX*1), R8
	LEAQ         (R8)(AX*1), R9
	LEAQ         (R9)(AX*1), R10
	MOVQ         y+8(FP), R11
	LEAQ         (R11)(BX*1), R12
	LEAQ         (R12)(BX*1), R13
	LEAQ         (R13)(BX*1), R14
	LEAQ         (R14)(BX*1), DX
	SUBQ         $32, BX
	VBROADCASTSS ·fftK+8(SB), Y11
	VBROADCASTSS ·fftK+12(SB), Y12
	VBROADCASTSS ·fftK+16(SB), Y13
	VBROADCASTSS ·fftK+20(SB), Y14

r5q:
	XORQ AX, AX

r5r:
	VMOVUPS      (DI)(AX*1), Y1
	VMOVUPS      (R10)(AX*1), Y4
	VMOVUPS      (R8)(AX*1), Y2
	VMOVUPS      (R9)(AX*1), Y3
	VMOVUPS      (SI)(AX*1), Y0
	VSUBPS       Y4, Y1, Y5     // d1 = a1 - a4
	VADDPS       Y4, Y1, Y1     // b1 = a1 + a4
	VSUBPS       Y3, Y2, Y6     // d2 = a2 - a3
	VADDPS       Y3, Y2, Y2     // b2 = a2 + a3
	VADDPS       Y1, Y0, Y3
	VADDPS       Y2, Y3, Y3
	VMOVUPS      Y3, (R11)(AX*1) // y0 = a0 + b1 + b2
	VMOVAPS      Y0, Y3
	VFMADD231PS  Y11, Y1, Y3    // t1 = a0 + c51 b1 + c52 b2
	VFMADD231PS  Y12, Y2, Y3
	VFMADD231PS  Y12, Y1, Y0    // t2 = a0 + c52 b1 + c51 b2
	VFMADD231PS  Y11, Y2, Y0
	VMULPS       Y13, Y5, Y1
	VFMADD231PS  Y14, Y6, Y1
	ROT(Y1)                     // u1 = rot(s51 d1 + s52 d2)
	VMULPS       Y14, Y5, Y2
	VFNMADD231PS Y13, Y6, Y2
	ROT(Y2)                     // u2 = rot(s52 d1 - s51 d2)
	VADDPS       Y1, Y3, Y4
	TWMUL(Y4, 8, R12)           // y1 = w1 (t1 + u1)
	VSUBPS       Y1, Y3, Y4
	TWMUL(Y4, 32, DX)           // y4 = w4 (t1 - u1)
	VADDPS       Y2, Y0, Y4
	TWMUL(Y4, 16, R13)          // y2 = w2 (t2 + u2)
	VSUBPS       Y2, Y0, Y4
	TWMUL(Y4, 24, R14)          // y3 = w3 (t2 - u2)
	NEXT(r5r, r5n)

r5n:
	ADDQ s+24(FP), SI
	ADDQ s+24(FP), DI
	ADDQ s+24(FP), R8
	ADDQ s+24(FP), R9
	ADDQ s+24(FP), R10
	MOVQ DX, R11
	ADDQ s+24(FP), R11
	MOVQ R11, R12
	ADDQ s+24(FP), R12
	MOVQ R12, R13
	ADDQ s+24(FP), R13
	MOVQ R13, R14
	ADDQ s+24(FP), R14
	MOVQ R14, DX
	ADDQ s+24(FP), DX
	ADDQ $40, CX
	DECQ m+32(FP)
	JNZ  r5q
	VZEROUPPER
	RET
