package api

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeVectorStruct feeds arbitrary JSON to the vector-struct decoder
// (dense, sparse and multi-vectors by name): it must return an error or vectors,
// never panic; decoded sparse vectors have as many indices as values once
// they validate, and what decodes encodes and decodes again to the same.
func FuzzDecodeVectorStruct(f *testing.F) {
	for _, seed := range []string{
		`[1, 2, 3]`,
		`{"a": [1, 2], "s": {"indices": [3, 1], "values": [0.5, -2]}}`,
		`{"s": {"indices": [], "values": []}}`,
		`{"s": {"indices": [1, 1], "values": [1, 2]}}`,
		`{"s": {"indices": [1], "values": [1, 2]}}`,
		`{"s": {"indices": [-1], "values": [1]}}`,
		`{"s": {"indices": [4294967296], "values": [1]}}`,
		`{"s": {"indices": [1.5], "values": [1]}}`,
		`{"s": {"values": [1]}}`,
		`{"s": {"text": "a document"}}`,
		`{"indices": [1], "values": [1]}`,
		`{"m": [[1, 2], [3, 4]]}`,
		`[[1, 2], [3, 4]]`,
		`{"m": [[]], "d": [1]}`,
		`null`, `{}`, `[]`, `{"s": null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := DecodeVectorStruct(b); err == nil {
			if _, _, mv, _ := DecodeVectorStructMulti(b); len(mv) > 0 {
				t.Fatalf("DecodeVectorStruct accepted the multi-vectors of %s", b)
			}
		}
		dense, sparse, multi, err := DecodeVectorStructMulti(b)
		if err != nil {
			return
		}
		for name, sv := range sparse {
			if sv.Validate(name) == nil && len(sv.Indices) != len(sv.Values) {
				t.Fatalf("%q validated with %d indices and %d values", name, len(sv.Indices), len(sv.Values))
			}
		}
		if dense == nil && sparse == nil && multi == nil {
			return
		}
		js, err := marshalVectorStruct(nonNilVectors(dense), sparse, multi)
		if err != nil {
			t.Fatalf("decoded vectors do not encode: %v", err)
		}
		dense2, sparse2, multi2, err := DecodeVectorStructMulti(js)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", js, err)
		}
		a, _ := json.Marshal(PointStruct{Vector: nonNilVectors(dense), Sparse: sparse, Multi: multi})
		c, _ := json.Marshal(PointStruct{Vector: nonNilVectors(dense2), Sparse: sparse2, Multi: multi2})
		if string(a) != string(c) {
			t.Fatalf("round trip changed the vectors:\n%s\n%s", a, c)
		}
	})
}
