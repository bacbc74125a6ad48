// Command gen generates the AVX2+FMA and AVX-512F distance kernels of package vecmath
// with avo. Run it from this directory:
//
//	go run . -out ../kernels_amd64.s -stubs ../kernels_amd64_stubs.go -pkg vecmath
//
// It lives in its own module so that avo and its dependencies stay out of
// Shoal's main module; the generated files have no dependencies.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const unroll = 4 // 4 × 8 floats per main-loop iteration

// kind selects the per-lane operation of a kernel.
type kind int

const (
	kindDot kind = iota
	kindNegDot
	kindL2
	kindL1
)

func main() {
	ConstraintExpr("amd64,!noasm")
	absMask := GLOBL("absmask", RODATA|NOPTR)
	DATA(0, U32(0x7fffffff))

	kernel("dotAVX2", "returns the dot product of a and b[:len(a)].", kindDot, absMask)
	kernel("negDotAVX2", "returns the negated dot product of a and b[:len(a)].", kindNegDot, absMask)
	kernel("l2AVX2", "returns the squared Euclidean distance of a and b[:len(a)].", kindL2, absMask)
	kernel("l1AVX2", "returns the Manhattan distance of a and b[:len(a)].", kindL1, absMask)
	kernel512("dotAVX512", "returns the dot product of a and b[:len(a)].", kindDot, absMask)
	kernel512("negDotAVX512", "returns the negated dot product of a and b[:len(a)].", kindNegDot, absMask)
	kernel512("l2AVX512", "returns the squared Euclidean distance of a and b[:len(a)].", kindL2, absMask)
	kernel512("l1AVX512", "returns the Manhattan distance of a and b[:len(a)].", kindL1, absMask)
	codeKernel("dotU8AVX2", "returns the dot product of the 7-bit codes a and b[:len(a)]; len(a) must be a multiple of 32.", kindDot)
	codeKernel("l2U8AVX2", "returns the squared Euclidean distance of the 7-bit codes a and b[:len(a)]; len(a) must be a multiple of 32.", kindL2)
	codeKernel("l1U8AVX2", "returns the Manhattan distance of the 7-bit codes a and b[:len(a)]; len(a) must be a multiple of 32.", kindL1)
	dotCodes512()
	prefetch()
	prefetchCodes()
	Generate()
}

func kernel(name, doc string, k kind, absMask Mem) {
	TEXT(name, NOSPLIT, "func(a, b []float32) float32")
	Doc(fmt.Sprintf("%s %s It requires AVX2 and FMA.", name, doc))
	pa := Load(Param("a").Base(), GP64())
	pb := Load(Param("b").Base(), GP64())
	n := Load(Param("a").Len(), GP64())

	var mask VecVirtual
	if k == kindL1 {
		mask = YMM()
		VBROADCASTSS(absMask, mask)
	}
	acc := make([]VecVirtual, unroll)
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}

	// step accumulates one vector of 8 lanes at offset off into dst.
	step := func(off int, dst VecVirtual) {
		x := YMM()
		VMOVUPS(Mem{Base: pa, Disp: off}, x)
		switch k {
		case kindDot:
			VFMADD231PS(Mem{Base: pb, Disp: off}, x, dst)
		case kindNegDot:
			VFNMADD231PS(Mem{Base: pb, Disp: off}, x, dst)
		case kindL2:
			VSUBPS(Mem{Base: pb, Disp: off}, x, x)
			VFMADD231PS(x, x, dst)
		case kindL1:
			VSUBPS(Mem{Base: pb, Disp: off}, x, x)
			VANDPS(mask, x, x)
			VADDPS(x, dst, dst)
		}
	}

	Label(name + "_block")
	CMPQ(n, U32(8*unroll))
	JL(LabelRef(name + "_tail8"))
	for i := 0; i < unroll; i++ {
		step(32*i, acc[i])
	}
	ADDQ(U32(32*unroll), pa)
	ADDQ(U32(32*unroll), pb)
	SUBQ(U32(8*unroll), n)
	JMP(LabelRef(name + "_block"))

	Label(name + "_tail8")
	CMPQ(n, U32(8))
	JL(LabelRef(name + "_reduce"))
	step(0, acc[0])
	ADDQ(U32(32), pa)
	ADDQ(U32(32), pb)
	SUBQ(U32(8), n)
	JMP(LabelRef(name + "_tail8"))

	Label(name + "_reduce")
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	hi := XMM()
	VEXTRACTF128(U8(1), acc[0], hi)
	r := acc[0].AsX()
	VADDPS(hi, r, r)
	VHADDPS(r, r, r)
	VHADDPS(r, r, r)

	Label(name + "_tail1")
	CMPQ(n, U32(0))
	JE(LabelRef(name + "_done"))
	s := XMM()
	VMOVSS(Mem{Base: pa}, s)
	switch k {
	case kindDot:
		VFMADD231SS(Mem{Base: pb}, s, r)
	case kindNegDot:
		VFNMADD231SS(Mem{Base: pb}, s, r)
	case kindL2:
		VSUBSS(Mem{Base: pb}, s, s)
		VFMADD231SS(s, s, r)
	case kindL1:
		VSUBSS(Mem{Base: pb}, s, s)
		VANDPS(mask.AsX(), s, s)
		VADDSS(s, r, r)
	}
	ADDQ(U32(4), pa)
	ADDQ(U32(4), pb)
	DECQ(n)
	JMP(LabelRef(name + "_tail1"))

	Label(name + "_done")
	VZEROUPPER()
	Store(r, ReturnIndex(0))
	RET()
}

