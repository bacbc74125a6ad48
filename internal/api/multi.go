package api

import (
	"bytes"
	"encoding/json"
)

// MultiVectors holds a point's multi-vectors by name: each a list of
// vectors of the name's size, scored by MaxSim (multivector_config).
type MultiVectors map[string][][]float32

// isMultiArray reports whether b (trimmed) is an array whose first element
// is an array: the multi-vector form [[...], ...].
func isMultiArray(b []byte) bool {
	if len(b) == 0 || b[0] != '[' {
		return false
	}
	rest := bytes.TrimLeft(b[1:], " \t\r\n")
	return len(rest) > 0 && rest[0] == '['
}

// decodeMulti reads [[numbers], ...].
func decodeMulti(b []byte) ([][]float32, error) {
	if vecs, end, ok := parseFloatArrays(b, 0); ok && end == len(b) {
		if vecs == nil {
			vecs = [][]float32{}
		}
		return vecs, nil
	}
	var vs [][]float32
	if err := json.Unmarshal(b, &vs); err != nil {
		return nil, ErrBadInput("multi-vector must be an array of arrays of numbers: %v", err)
	}
	return vs, nil
}

func marshalMulti(vs [][]float32) []byte {
	buf := []byte{'['}
	for i, v := range vs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, marshalFloats(v)...)
	}
	return append(buf, ']')
}

// CheckMultiShape refuses, with Qdrant's 422 body validation texts, a
// multi-vector with an empty vector or with vectors of different
// dimensions, before any check against the collection's configuration.
// field names the point's vectors ("points[0].vector"); a named vector's
// path goes through "?" as in Qdrant's texts.
func CheckMultiShape(field string, m MultiVectors) error {
	for name, vs := range m {
		path := field + ".?.data"
		if name == DefaultVectorName {
			path = field + ".data"
		}
		for _, v := range vs {
			if len(v) == 0 {
				return ErrBodyValidation(path, "all vectors must be non-empty")
			}
		}
		for _, v := range vs {
			if len(v) != len(vs[0]) {
				return ErrBodyValidation(path, "all vectors must have the same dimension, found vector with dimension %d", len(v))
			}
		}
	}
	return nil
}
