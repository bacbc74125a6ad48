//go:build amd64 && !noasm

// Written by hand, not generated: avo v0.5.0 (internal/vecmath/gen) has no
// AVX-512 VNNI instructions.

#include "textflag.h"

// func dotU8VNNI(a []byte, b []byte) int32
// dotU8VNNI returns the dot product of the 7-bit codes a and b[:len(a)];
// len(a) must be a multiple of 64. It requires AVX-512F and AVX-512 VNNI.
// VPDPBUSD multiplies unsigned by signed bytes and adds each group of four
// products into an int32 lane: with codes below 128 both readings agree.
TEXT ·dotU8VNNI(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), AX
	MOVQ b_base+24(FP), CX
	MOVQ a_len+8(FP), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

loop128:
	CMPQ DX, $0x80
	JL   tail64
	VMOVDQU8 (AX), Z2
	VMOVDQU8 64(AX), Z3
	VPDPBUSD (CX), Z2, Z0
	VPDPBUSD 64(CX), Z3, Z1
	ADDQ $0x80, AX
	ADDQ $0x80, CX
	SUBQ $0x80, DX
	JMP  loop128

tail64:
	CMPQ DX, $0x40
	JL   reduce
	VMOVDQU8 (AX), Z2
	VPDPBUSD (CX), Z2, Z0

reduce:
	VPADDD        Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0xb1, X0, X1
	VPADDD        X1, X0, X0
	VZEROUPPER
	MOVL X0, AX
	MOVL AX, ret+48(FP)
	RET