// prefetch emits prefetchVec, which asks the CPU to load the first two cache
// lines of a vector into all cache levels.
func prefetch() {
	TEXT("prefetchVec", NOSPLIT, "func(v []float32)")
	Doc("prefetchVec prefetches the first 128 bytes of v (v must not be empty).")
	p := Load(Param("v").Base(), GP64())
	PREFETCHT0(Mem{Base: p})
	PREFETCHT0(Mem{Base: p, Disp: 64})
	RET()
}

// kernel512 emits an AVX-512F variant: 4 × 16 lanes per iteration, then 16
// lanes, then the 8-lane, and scalar tails of the AVX2 kernel.
func kernel512(name, doc string, k kind, absMask Mem) {
	TEXT(name, NOSPLIT, "func(a, b []float32) float32")
	Doc(fmt.Sprintf("%s %s It requires AVX-512F, AVX2 and FMA.", name, doc))
	pa := Load(Param("a").Base(), GP64())
	pb := Load(Param("b").Base(), GP64())
	n := Load(Param("a").Len(), GP64())

	var mask VecVirtual
	if k == kindL1 {
		mask = ZMM()
		VBROADCASTSS(absMask, mask)
	}
	acc := make([]VecVirtual, unroll)
	for i := range acc {
		acc[i] = ZMM()
		VPXORD(acc[i], acc[i], acc[i])
	}
	step := func(off int, dst Op, wide bool) {
		var x VecVirtual
		if wide {
			x = ZMM()
		} else {
			x = YMM()
		}
		VMOVUPS(Mem{Base: pa, Disp: off}, x)
		switch k {
		case kindDot:
			VFMADD231PS(Mem{Base: pb, Disp: off}, x, dst)
		case kindNegDot:
			VFNMADD231PS(Mem{Base: pb, Disp: off}, x, dst)
		case kindL2:
			VSUBPS(Mem{Base: pb, Disp: off}, x, x)
			VFMADD231PS(x, x, dst)
		case kindL1:
			VSUBPS(Mem{Base: pb, Disp: off}, x, x)
			if wide {
				VPANDD(mask, x, x)
			} else {
				VANDPS(mask.AsY(), x, x)
			}
			VADDPS(x, dst, dst)
		}
	}

	Label(name + "_block")
	CMPQ(n, U32(16*unroll))
	JL(LabelRef(name + "_tail16"))
	for i := 0; i < unroll; i++ {
		step(64*i, acc[i], true)
	}
	ADDQ(U32(64*unroll), pa)
	ADDQ(U32(64*unroll), pb)
	SUBQ(U32(16*unroll), n)
	JMP(LabelRef(name + "_block"))

	Label(name + "_tail16")
	CMPQ(n, U32(16))
	JL(LabelRef(name + "_reduce16"))
	step(0, acc[0], true)
	ADDQ(U32(64), pa)
	ADDQ(U32(64), pb)
	SUBQ(U32(16), n)
	JMP(LabelRef(name + "_tail16"))

	Label(name + "_reduce16")
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	hi := YMM()
	VEXTRACTF64X4(U8(1), acc[0], hi)
	y := acc[0].AsY()
	VADDPS(hi, y, y)

	Label(name + "_tail8")
	CMPQ(n, U32(8))
	JL(LabelRef(name + "_reduce"))
	step(0, y, false)
	ADDQ(U32(32), pa)
	ADDQ(U32(32), pb)
	SUBQ(U32(8), n)
	JMP(LabelRef(name + "_tail8"))

	Label(name + "_reduce")
	hx := XMM()
	VEXTRACTF128(U8(1), y, hx)
	r := acc[0].AsX()
	VADDPS(hx, r, r)
	VHADDPS(r, r, r)
	VHADDPS(r, r, r)

	Label(name + "_tail1")
	CMPQ(n, U32(0))
	JE(LabelRef(name + "_done"))
	s := XMM()
	VMOVSS(Mem{Base: pa}, s)
	switch k {
	case kindDot:
		VFMADD231SS(Mem{Base: pb}, s, r)
	case kindNegDot:
		VFNMADD231SS(Mem{Base: pb}, s, r)
	case kindL2:
		VSUBSS(Mem{Base: pb}, s, s)
		VFMADD231SS(s, s, r)
	case kindL1:
		VSUBSS(Mem{Base: pb}, s, s)
		VANDPS(mask.AsX(), s, s)
		VADDSS(s, r, r)
	}
	ADDQ(U32(4), pa)
	ADDQ(U32(4), pb)
	DECQ(n)
	JMP(LabelRef(name + "_tail1"))

	Label(name + "_done")
	VZEROUPPER()
	Store(r, ReturnIndex(0))
	RET()
}

