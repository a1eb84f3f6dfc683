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

// TRANSPOSE4 transposes the 4x4 complex block in r0-r3 (rows) into c0-c3, using Y12-Y15.
#define TRANSPOSE4(r0, r1, r2, r3, c0, c1, c2, c3) \
	VUNPCKLPD  r1, r0, Y12; \
	VUNPCKHPD  r1, r0, Y13; \
	VUNPCKLPD  r3, r2, Y14; \
	VUNPCKHPD  r3, r2, Y15; \
	VPERM2F128 $0x20, Y14, Y12, c0; \
	VPERM2F128 $0x20, Y15, Y13, c1; \
	VPERM2F128 $0x31, Y14, Y12, c2; \
	VPERM2F128 $0x31, Y15, Y13, c3

// SPLIT turns zf (a) and zn (b) into a = (zf + conj(zn))/2 and b = -i (zf - conj(zn))/2,
// with Y8 = (1, -1), Y9 = 1/2, Y10 = (1/2, -1/2); Y11 scratch.
#define SPLIT(a, b) \
	VMULPS    Y8, b, b; \
	VSUBPS    b, a, Y11; \
	VADDPS    b, a, a; \
	VMULPS    Y9, a, a; \
	VPERMILPS $0xB1, Y11, Y11; \
	VMULPS    Y10, Y11, b

// CLAMPNEXT moves the block offset reg on by step bytes, the last block ending at last
// (overlapping the one before); it jumps to body while there is a block, else falls through.
#define CLAMPNEXT(reg, step, last, body, done) \
	CMPQ reg, last; \
	JEQ  done; \
	ADDQ step, reg; \
	CMPQ reg, last; \
	JLE  body; \
	MOVQ last, reg; \
	JMP  body

// func fillAVX2(z, spec *complex64, np, hf, w int)
// The inverse's Hermitian fill for P row pairs (P >= 4, hf >= 4, w-hf >= 4): row pair p is
// rows a = g[2p*hf:], b = g[(2p+1)*hf:]; z[f*P+p] = a[f] + i b[f] for f < hf, and
// conj(a[w-f]) + i conj(b[w-f]) for f >= hf. Four pairs by four f per block, transposed.
// Registers: DI z, SI g, R8 8*P, R9 16*hf (the stride between pairs), R10 8*hf, AX the
// group's first pair (bytes of z along p), BX its last value, CX the f block, DX its last
// value, R11-R13 scratch.
TEXT ·fillAVX2(SB), NOSPLIT, $0-40
	MOVQ z+0(FP), DI
	MOVQ spec+8(FP), SI
	MOVQ np+16(FP), R8
	SHLQ $3, R8
	MOVQ hf+24(FP), R10
	SHLQ $3, R10
	LEAQ (R10)(R10*1), R9
	LEAQ -32(R8), BX
	XORQ AX, AX

fgroup:
	// R11 = &a_{p0}[0]: g + 2*hf*p0 (AX = 8*p0 bytes, so 2*hf*p0*8 = AX*2*hf)
	MOVQ  AX, R11
	SHRQ  $3, R11
	IMULQ R9, R11
	ADDQ  SI, R11
	// first half: f < hf
	LEAQ -32(R10), DX
	XORQ CX, CX

