//go:build amd64 && !noasm

// Written by hand, not generated: kernels between a float32 query and a
// stored uint8 or float16 vector (typed.go). Each takes len(q) a multiple
// of 8 (the caller scores the rest in Go), reads len(q) elements of b, and
// widens 8 stored elements a step to float32 lanes: VPMOVZXBD+VCVTDQ2PS for
// uint8 (AVX2), VCVTPH2PS for float16 (F16C); products and squares by FMA.

#include "textflag.h"

// Horizontal sum of Y0 + Y1 into the low lane of X0.
#define REDUCE \
	VADDPS Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VZEROUPPER

// func dotU8F32AVX2(q []float32, b []byte) float32
TEXT ·dotU8F32AVX2(SB), NOSPLIT, $0-52
	MOVQ q_base+0(FP), AX
	MOVQ q_len+8(FP), DX
	MOVQ b_base+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

dotu8loop16:
	CMPQ DX, $16
	JL   dotu8tail8
	VPMOVZXBD (CX), Y2
	VPMOVZXBD 8(CX), Y3
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VFMADD231PS (AX), Y2, Y0
	VFMADD231PS 32(AX), Y3, Y1
	ADDQ $64, AX
	ADDQ $16, CX
	SUBQ $16, DX
	JMP  dotu8loop16

dotu8tail8:
	CMPQ DX, $8
	JL   dotu8done
	VPMOVZXBD (CX), Y2
	VCVTDQ2PS Y2, Y2
	VFMADD231PS (AX), Y2, Y0

dotu8done:
	REDUCE
	MOVSS X0, ret+48(FP)
	RET

// func l2U8F32AVX2(q []float32, b []byte) float32
TEXT ·l2U8F32AVX2(SB), NOSPLIT, $0-52
	MOVQ q_base+0(FP), AX
	MOVQ q_len+8(FP), DX
	MOVQ b_base+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

l2u8loop16:
	CMPQ DX, $16
	JL   l2u8tail8
	VPMOVZXBD (CX), Y2
	VPMOVZXBD 8(CX), Y3
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VMOVUPS (AX), Y4
	VMOVUPS 32(AX), Y5
	VSUBPS Y2, Y4, Y4
	VSUBPS Y3, Y5, Y5
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	ADDQ $64, AX
	ADDQ $16, CX
	SUBQ $16, DX
	JMP  l2u8loop16

l2u8tail8:
	CMPQ DX, $8
	JL   l2u8done
	VPMOVZXBD (CX), Y2
	VCVTDQ2PS Y2, Y2
	VMOVUPS (AX), Y4
	VSUBPS Y2, Y4, Y4
	VFMADD231PS Y4, Y4, Y0

l2u8done:
	REDUCE
	MOVSS X0, ret+48(FP)
	RET

// func dotF16F32AVX2(q []float32, b []byte) float32
TEXT ·dotF16F32AVX2(SB), NOSPLIT, $0-52
	MOVQ q_base+0(FP), AX
	MOVQ q_len+8(FP), DX
	MOVQ b_base+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

dotf16loop16:
	CMPQ DX, $16
	JL   dotf16tail8
	VCVTPH2PS (CX), Y2
	VCVTPH2PS 16(CX), Y3
	VFMADD231PS (AX), Y2, Y0
	VFMADD231PS 32(AX), Y3, Y1
	ADDQ $64, AX
	ADDQ $32, CX
	SUBQ $16, DX
	JMP  dotf16loop16

dotf16tail8:
	CMPQ DX, $8
	JL   dotf16done
	VCVTPH2PS (CX), Y2
	VFMADD231PS (AX), Y2, Y0

dotf16done:
	REDUCE
	MOVSS X0, ret+48(FP)
	RET

// func l2F16F32AVX2(q []float32, b []byte) float32
TEXT ·l2F16F32AVX2(SB), NOSPLIT, $0-52
	MOVQ q_base+0(FP), AX
	MOVQ q_len+8(FP), DX
	MOVQ b_base+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

l2f16loop16:
	CMPQ DX, $16
	JL   l2f16tail8
	VCVTPH2PS (CX), Y2
	VCVTPH2PS 16(CX), Y3
	VMOVUPS (AX), Y4
	VMOVUPS 32(AX), Y5
	VSUBPS Y2, Y4, Y4
	VSUBPS Y3, Y5, Y5
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	ADDQ $64, AX
	ADDQ $32, CX
	SUBQ $16, DX
	JMP  l2f16loop16

l2f16tail8:
	CMPQ DX, $8
	JL   l2f16done
	VCVTPH2PS (CX), Y2
	VMOVUPS (AX), Y4
	VSUBPS Y2, Y4, Y4
	VFMADD231PS Y4, Y4, Y0

l2f16done:
	REDUCE
	MOVSS X0, ret+48(FP)
	RET