// codeKernel emits a kernel over scalar-quantization codes: bytes from 0 to
// 127, 32 per step (len(a) a multiple of 32; the caller adds the rest).
// Products and squares use VPMADDUBSW, which multiplies unsigned by signed
// bytes and adds adjacent pairs into int16: with codes below 128 both
// readings agree and a pair sums to at most 2·127² = 32,258, so nothing
// saturates; VPMADDWD by ones widens the pairs into int32 lanes. L1 uses
// VPSADBW (sums of absolute differences into four uint64 lanes).
func codeKernel(name, doc string, k kind) {
	TEXT(name, NOSPLIT, "func(a, b []byte) int32")
	Doc(fmt.Sprintf("%s %s It requires AVX2.", name, doc))
	pa := Load(Param("a").Base(), GP64())
	pb := Load(Param("b").Base(), GP64())
	n := Load(Param("a").Len(), GP64())
	ones := YMM()
	if k != kindL1 {
		one := GP32()
		MOVL(U32(0x00010001), one)
		x := XMM()
		MOVD(one, x)
		VPBROADCASTD(x, ones)
	}
	acc := []VecVirtual{YMM(), YMM()}
	for _, a := range acc {
		VPXOR(a, a, a)
	}
	step := func(off int, dst VecVirtual) {
		x := YMM()
		VMOVDQU(Mem{Base: pa, Disp: off}, x)
		switch k {
		case kindDot:
			VPMADDUBSW(Mem{Base: pb, Disp: off}, x, x)
			VPMADDWD(ones, x, x)
			VPADDD(x, dst, dst)
		case kindL2:
			y := YMM()
			VMOVDQU(Mem{Base: pb, Disp: off}, y)
			d := YMM()
			VPSUBUSB(y, x, d) // a-b where a > b
			VPSUBUSB(x, y, y) // b-a where b > a
			VPOR(y, d, d)     // |a-b|
			VPMADDUBSW(d, d, d)
			VPMADDWD(ones, d, d)
			VPADDD(d, dst, dst)
		case kindL1:
			VPSADBW(Mem{Base: pb, Disp: off}, x, x)
			VPADDQ(x, dst, dst)
		}
	}
	Label(name + "_block")
	CMPQ(n, U32(64))
	JL(LabelRef(name + "_tail"))
	step(0, acc[0])
	step(32, acc[1])
	ADDQ(U32(64), pa)
	ADDQ(U32(64), pb)
	SUBQ(U32(64), n)
	JMP(LabelRef(name + "_block"))
	Label(name + "_tail")
	CMPQ(n, U32(32))
	JL(LabelRef(name + "_reduce"))
	step(0, acc[0])
	Label(name + "_reduce")
	if k == kindL1 {
		VPADDQ(acc[1], acc[0], acc[0])
		hi := XMM()
		VEXTRACTI128(U8(1), acc[0], hi)
		r := acc[0].AsX()
		VPADDQ(hi, r, r)
		h2 := XMM()
		VPSHUFD(U8(0x4e), r, h2)
		VPADDQ(h2, r, r)
		VZEROUPPER()
		out := GP32()
		MOVD(r, out)
		Store(out, ReturnIndex(0))
		RET()
		return
	}
	VPADDD(acc[1], acc[0], acc[0])
	hi := XMM()
	VEXTRACTI128(U8(1), acc[0], hi)
	r := acc[0].AsX()
	VPADDD(hi, r, r)
	h2 := XMM()
	VPSHUFD(U8(0x4e), r, h2)
	VPADDD(h2, r, r)
	VPSHUFD(U8(0xb1), r, h2)
	VPADDD(h2, r, r)
	VZEROUPPER()
	out := GP32()
	MOVD(r, out)
	Store(out, ReturnIndex(0))
	RET()
}

