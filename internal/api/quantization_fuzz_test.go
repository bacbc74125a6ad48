package api

import (
	"encoding/json"
	"testing"
)

// FuzzParseQuantization: the quantization decoders never panic, accept
// only scalar int8 with a quantile in [0.5, 1], and what they accept
// survives a JSON round trip unchanged.
func FuzzParseQuantization(f *testing.F) {
	for _, s := range []string{
		`{"scalar":{"type":"int8","quantile":0.99,"always_ram":true}}`, `{"binary":{"always_ram":true}}`,
		`{"product":{"compression":"x16"}}`, `"Disabled"`, `null`, `{}`, `{"scalar":{"type":"int8","x":1}}`,
		`{"ignore":true,"rescore":false,"oversampling":2.5}`, `{"oversampling":0.2}`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseQuantization(b)
		if err == nil && q != nil {
			if q.Scalar == nil || q.Scalar.Type != "int8" || q.Quantile() < 0.5 || q.Quantile() > 1 {
				t.Fatalf("accepted %s as %+v", b, q)
			}
			out, err := json.Marshal(q)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseQuantization(out)
			if err != nil || back.Quantile() != q.Quantile() || back.Scalar.Type != "int8" {
				t.Fatalf("round trip of %s: %s: %v", b, out, err)
			}
		}
		p, err := SearchParams{Quantization: b}.QuantizationParams()
		if err == nil && p.OversamplingFactor() < 1 {
			t.Fatalf("accepted oversampling %v from %s", p.OversamplingFactor(), b)
		}
	})
}
