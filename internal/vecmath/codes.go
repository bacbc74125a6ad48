package vecmath

// Kernels over scalar-quantization codes: bytes from 0 to 127 (7-bit
// codes, so that the AVX2 kernels can multiply them as signed bytes without
// saturating). The results are exact integers. Each reads len(a) elements
// of a and b and panics if b is shorter; codes above 127 give undefined
// results.

// DotCodes returns the dot product of the codes a and b.
func DotCodes(a, b []byte) int32 {
	b = b[:len(a)]
	var s int32
	if n := len(a) &^ 63; n > 0 && useCode512 {
		s = dotU8Wide(a[:n], b[:n])
		a, b = a[n:], b[n:]
	}
	n := len(a) &^ 31
	if n > 0 && useCodeAsm {
		s += dotU8AVX2(a[:n], b[:n])
	} else {
		n = 0
	}
	return s + dotCodesGeneric(a[n:], b[n:])
}

// L2Codes returns the squared Euclidean distance of the codes a and b.
func L2Codes(a, b []byte) int32 {
	b = b[:len(a)]
	n := len(a) &^ 31
	var s int32
	if n > 0 && useCodeAsm {
		s = l2U8AVX2(a[:n], b[:n])
	} else {
		n = 0
	}
	return s + l2CodesGeneric(a[n:], b[n:])
}

// L1Codes returns the Manhattan distance of the codes a and b.
func L1Codes(a, b []byte) int32 {
	b = b[:len(a)]
	n := len(a) &^ 31
	var s int32
	if n > 0 && useCodeAsm {
		s = l1U8AVX2(a[:n], b[:n])
	} else {
		n = 0
	}
	return s + l1CodesGeneric(a[n:], b[n:])
}

func dotCodesGeneric(a, b []byte) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
		s2 += int32(a[i+2]) * int32(b[i+2])
		s3 += int32(a[i+3]) * int32(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}

func l2CodesGeneric(a, b []byte) int32 {
	b = b[:len(a)]
	var s0, s1 int32
	i := 0
	for ; i+2 <= len(a); i += 2 {
		d0 := int32(a[i]) - int32(b[i])
		d1 := int32(a[i+1]) - int32(b[i+1])
		s0 += d0 * d0
		s1 += d1 * d1
	}
	for ; i < len(a); i++ {
		d := int32(a[i]) - int32(b[i])
		s0 += d * d
	}
	return s0 + s1
}

func l1CodesGeneric(a, b []byte) int32 {
	b = b[:len(a)]
	var s int32
	for i := range a {
		d := int32(a[i]) - int32(b[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return s
}

// PrefetchCodes hints the CPU to start loading the beginning of the codes
// c into cache; it has no other effect. c must not be empty.
func PrefetchCodes(c []byte) {
	if useCodeAsm {
		prefetchCodes(c)
	}
}