ffirst:
	MOVQ    R11, R12
	ADDQ    CX, R12
	VMOVUPS (R12), Y0                 // a_p0[f..f+3]
	ADDQ    R10, R12
	VMOVUPS (R12), Y4                 // b_p0
	ADDQ    R10, R12
	VMOVUPS (R12), Y1
	ADDQ    R10, R12
	VMOVUPS (R12), Y5
	ADDQ    R10, R12
	VMOVUPS (R12), Y2
	ADDQ    R10, R12
	VMOVUPS (R12), Y6
	ADDQ    R10, R12
	VMOVUPS (R12), Y3
	ADDQ    R10, R12
	VMOVUPS (R12), Y7
	TRANSPOSE4(Y0, Y1, Y2, Y3, Y8, Y9, Y10, Y11)
	TRANSPOSE4(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	// z[(f+j)*P + p0] = A_j addsub swap(B_j) = (ar - bi, ai + br)
	MOVQ      CX, R12
	SHRQ      $3, R12
	IMULQ     R8, R12
	ADDQ      DI, R12
	ADDQ      AX, R12
	VPERMILPS $0xB1, Y0, Y0
	VADDSUBPS Y0, Y8, Y8
	VMOVUPS   Y8, (R12)
	ADDQ      R8, R12
	VPERMILPS $0xB1, Y1, Y1
	VADDSUBPS Y1, Y9, Y9
	VMOVUPS   Y9, (R12)
	ADDQ      R8, R12
	VPERMILPS $0xB1, Y2, Y2
	VADDSUBPS Y2, Y10, Y10
	VMOVUPS   Y10, (R12)
	ADDQ      R8, R12
	VPERMILPS $0xB1, Y3, Y3
	VADDSUBPS Y3, Y11, Y11
	VMOVUPS   Y11, (R12)
	CLAMPNEXT(CX, $32, DX, ffirst, fsecond)

fsecond:
	// second half: f = w-1-s for s = src-1 in [0, w-hf); the block at source index
	// s0+1..s0+4 (s0 = CX/8) serves f = w-1-s0-j for j = 0..3 (reversed).
	MOVQ w+32(FP), DX
	SUBQ hf+24(FP), DX
	SHLQ $3, DX
	SUBQ $32, DX
	XORQ CX, CX

fconj:
	MOVQ    R11, R12
	ADDQ    CX, R12
	ADDQ    $8, R12                   // a_p0[1 + s0 ...]
	VMOVUPS (R12), Y0
	ADDQ    R10, R12
	VMOVUPS (R12), Y4
	ADDQ    R10, R12
	VMOVUPS (R12), Y1
	ADDQ    R10, R12
	VMOVUPS (R12), Y5
	ADDQ    R10, R12
	VMOVUPS (R12), Y2
	ADDQ    R10, R12
	VMOVUPS (R12), Y6
	ADDQ    R10, R12
	VMOVUPS (R12), Y3
	ADDQ    R10, R12
	VMOVUPS (R12), Y7
	TRANSPOSE4(Y0, Y1, Y2, Y3, Y8, Y9, Y10, Y11)
	TRANSPOSE4(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	// A_j, B_j are a[1+s0+j], b[1+s0+j] for the four pairs: f = w-1-s0-j.
	// z = conj(A) + i conj(B) = (ar + bi, br - ai) = swap(B) + A*(1, -1)
	VBROADCASTSD ·conjMask(SB), Y15
	MOVQ         w+32(FP), R12
	DECQ         R12
	SHLQ         $3, R12
	SUBQ         CX, R12                // 8*(w-1-s0)
	SHRQ         $3, R12
	IMULQ        R8, R12
	ADDQ         DI, R12
	ADDQ         AX, R12                // &z[(w-1-s0)*P + p0]
	VPERMILPS    $0xB1, Y0, Y0
	VMULPS       Y15, Y8, Y8
	VADDPS       Y0, Y8, Y8
	VMOVUPS      Y8, (R12)
	SUBQ         R8, R12
	VPERMILPS    $0xB1, Y1, Y1
	VMULPS       Y15, Y9, Y9
	VADDPS       Y1, Y9, Y9
	VMOVUPS      Y9, (R12)
	SUBQ         R8, R12
	VPERMILPS    $0xB1, Y2, Y2
	VMULPS       Y15, Y10, Y10
	VADDPS       Y2, Y10, Y10
	VMOVUPS      Y10, (R12)
	SUBQ         R8, R12
	VPERMILPS    $0xB1, Y3, Y3
	VMULPS       Y15, Y11, Y11
	VADDPS       Y3, Y11, Y11
	VMOVUPS      Y11, (R12)
	CLAMPNEXT(CX, $32, DX, fconj, fnext)

fnext:
	CLAMPNEXT(AX, $32, BX, fgroup, fdone)

fdone:
	VZEROUPPER
	RET

// func unpackAVX2(dst *float32, out *complex64, np, ow int, bias float32)
// The inverse's last step for 2P rows (P >= 4, ow >= 4): row 2p of dst is the real parts of
// out[x*P+p] for x < ow, row 2p+1 the imaginary parts, each plus bias. Four pairs by four
// columns per block, transposed. Registers: DI dst, SI out, R8 8*P, R9 4*ow (a dst row),
// AX 8*p0, BX its last value, CX 8*x0, DX its last value, R11-R12 scratch.
TEXT ·unpackAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         out+8(FP), SI
	MOVQ         np+16(FP), R8
	SHLQ         $3, R8
	MOVQ         ow+24(FP), R9
	SHLQ         $2, R9
	VBROADCASTSS bias+32(FP), Y11
	MOVQ         $·planarIdx(SB), R11
	VMOVUPS      (R11), Y10
	LEAQ         -32(R8), BX
	MOVQ         ow+24(FP), DX
	SHLQ         $3, DX
	SUBQ         $32, DX
	XORQ         AX, AX

ugroup:
	XORQ CX, CX

ublock:
	// rows x0..x0+3 of out at column p0
	MOVQ    CX, R11
	SHRQ    $3, R11
	IMULQ   R8, R11
	ADDQ    SI, R11
	ADDQ    AX, R11
	VMOVUPS (R11), Y0
	ADDQ    R8, R11
	VMOVUPS (R11), Y1
	ADDQ    R8, R11
	VMOVUPS (R11), Y2
	ADDQ    R8, R11
	VMOVUPS (R11), Y3
	TRANSPOSE4(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	// Y4+j: pair p0+j at x0..x0+3: real parts to row 2(p0+j), imaginary to the next row.
	// &dst[2*p0*ow + x0] = DI + (AX/8)*2*R9 + CX/2
	MOVQ         AX, R11
	SHRQ         $2, R11
	IMULQ        R9, R11
	ADDQ         DI, R11
	MOVQ         CX, R12
	SHRQ         $1, R12
	ADDQ         R12, R11
	VPERMPS      Y4, Y10, Y4
	VADDPS       Y11, Y4, Y4
	VMOVUPS      X4, (R11)
	VEXTRACTF128 $1, Y4, (R11)(R9*1)
	LEAQ         (R11)(R9*2), R11
	VPERMPS      Y5, Y10, Y5
	VADDPS       Y11, Y5, Y5
	VMOVUPS      X5, (R11)
	VEXTRACTF128 $1, Y5, (R11)(R9*1)
	LEAQ         (R11)(R9*2), R11
	VPERMPS      Y6, Y10, Y6
	VADDPS       Y11, Y6, Y6
	VMOVUPS      X6, (R11)
	VEXTRACTF128 $1, Y6, (R11)(R9*1)
	LEAQ         (R11)(R9*2), R11
	VPERMPS      Y7, Y10, Y7
	VADDPS       Y11, Y7, Y7
	VMOVUPS      X7, (R11)
	VEXTRACTF128 $1, Y7, (R11)(R9*1)
	CLAMPNEXT(CX, $32, DX, ublock, unext)

unext:
	CLAMPNEXT(AX, $32, BX, ugroup, udone)

udone:
	VZEROUPPER
	RET

// func packAVX2(z *complex64, img *float32, np, w int)
// The forward's row pairing for np whole pairs (np >= 4, w >= 4): z[x*np+p] =
// img[2p*w+x] + i img[(2p+1)*w+x]. Four pairs by four columns per block, transposed.
// Registers: DI z, SI img, R8 8*np, R9 4*w (an image row), AX 8*p0, BX its last value,
// CX 4*x0, DX its last value, R11-R12 scratch.
TEXT ·packAVX2(SB), NOSPLIT, $0-32
	MOVQ z+0(FP), DI
	MOVQ img+8(FP), SI
	MOVQ np+16(FP), R8
	SHLQ $3, R8
	MOVQ w+24(FP), R9
	SHLQ $2, R9
	LEAQ -32(R8), BX
	LEAQ -16(R9), DX
	XORQ AX, AX

pkgroup:
	XORQ CX, CX

pkblock:
	// R11 = &img[2*p0*w + x0] = SI + (AX/8)*2*R9 + CX
	MOVQ        AX, R11
	SHRQ        $2, R11
	IMULQ       R9, R11
	ADDQ        SI, R11
	ADDQ        CX, R11
	VMOVUPS     (R11), X0
	VMOVUPS     (R11)(R9*1), X1
	VUNPCKLPS   X1, X0, X2
	VUNPCKHPS   X1, X0, X3
	VINSERTF128 $1, X3, Y2, Y4
	LEAQ        (R11)(R9*2), R11
	VMOVUPS     (R11), X0
	VMOVUPS     (R11)(R9*1), X1
	VUNPCKLPS   X1, X0, X2
	VUNPCKHPS   X1, X0, X3
	VINSERTF128 $1, X3, Y2, Y5
	LEAQ        (R11)(R9*2), R11
	VMOVUPS     (R11), X0
	VMOVUPS     (R11)(R9*1), X1
	VUNPCKLPS   X1, X0, X2
	VUNPCKHPS   X1, X0, X3
	VINSERTF128 $1, X3, Y2, Y6
	LEAQ        (R11)(R9*2), R11
	VMOVUPS     (R11), X0
	VMOVUPS     (R11)(R9*1), X1
	VUNPCKLPS   X1, X0, X2
	VUNPCKHPS   X1, X0, X3
	VINSERTF128 $1, X3, Y2, Y7
	TRANSPOSE4(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	// z[(x0+j)*np + p0]: R11 = DI + (CX/4)*R8 + AX
	MOVQ    CX, R11
	SHRQ    $2, R11
	IMULQ   R8, R11
	ADDQ    DI, R11
	ADDQ    AX, R11
	VMOVUPS Y0, (R11)
	ADDQ    R8, R11
	VMOVUPS Y1, (R11)
	ADDQ    R8, R11
	VMOVUPS Y2, (R11)
	ADDQ    R8, R11
	VMOVUPS Y3, (R11)
	CLAMPNEXT(CX, $16, DX, pkblock, pknext)

pknext:
	CLAMPNEXT(AX, $32, BX, pkgroup, pkdone)

pkdone:
	VZEROUPPER
	RET

// func splitAVX2(u, zs *complex64, np, hf, w int)
// The forward's unpacking of np whole row pairs (np >= 4, hf >= 5) for fx in [1, hf): with
// zf = zs[fx*np+p] and zn = conj(zs[(w-fx)*np+p]), u[2p*hf+fx] = (zf+zn)/2 and
// u[(2p+1)*hf+fx] = -i (zf-zn)/2. Four f by four pairs per block, transposed. Registers:
// DI u, SI zs, R8 8*np, R9 8*hf (a row of u), AX 8*p0, BX its last value, CX 8*fx0, DX its
// last value, R11-R12 scratch.
TEXT ·splitAVX2(SB), NOSPLIT, $0-40
	MOVQ u+0(FP), DI
	MOVQ zs+8(FP), SI
	MOVQ np+16(FP), R8
	SHLQ $3, R8
	MOVQ hf+24(FP), R9
	SHLQ $3, R9
	LEAQ -32(R8), BX
	LEAQ -32(R9), DX
	XORQ AX, AX

spgroup:
	MOVQ $8, CX

spblock:
	// zf rows fx0..fx0+3 at p0: R11 = SI + (CX/8)*R8 + AX
	MOVQ    CX, R11
	SHRQ    $3, R11
	IMULQ   R8, R11
	ADDQ    SI, R11
	ADDQ    AX, R11
	VMOVUPS (R11), Y0
	ADDQ    R8, R11
	VMOVUPS (R11), Y1
	ADDQ    R8, R11
	VMOVUPS (R11), Y2
	ADDQ    R8, R11
	VMOVUPS (R11), Y3
	// zn rows w-fx0 down to w-fx0-3: R11 = SI + (w - CX/8)*R8 + AX
	MOVQ    w+32(FP), R11
	MOVQ    CX, R12
	SHRQ    $3, R12
	SUBQ    R12, R11
	IMULQ   R8, R11
	ADDQ    SI, R11
	ADDQ    AX, R11
	VMOVUPS (R11), Y4
	SUBQ    R8, R11
	VMOVUPS (R11), Y5
	SUBQ    R8, R11
	VMOVUPS (R11), Y6
	SUBQ    R8, R11
	VMOVUPS (R11), Y7
	VBROADCASTSD ·conjMask(SB), Y8
	VBROADCASTSS ·fftK+0(SB), Y9       // 1/2
	VMULPS       Y8, Y9, Y10           // (1/2, -1/2)
	SPLIT(Y0, Y4)
	SPLIT(Y1, Y5)
	SPLIT(Y2, Y6)
	SPLIT(Y3, Y7)
	// A (Y0-Y3, rows fx) to u rows 2p: R11 = DI + (AX/8)*2*R9 + CX
	MOVQ    AX, R11
	SHRQ    $2, R11
	IMULQ   R9, R11
	ADDQ    DI, R11
	ADDQ    CX, R11
	TRANSPOSE4(Y0, Y1, Y2, Y3, Y8, Y9, Y10, Y11)
	VMOVUPS Y8, (R11)
	VMOVUPS Y9, (R11)(R9*2)
	LEAQ    (R11)(R9*4), R12
	VMOVUPS Y10, (R12)
	VMOVUPS Y11, (R12)(R9*2)
	TRANSPOSE4(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)
	ADDQ    R9, R11
	VMOVUPS Y0, (R11)
	VMOVUPS Y1, (R11)(R9*2)
	LEAQ    (R11)(R9*4), R12
	VMOVUPS Y2, (R12)
	VMOVUPS Y3, (R12)(R9*2)
	CLAMPNEXT(CX, $32, DX, spblock, spnext)

spnext:
	CLAMPNEXT(AX, $32, BX, spgroup, spdone)

spdone:
	VZEROUPPER
	RET
