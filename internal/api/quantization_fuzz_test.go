package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParseQuantization: the quantization decoders never panic, accept
// only scalar int8 with a quantile in [0.5, 1], product with a known
// compression, or binary one_bit or two_bits with a known query encoding, and what
// they accept survives a JSON round trip unchanged.
func FuzzParseQuantization(f *testing.F) {
	for _, s := range []string{
		`{"scalar":{"type":"int8","quantile":0.99,"always_ram":true}}`, `{"binary":{"always_ram":true}}`,
		`{"binary":{"encoding":"one_bit","query_encoding":"scalar4bits","memory":"pinned"}}`, `{"binary":{"encoding":"two_bits"}}`,
		`{"binary":null}`, `{"product":{"compression":"x64","memory":"cold"}}`, `{"product":{"compression":"x3"}}`, `{"product":{}}`, `{"binary":{},"scalar":{"type":"int8"}}`, `{"scalar":{"type":"int8","memory":"cold"}}`,
		`{"product":{"compression":"x16"}}`, `"Disabled"`, `null`, `{}`, `{"scalar":{"type":"int8","x":1}}`,
		`{"ignore":true,"rescore":false,"oversampling":2.5}`, `{"oversampling":0.2}`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseQuantization(b)
		if err == nil && q != nil {
			scalar := q.Scalar != nil && q.Binary == nil && q.Product == nil && q.Scalar.Type == "int8" && q.Quantile() >= 0.5 && q.Quantile() <= 1
			binary := q.Binary != nil && q.Scalar == nil && q.Product == nil && (q.Binary.Encoding == nil || *q.Binary.Encoding == "one_bit" || *q.Binary.Encoding == "two_bits")
			product := q.Product != nil && q.Scalar == nil && q.Binary == nil && quantCompression(q.Product.Compression)
			if !scalar && !binary && !product {
				t.Fatalf("accepted %s as %+v", b, q)
			}
			out, err := json.Marshal(q)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseQuantization(out)
			if err != nil || !reflect.DeepEqual(back, q) {
				t.Fatalf("round trip of %s: %s: %+v %v", b, out, back, err)
			}
		}
		p, err := SearchParams{Quantization: b}.QuantizationParams()
		if err == nil && p.OversamplingFactor() < 1 {
			t.Fatalf("accepted oversampling %v from %s", p.OversamplingFactor(), b)
		}
	})
}

func quantCompression(c string) bool {
	switch c {
	case "x4", "x8", "x16", "x32", "x64":
		return true
	}
	return false
}
