//go:build !purego

#include "textflag.h"

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

// STORE4 writes the planar block (re, im) of eight complex values interleaved to (dst).
#define STORE4(re, im, dst) \
	VUNPCKLPS  im, re, Y10; \
	VUNPCKHPS  im, re, Y11; \
	VPERM2F128 $0x20, Y11, Y10, Y12; \
	VPERM2F128 $0x31, Y11, Y10, Y13; \
	VMOVUPS    Y12, (dst); \
	VMOVUPS    Y13, 32(dst)

// MAC4 adds the product of the planar block (Y8 re, Y9 im) and weight block j at SI to
// channel j's accumulators (re, im): four FMAs for eight complex products.
#define MAC4(j, re, im) \
	VFMADD231PS  (j*64)(SI), Y8, re; \
	VFNMADD231PS (j*64+32)(SI), Y9, re; \
	VFMADD231PS  (j*64)(SI), Y9, im; \
	VFMADD231PS  (j*64+32)(SI), Y8, im

// func cmacPlanarAVX2(out *complex64, cstride int, w, x *float32, xoff *int, xstride, nk, nb, ng, wskip int)
// See cmacPlanarGo. Registers: SI the weight stream, DI x, DX xoff, R8 the group's first
// output, R9 the channel stride in bytes, R10 the block's byte offset in the output, R13 in
// x (R14 apart), BX blocks left, CX inputs left, R12 the input's index into xoff in bytes,
// Y0-Y7 four channels' accumulators; wskip (bytes here) is added to SI after each block.
TEXT ·cmacPlanarAVX2(SB), NOSPLIT, $0-80
	MOVQ out+0(FP), R8
	MOVQ cstride+8(FP), R9
	SHLQ $3, R9
	MOVQ w+16(FP), SI
	MOVQ x+24(FP), DI
	MOVQ xoff+32(FP), DX
	MOVQ xstride+40(FP), R14
	SHLQ $2, R14

pgroup:
	XORQ R10, R10
	XORQ R13, R13
	MOVQ nb+56(FP), BX

pblock:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   nk+48(FP), CX
	XORQ   R12, R12

pinput:
	MOVQ    (DX)(R12*1), R11
	SHLQ    $2, R11
	ADDQ    R13, R11
	VMOVUPS (DI)(R11*1), Y8
	VMOVUPS 32(DI)(R11*1), Y9
	MAC4(0, Y0, Y1)
	MAC4(1, Y2, Y3)
	MAC4(2, Y4, Y5)
	MAC4(3, Y6, Y7)
	ADDQ    $256, SI
	ADDQ    $8, R12
	DECQ    CX
	JNZ     pinput
	ADDQ    wskip+72(FP), SI

	LEAQ (R8)(R10*1), R11
	STORE4(Y0, Y1, R11)
	ADDQ R9, R11
	STORE4(Y2, Y3, R11)
	ADDQ R9, R11
	STORE4(Y4, Y5, R11)
	ADDQ R9, R11
	STORE4(Y6, Y7, R11)
	ADDQ $64, R10
	ADDQ R14, R13
	DECQ BX
	JNZ  pblock

	LEAQ (R8)(R9*4), R8
	DECQ ng+64(FP)
	JNZ  pgroup
	VZEROUPPER
	RET

// func affineAVX2(x, scale, shift []float32, relu bool)
// x[i] = x[i]*scale[i] + shift[i], then max(., 0) when relu (NaN kept); scale and shift are at least as
// long as x.
TEXT ·affineAVX2(SB), NOSPLIT, $0-73
	MOVQ    x_base+0(FP), DI
	MOVQ    x_len+8(FP), CX
	MOVQ    scale_base+24(FP), SI
	MOVQ    shift_base+48(FP), DX
	MOVBQZX relu+72(FP), AX
	VXORPS  Y15, Y15, Y15
	MOVQ    CX, BX
	SHRQ    $3, BX
	JZ      aff1

aff8:
	VMOVUPS     (DI), Y0
	VMOVUPS     (DX), Y1
	VFMADD231PS (SI), Y0, Y1
	TESTQ       AX, AX
	JZ          aff8st
	VMAXPS      Y1, Y15, Y1

aff8st:
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	DECQ    BX
	JNZ     aff8

