package api

import (
	"strconv"
	"unsafe"
)

// This file holds a hand-written parser for JSON arrays of numbers, the
// bulk of every upsert and search body. encoding/json decodes such an array
// at a few tens of MB/s (a validity scan of the whole input, then reflection
// per element); parseFloatArray reads it in one pass. It accepts exactly
// the JSON number grammar and rounds exactly as strconv.ParseFloat(s, 32)
// (which is what encoding/json does for a float32), so its results are bit
// for bit those of json.Unmarshal into []float32; FuzzParseFloatArray checks
// that.

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// parseFloatArray parses the JSON array of numbers that starts at b[i]
// (leading whitespace allowed), appending the values to dst. It returns the
// values and the index just past the closing bracket, or ok false if the
// input is not such an array or a number does not fit a float32 (NaN and
// Inf have no JSON spelling, and numbers beyond float32's range are refused
// as encoding/json refuses them).
func parseFloatArray(b []byte, i int, dst []float32) (_ []float32, end int, ok bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '[' {
		return dst, i, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return dst, i + 1, true
	}
	for {
		var f float32
		f, i, ok = parseNumber(b, i)
		if !ok {
			return dst, i, false
		}
		dst = append(dst, f)
		i = skipSpace(b, i)
		if i >= len(b) {
			return dst, i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return dst, i + 1, true
		default:
			return dst, i, false
		}
	}
}

// parseNumber parses one JSON number at b[i:] as a float32.
func parseNumber(b []byte, i int) (float32, int, bool) {
	start := i
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	if i >= len(b) {
		return 0, i, false
	}
	// Integer part: 0 or [1-9][0-9]*.
	var mant uint64
	digits := 0
	switch c := b[i]; {
	case c == '0':
		i++
		digits = 1
	case c >= '1' && c <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 19 {
				mant = mant*10 + uint64(b[i]-'0')
			}
			digits++
			i++
		}
	default:
		return 0, i, false
	}
	simple := true
	if i < len(b) && b[i] == '.' {
		simple = false
		i++
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return 0, i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		simple = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return 0, i, false
		}
	}
	// An integer below 2^24 is exactly representable: no rounding at all.
	if simple && digits <= 7 {
		f := float32(mant)
		if neg {
			f = -f
		}
		return f, i, true
	}
	s := b[start:i]
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(s), len(s)), 32)
	if err != nil {
		return 0, i, false
	}
	return float32(f), i, true
}

// parseFloatArrays parses a JSON array of arrays of numbers starting at
// b[i] (the unnamed vectors of a batch upsert) and returns the vectors and
// the index past the closing bracket. All values share one backing array.
func parseFloatArrays(b []byte, i int) (_ [][]float32, end int, ok bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '[' {
		return nil, i, false
	}
	arrStart := i
	i = skipSpace(b, i+1)
	out := [][]float32{}
	if i < len(b) && b[i] == ']' {
		return out, i + 1, true
	}
	var flat []float32
	var ends []int
	for {
		flat, i, ok = parseFloatArray(b, i, flat)
		if !ok {
			return nil, i, false
		}
		ends = append(ends, len(flat))
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, i, false
		}
		if b[i] == ']' {
			i++
			break
		}
		if b[i] != ',' {
			return nil, i, false
		}
		i++
		if len(ends) == 1 {
			// Size the backing array by the first vector's share of the
			// remaining input (at most about twice the input's size, as
			// every number takes at least two bytes).
			n := (len(b)-arrStart)/(i-arrStart) + 1
			grown := make([]float32, len(flat), len(flat)*n)
			copy(grown, flat)
			flat = grown
		}
	}
	out = make([][]float32, len(ends))
	lo := 0
	for k, hi := range ends {
		out[k] = flat[lo:hi:hi]
		lo = hi
	}
	return out, i, true
}