// dotCodes512 emits dotU8AVX512, the AVX-512BW variant of dotU8AVX2: 64
// codes per step, two accumulators.
func dotCodes512() {
	name := "dotU8AVX512"
	TEXT(name, NOSPLIT, "func(a, b []byte) int32")
	Doc(name + " returns the dot product of the 7-bit codes a and b[:len(a)]; len(a) must be a multiple of 64. It requires AVX-512BW.")
	pa := Load(Param("a").Base(), GP64())
	pb := Load(Param("b").Base(), GP64())
	n := Load(Param("a").Len(), GP64())
	one := GP32()
	MOVL(U32(0x00010001), one)
	ones := ZMM()
	VPBROADCASTD(one, ones)
	acc := []VecVirtual{ZMM(), ZMM()}
	for _, a := range acc {
		VPXORD(a, a, a)
	}
	step := func(off int, dst VecVirtual) {
		x := ZMM()
		VMOVDQU8(Mem{Base: pa, Disp: off}, x)
		VPMADDUBSW(Mem{Base: pb, Disp: off}, x, x)
		VPMADDWD(ones, x, x)
		VPADDD(x, dst, dst)
	}
	Label(name + "_block")
	CMPQ(n, U32(128))
	JL(LabelRef(name + "_tail"))
	step(0, acc[0])
	step(64, acc[1])
	ADDQ(U32(128), pa)
	ADDQ(U32(128), pb)
	SUBQ(U32(128), n)
	JMP(LabelRef(name + "_block"))
	Label(name + "_tail")
	CMPQ(n, U32(64))
	JL(LabelRef(name + "_reduce"))
	step(0, acc[0])
	Label(name + "_reduce")
	VPADDD(acc[1], acc[0], acc[0])
	hi := YMM()
	VEXTRACTI64X4(U8(1), acc[0], hi)
	y := acc[0].AsY()
	VPADDD(hi, y, y)
	hx := XMM()
	VEXTRACTI128(U8(1), y, hx)
	r := acc[0].AsX()
	VPADDD(hx, r, r)
	h2 := XMM()
	VPSHUFD(U8(0x4e), r, h2)
	VPADDD(h2, r, r)
	VPSHUFD(U8(0xb1), r, h2)
	VPADDD(h2, r, r)
	VZEROUPPER()
	out := GP32()
	MOVD(r, out)
	Store(out, ReturnIndex(0))
	RET()
}

// prefetchCodes emits prefetchCodes, prefetchVec for a vector's codes.
func prefetchCodes() {
	TEXT("prefetchCodes", NOSPLIT, "func(v []byte)")
	Doc("prefetchCodes prefetches the first 128 bytes of v (v must not be empty).")
	p := Load(Param("v").Base(), GP64())
	PREFETCHT0(Mem{Base: p})
	PREFETCHT0(Mem{Base: p, Disp: 64})
	RET()
}