aff1:
	ANDQ $7, CX
	JZ   affdone

aff1loop:
	VMOVSS      (DI), X0
	VMOVSS      (DX), X1
	VFMADD231SS (SI), X0, X1
	TESTQ       AX, AX
	JZ          aff1st
	VMAXSS      X1, X15, X1

aff1st:
	VMOVSS X1, (DI)
	ADDQ   $4, DI
	ADDQ   $4, SI
	ADDQ   $4, DX
	DECQ   CX
	JNZ    aff1loop

affdone:
	VZEROUPPER
	RET

// func toPlanarAVX2(dst *float32, src *complex64, nb, stride int)
// toPlanar for nb whole blocks of eight: (re, im) pairs to eight re then eight im, the blocks
// stride floats apart in dst.
TEXT ·toPlanarAVX2(SB), NOSPLIT, $0-32
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    nb+16(FP), CX
	MOVQ    stride+24(FP), DX
	SHLQ    $2, DX
	MOVQ    $·planarIdx(SB), AX
	VMOVUPS (AX), Y15

tploop:
	VMOVUPS    (SI), Y0
	VMOVUPS    32(SI), Y1
	VPERMPS    Y0, Y15, Y0           // r0 r1 r2 r3 i0 i1 i2 i3
	VPERMPS    Y1, Y15, Y1           // r4 r5 r6 r7 i4 i5 i6 i7
	VPERM2F128 $0x20, Y1, Y0, Y2
	VPERM2F128 $0x31, Y1, Y0, Y3
	VMOVUPS    Y2, (DI)
	VMOVUPS    Y3, 32(DI)
	ADDQ       $64, SI
	ADDQ       DX, DI
	DECQ       CX
	JNZ        tploop
	VZEROUPPER
	RET

// func denseBlocksAVX2(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)
// See denseBlocksGo. Per block: SI the slab, CX the index k, Y0-Y3 two pairs of accumulators
// (even and odd k, to hide the FMA latency), summed at the end.
TEXT ·denseBlocksAVX2(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ idx+16(FP), R8
	MOVQ val+24(FP), R9
	MOVQ nnz+32(FP), R10
	MOVQ in+40(FP), R11
	MOVQ nob+48(FP), R12
	SHLQ $6, R11

dbBlock:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   CX, CX
	MOVQ   R10, BX
	SHRQ   $1, BX
	JZ     dbOdd

dbPair:
	MOVLQSX      (R8)(CX*4), AX
	MOVLQSX      4(R8)(CX*4), DX
	SHLQ         $6, AX
	SHLQ         $6, DX
	VBROADCASTSS (R9)(CX*4), Y4
	VBROADCASTSS 4(R9)(CX*4), Y5
	VFMADD231PS  (SI)(AX*1), Y4, Y0
	VFMADD231PS  32(SI)(AX*1), Y4, Y1
	VFMADD231PS  (SI)(DX*1), Y5, Y2
	VFMADD231PS  32(SI)(DX*1), Y5, Y3
	ADDQ         $2, CX
	DECQ         BX
	JNZ          dbPair

dbOdd:
	TESTQ        $1, R10
	JZ           dbStore
	MOVLQSX      (R8)(CX*4), AX
	SHLQ         $6, AX
	VBROADCASTSS (R9)(CX*4), Y4
	VFMADD231PS  (SI)(AX*1), Y4, Y0
	VFMADD231PS  32(SI)(AX*1), Y4, Y1

dbStore:
	VADDPS  Y2, Y0, Y0
	VADDPS  Y3, Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, DI
	ADDQ    R11, SI
	DECQ    R12
	JNZ     dbBlock
	VZEROUPPER
	RET

// func denseBlocksAVX512(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)
// denseBlocksAVX2 with one 16-wide register per input: Z0-Z3 four accumulators (k mod 4).
TEXT ·denseBlocksAVX512(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ idx+16(FP), R8
	MOVQ val+24(FP), R9
	MOVQ nnz+32(FP), R10
	MOVQ in+40(FP), R11
	MOVQ nob+48(FP), R12
	SHLQ $6, R11

dzBlock:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	XORQ   CX, CX
	MOVQ   R10, BX
	SHRQ   $2, BX
	JZ     dzRest

dzQuad:
	MOVLQSX      (R8)(CX*4), AX
	MOVLQSX      4(R8)(CX*4), DX
	MOVLQSX      8(R8)(CX*4), R13
	MOVLQSX      12(R8)(CX*4), R14
	SHLQ         $6, AX
	SHLQ         $6, DX
	SHLQ         $6, R13
	SHLQ         $6, R14
	VBROADCASTSS (R9)(CX*4), Z4
	VBROADCASTSS 4(R9)(CX*4), Z5
	VBROADCASTSS 8(R9)(CX*4), Z6
	VBROADCASTSS 12(R9)(CX*4), Z7
	VFMADD231PS  (SI)(AX*1), Z4, Z0
	VFMADD231PS  (SI)(DX*1), Z5, Z1
	VFMADD231PS  (SI)(R13*1), Z6, Z2
	VFMADD231PS  (SI)(R14*1), Z7, Z3
	ADDQ         $4, CX
	DECQ         BX
	JNZ          dzQuad

dzRest:
	CMPQ         CX, R10
	JGE          dzStore
	MOVLQSX      (R8)(CX*4), AX
	SHLQ         $6, AX
	VBROADCASTSS (R9)(CX*4), Z4
	VFMADD231PS  (SI)(AX*1), Z4, Z0
	INCQ         CX
	JMP          dzRest

dzStore:
	VADDPS  Z1, Z0, Z0
	VADDPS  Z3, Z2, Z2
	VADDPS  Z2, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	ADDQ    R11, SI
	DECQ    R12
	JNZ     dzBlock
	VZEROUPPER
	RET

// func rowsFMAAVX2(dst, src *float32, a float32, rows, n, stride int)
// See rowsFMAGo: eight values per FMA, the rest of each row one at a time. DI dst, SI src
// (row starts), BX rows left, R8 n, R9 the source stride in bytes, Y0 a broadcast.
TEXT ·rowsFMAAVX2(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	VBROADCASTSS a+16(FP), Y0
	MOVQ         rows+24(FP), BX
	MOVQ         n+32(FP), R8
	MOVQ         stride+40(FP), R9
	SHLQ         $2, R9

rfRow:
	MOVQ R8, CX
	XORQ AX, AX
	SHRQ $3, CX
	JZ   rfTail

rf8:
	VMOVUPS     (SI)(AX*4), Y1
	VFMADD213PS (DI)(AX*4), Y0, Y1
	VMOVUPS     Y1, (DI)(AX*4)
	ADDQ        $8, AX
	DECQ        CX
	JNZ         rf8

rfTail:
	CMPQ        AX, R8
	JGE         rfNext
	VMOVSS      (SI)(AX*4), X1
	VFMADD213SS (DI)(AX*4), X0, X1
	VMOVSS      X1, (DI)(AX*4)
	INCQ        AX
	JMP         rfTail

rfNext:
	LEAQ (DI)(R8*4), DI
	ADDQ R9, SI
	DECQ BX
	JNZ  rfRow
	VZEROUPPER
	RET

#define WIDEFMA(off, z) VFMADD231PS off(DX), Z8, z

// denseAhead is how many nonzero inputs ahead denseWideAVX512 prefetches: their weights are
// in lines the hardware prefetcher cannot foresee (the nonzero inputs fall at random), and 32
// inputs (16 KB at half density) cover the memory's latency at its bandwidth with room.
#define denseAhead 32
#define WIDEPF(off) PREFETCHT0 off(R13)

// func denseWideAVX512(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)
// denseBlocksAVX512 for slabs of 128 outputs: Z0-Z7 the slab's sums, each input's 512
// contiguous bytes of weights read by eight FMAs, the weights of the input denseAhead places
// later prefetched meanwhile (AX and DX this input's, R13 that one's). nnz >= 1.
TEXT ·denseWideAVX512(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ idx+16(FP), R8
	MOVQ val+24(FP), R9
	MOVQ nnz+32(FP), R10
	MOVQ in+40(FP), R11
	MOVQ nob+48(FP), R12
	SHLQ $9, R11

dwBlock:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	XORQ   CX, CX

dwInput:
	LEAQ         denseAhead(CX), BX
	CMPQ         BX, R10
	JGE          dwFMA
	MOVLQSX      (R8)(BX*4), R13
	SHLQ         $9, R13
	ADDQ         SI, R13
	WIDEPF(0)
	WIDEPF(64)
	WIDEPF(128)
	WIDEPF(192)
	WIDEPF(256)
	WIDEPF(320)
	WIDEPF(384)
	WIDEPF(448)

dwFMA:
	MOVLQSX      (R8)(CX*4), AX
	SHLQ         $9, AX
	LEAQ         (SI)(AX*1), DX
	VBROADCASTSS (R9)(CX*4), Z8
	WIDEFMA(0, Z0)
	WIDEFMA(64, Z1)
	WIDEFMA(128, Z2)
	WIDEFMA(192, Z3)
	WIDEFMA(256, Z4)
	WIDEFMA(320, Z5)
	WIDEFMA(384, Z6)
	WIDEFMA(448, Z7)
	INCQ         CX
	CMPQ         CX, R10
	JLT          dwInput
	VMOVUPS      Z0, (DI)
	VMOVUPS      Z1, 64(DI)
	VMOVUPS      Z2, 128(DI)
	VMOVUPS      Z3, 192(DI)
	VMOVUPS      Z4, 256(DI)
	VMOVUPS      Z5, 320(DI)
	VMOVUPS      Z6, 384(DI)
	VMOVUPS      Z7, 448(DI)
	ADDQ         $512, DI
	ADDQ         R11, SI
	DECQ         R12
	JNZ          dwBlock
	VZEROUPPER
	RET

// denseAhead64 is denseAhead for denseWide64AVX512: the same 16 KB of weights ahead.
#define denseAhead64 64

// func denseWide64AVX512(acc, w *float32, idx *int32, val *float32, nnz, in, nob int)
// denseWideAVX512 for slabs of 64 outputs (a model of 64 to 127 cells): Z0-Z3 the slab's
// sums, each input's 256 contiguous bytes read by four FMAs, the input denseAhead64 places
// later prefetched meanwhile. nnz >= 1.
TEXT ·denseWide64AVX512(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ idx+16(FP), R8
	MOVQ val+24(FP), R9
	MOVQ nnz+32(FP), R10
	MOVQ in+40(FP), R11
	MOVQ nob+48(FP), R12
	SHLQ $8, R11

dmBlock:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	XORQ   CX, CX

dmInput:
	LEAQ    denseAhead64(CX), BX
	CMPQ    BX, R10
	JGE     dmFMA
	MOVLQSX (R8)(BX*4), R13
	SHLQ    $8, R13
	ADDQ    SI, R13
	WIDEPF(0)
	WIDEPF(64)
	WIDEPF(128)
	WIDEPF(192)

dmFMA:
	MOVLQSX      (R8)(CX*4), AX
	SHLQ         $8, AX
	LEAQ         (SI)(AX*1), DX
	VBROADCASTSS (R9)(CX*4), Z8
	WIDEFMA(0, Z0)
	WIDEFMA(64, Z1)
	WIDEFMA(128, Z2)
	WIDEFMA(192, Z3)
	INCQ         CX
	CMPQ         CX, R10
	JLT          dmInput
	VMOVUPS      Z0, (DI)
	VMOVUPS      Z1, 64(DI)
	VMOVUPS      Z2, 128(DI)
	VMOVUPS      Z3, 192(DI)
	ADDQ         $256, DI
	ADDQ         R11, SI
	DECQ         R12
	JNZ          dmBlock
	VZEROUPPER
	RET

#define PEAK(z) VFMADD231PS Z16, Z17, z
#define PEAKY(y) VFMADD231PS Y14, Y15, y

// func fmaPeakAVX512(n int) float32
// n iterations of twelve independent 16-wide FMAs (12 chains cover two FMA units of four
// cycles' latency with room), all of 1*1: lane 0 of Z0 ends at n. n >= 1.
TEXT ·fmaPeakAVX512(SB), NOSPLIT, $0-12
	MOVQ         n+0(FP), CX
	MOVL         $0x3f800000, AX
	VPBROADCASTD AX, Z16
	VMOVAPS      Z16, Z17
	VXORPS       Z0, Z0, Z0
	VXORPS       Z1, Z1, Z1
	VXORPS       Z2, Z2, Z2
	VXORPS       Z3, Z3, Z3
	VXORPS       Z4, Z4, Z4
	VXORPS       Z5, Z5, Z5
	VXORPS       Z6, Z6, Z6
	VXORPS       Z7, Z7, Z7
	VXORPS       Z8, Z8, Z8
	VXORPS       Z9, Z9, Z9
	VXORPS       Z10, Z10, Z10
	VXORPS       Z11, Z11, Z11

peakZ:
	PEAK(Z0)
	PEAK(Z1)
	PEAK(Z2)
	PEAK(Z3)
	PEAK(Z4)
	PEAK(Z5)
	PEAK(Z6)
	PEAK(Z7)
	PEAK(Z8)
	PEAK(Z9)
	PEAK(Z10)
	PEAK(Z11)
	DECQ CX
	JNZ  peakZ
	VMOVSS X0, ret+8(FP)
	VZEROUPPER
	RET

// func fmaPeakAVX2(n int) float32
// fmaPeakAVX512 with 8-wide registers: twelve chains in Y0-Y11. n >= 1.
TEXT ·fmaPeakAVX2(SB), NOSPLIT, $0-12
	MOVQ         n+0(FP), CX
	MOVL         $0x3f800000, AX
	MOVL         AX, X14
	VBROADCASTSS X14, Y14
	VMOVAPS      Y14, Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3
	VXORPS       Y4, Y4, Y4
	VXORPS       Y5, Y5, Y5
	VXORPS       Y6, Y6, Y6
	VXORPS       Y7, Y7, Y7
	VXORPS       Y8, Y8, Y8
	VXORPS       Y9, Y9, Y9
	VXORPS       Y10, Y10, Y10
	VXORPS       Y11, Y11, Y11

peakY:
	PEAKY(Y0)
	PEAKY(Y1)
	PEAKY(Y2)
	PEAKY(Y3)
	PEAKY(Y4)
	PEAKY(Y5)
	PEAKY(Y6)
	PEAKY(Y7)
	PEAKY(Y8)
	PEAKY(Y9)
	PEAKY(Y10)
	PEAKY(Y11)
	DECQ CX
	JNZ  peakY
	VMOVSS X0, ret+8(FP)
	VZEROUPPER
	RET

// func addComplexAVX2(dst, src *complex64, n int)
// dst[i] += src[i] for i < n: eight complex values (two registers) an iteration, then one at
// a time.
TEXT ·addComplexAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ CX, BX
	SHRQ $3, BX
	JZ   acTail

acLoop:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	DECQ    BX
	JNZ     acLoop

acTail:
	ANDQ $7, CX
	JZ   acDone

acOne:
	VMOVSD (DI), X0
	VMOVSD (SI), X1
	VADDPS X1, X0, X0
	VMOVSD X0, (DI)
	ADDQ   $8, DI
	ADDQ   $8, SI
	DECQ   CX
	JNZ    acOne

acDone:
	VZEROUPPER
	RET

// MACZ adds the product of the planar block Z16 (re|im) and its halves swapped, Z17 (im|re),
// with channel j's weight block at SI (wr|wi) to the channel's accumulators: a gathers
// (wr*xr | wi*xi), b (wr*xi | wi*xr), so that re = a.lo - a.hi and im = b.lo + b.hi at the
// end. Two 16-wide FMAs for eight complex products, where the AVX2 kernel takes four 8-wide.
#define MACZ(j, a, b) \
	VMOVUPS     (j*64)(SI), Z18; \
	VFMADD231PS Z18, Z16, a; \
	VFMADD231PS Z18, Z17, b

// FOLDZ turns channel accumulators (a, b) into its eight sums, planar in (Ya, Yb).
#define FOLDZ(a, b, ya, yb) \
	VEXTRACTF32X8 $1, a, Y14; \
	VEXTRACTF32X8 $1, b, Y15; \
	VSUBPS        Y14, ya, ya; \
	VADDPS        Y15, yb, yb

// func cmacPlanarAVX512(out *complex64, cstride int, w, x *float32, xoff *int, xstride, nk, nb, ng, wskip int)
// cmacPlanarAVX2 with each planar block in one 16-wide register: per input one load of the
// block and one swap of its halves serve the four channels, Z0-Z7 their accumulators (FOLDZ
// at the end of the block). Registers otherwise as in cmacPlanarAVX2.
TEXT ·cmacPlanarAVX512(SB), NOSPLIT, $0-80
	MOVQ out+0(FP), R8
	MOVQ cstride+8(FP), R9
	SHLQ $3, R9
	MOVQ w+16(FP), SI
	MOVQ x+24(FP), DI
	MOVQ xoff+32(FP), DX
	MOVQ xstride+40(FP), R14
	SHLQ $2, R14

zgroup:
	XORQ R10, R10
	XORQ R13, R13
	MOVQ nb+56(FP), BX

zblock:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	MOVQ   nk+48(FP), CX
	XORQ   R12, R12

zinput:
	MOVQ       (DX)(R12*1), R11
	SHLQ       $2, R11
	ADDQ       R13, R11
	VMOVUPS    (DI)(R11*1), Z16
	VSHUFF32X4 $0x4e, Z16, Z16, Z17
	MACZ(0, Z0, Z1)
	MACZ(1, Z2, Z3)
	MACZ(2, Z4, Z5)
	MACZ(3, Z6, Z7)
	ADDQ       $256, SI
	ADDQ       $8, R12
	DECQ       CX
	JNZ        zinput
	ADDQ       wskip+72(FP), SI

	FOLDZ(Z0, Z1, Y0, Y1)
	FOLDZ(Z2, Z3, Y2, Y3)
	FOLDZ(Z4, Z5, Y4, Y5)
	FOLDZ(Z6, Z7, Y6, Y7)
	LEAQ (R8)(R10*1), R11
	STORE4(Y0, Y1, R11)
	ADDQ R9, R11
	STORE4(Y2, Y3, R11)
	ADDQ R9, R11
	STORE4(Y4, Y5, R11)
	ADDQ R9, R11
	STORE4(Y6, Y7, R11)
	ADDQ $64, R10
	ADDQ R14, R13
	DECQ BX
	JNZ  zblock

	LEAQ (R8)(R9*4), R8
	DECQ ng+64(FP)
	JNZ  zgroup
	VZEROUPPER
	RET

// STOREZ is STORE4 with temporaries Y23-Y26, clear of the accumulators of cmacPlanar2AVX512.
#define STOREZ(re, im, dst) \
	VUNPCKLPS  im, re, Y23; \
	VUNPCKHPS  im, re, Y24; \
	VSHUFF32X4 $0, Y24, Y23, Y25; \
	VSHUFF32X4 $3, Y24, Y23, Y26; \
	VMOVUPS    Y25, (dst); \
	VMOVUPS    Y26, 32(dst)

// FOLDZ2 is FOLDZ with temporaries Y21 and Y22.
#define FOLDZ2(a, b, ya, yb) \
	VEXTRACTF32X8 $1, a, Y21; \
	VEXTRACTF32X8 $1, b, Y22; \
	VSUBPS        Y21, ya, ya; \
	VADDPS        Y22, yb, yb

// MACZ2 is MACZ for two inputs sharing the weight block: Z16/Z17 and Z19/Z20.
#define MACZ2(j, a, b, c, d) \
	VMOVUPS     (j*64)(SI), Z18; \
	VFMADD231PS Z18, Z16, a; \
	VFMADD231PS Z18, Z17, b; \
	VFMADD231PS Z18, Z19, c; \
	VFMADD231PS Z18, Z20, d

// func cmacPlanar2AVX512(out0, out1 *complex64, cstride int, w, x *float32, xoff0, xoff1 *int, xstride, nk, nb, wskip int)
// cmacPlanarAVX512 for one group and two sets of inputs at once (two outputs of the temporally
// blocked first layer): each weight block loaded serves four FMAs instead of two, halving the
// weights read from the cache per FLOP. Z0-Z7 out0's accumulators, Z8-Z15 out1's, AX xoff1;
// out1 is loaded again at the store. Registers otherwise as in cmacPlanarAVX2.
TEXT ·cmacPlanar2AVX512(SB), NOSPLIT, $0-88
	MOVQ out0+0(FP), R8
	MOVQ cstride+16(FP), R9
	SHLQ $3, R9
	MOVQ w+24(FP), SI
	MOVQ x+32(FP), DI
	MOVQ xoff0+40(FP), DX
	MOVQ xoff1+48(FP), AX
	MOVQ xstride+56(FP), R14
	SHLQ $2, R14
	XORQ R10, R10
	XORQ R13, R13
	MOVQ nb+72(FP), BX

z2block:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	MOVQ   nk+64(FP), CX
	XORQ   R12, R12

z2input:
	MOVQ       (DX)(R12*1), R11
	SHLQ       $2, R11
	ADDQ       R13, R11
	VMOVUPS    (DI)(R11*1), Z16
	MOVQ       (AX)(R12*1), R11
	SHLQ       $2, R11
	ADDQ       R13, R11
	VMOVUPS    (DI)(R11*1), Z19
	VSHUFF32X4 $0x4e, Z16, Z16, Z17
	VSHUFF32X4 $0x4e, Z19, Z19, Z20
	MACZ2(0, Z0, Z1, Z8, Z9)
	MACZ2(1, Z2, Z3, Z10, Z11)
	MACZ2(2, Z4, Z5, Z12, Z13)
	MACZ2(3, Z6, Z7, Z14, Z15)
	ADDQ       $256, SI
	ADDQ       $8, R12
	DECQ       CX
	JNZ        z2input
	ADDQ       wskip+80(FP), SI

	FOLDZ2(Z0, Z1, Y0, Y1)
	FOLDZ2(Z2, Z3, Y2, Y3)
	FOLDZ2(Z4, Z5, Y4, Y5)
	FOLDZ2(Z6, Z7, Y6, Y7)
	FOLDZ2(Z8, Z9, Y8, Y9)
	FOLDZ2(Z10, Z11, Y10, Y11)
	FOLDZ2(Z12, Z13, Y12, Y13)
	FOLDZ2(Z14, Z15, Y14, Y15)
	LEAQ (R8)(R10*1), R11
	STOREZ(Y0, Y1, R11)
	ADDQ R9, R11
	STOREZ(Y2, Y3, R11)
	ADDQ R9, R11
	STOREZ(Y4, Y5, R11)
	ADDQ R9, R11
	STOREZ(Y6, Y7, R11)
	MOVQ out1+8(FP), R11
	ADDQ R10, R11
	STOREZ(Y8, Y9, R11)
	ADDQ R9, R11
	STOREZ(Y10, Y11, R11)
	ADDQ R9, R11
	STOREZ(Y12, Y13, R11)
	ADDQ R9, R11
	STOREZ(Y14, Y15, R11)
	ADDQ $64, R10
	ADDQ R14, R13
	DECQ BX
	JNZ  z2block
	VZEROUPPER
	RET

// func gatherNonzeroAVX512(idx *int32, val *float32, x *float32, iota *int32, nb int) int
// gatherNonzeroGo for nb blocks of 16 inputs (nb >= 1): each block's nonzero values and their
// indices packed in registers (Z4, Z5) and stored whole at the count so far (AX), the next
// block's store overwriting the lanes past it; the count can only trail the input, so the
// stores stay within the first nb*16 entries. Z2 the block's indices, Z3 sixteen 16s, DX the
// block's byte offset in x. Returns the nonzero count.
TEXT ·gatherNonzeroAVX512(SB), NOSPLIT, $0-48
	MOVQ         idx+0(FP), DI
	MOVQ         val+8(FP), SI
	MOVQ         x+16(FP), R8
	MOVQ         iota+24(FP), R9
	MOVQ         nb+32(FP), CX
	XORQ         AX, AX
	XORQ         DX, DX
	VPXORD       Z1, Z1, Z1
	VMOVDQU32    (R9), Z2
	MOVL         $16, BX
	VPBROADCASTD BX, Z3

gnBlock:
	VMOVUPS       (R8)(DX*1), Z0
	VCMPPS        $4, Z1, Z0, K1
	VCOMPRESSPS.Z Z0, K1, Z4
	VPCOMPRESSD.Z Z2, K1, Z5
	VMOVUPS       Z4, (SI)(AX*4)
	VMOVDQU32     Z5, (DI)(AX*4)
	KMOVW         K1, BX
	POPCNTL       BX, BX
	ADDQ          BX, AX
	VPADDD        Z3, Z2, Z2
	ADDQ          $64, DX
	DECQ          CX
	JNZ           gnBlock
	MOVQ          AX, ret+40(FP)
	VZEROUPPER
	RET
