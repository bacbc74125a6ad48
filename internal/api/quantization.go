package api

import (
	"bytes"
	"encoding/json"
)

// ScalarQuantization configures Qdrant's scalar quantization.
type ScalarQuantization struct {
	Type      string   `json:"type"`                 // "int8", the only type
	Quantile  *float64 `json:"quantile,omitempty"`   // 0.5 to 1: the share of values the range covers (default 1: min to max)
	AlwaysRAM *bool    `json:"always_ram,omitempty"` // accepted either way: the codes are always kept in RAM
	Memory    *string  `json:"memory,omitempty"`     // cold, cached or pinned: accepted, the codes are always kept in RAM
}

// BinaryQuantization configures Qdrant's binary quantization.
type BinaryQuantization struct {
	AlwaysRAM *bool   `json:"always_ram,omitempty"` // accepted either way: the codes are always kept in RAM
	Memory    *string `json:"memory,omitempty"`     // cold, cached or pinned: accepted, the codes are always kept in RAM
	// Encoding is "one_bit" (the default) or "two_bits"; ParseQuantization
	// refuses one_and_half_bits, which this server does not implement.
	Encoding *string `json:"encoding,omitempty"`
	// QueryEncoding is how queries are encoded: "default" and "binary"
	// (one bit per element, like the vectors), "scalar4bits" or
	// "scalar8bits" (asymmetric: 4 or 8 bits per element).
	QueryEncoding *string `json:"query_encoding,omitempty"`
}

// TwoBits reports whether the encoding is two_bits.
func (b *BinaryQuantization) TwoBits() bool {
	return b != nil && b.Encoding != nil && *b.Encoding == "two_bits"
}

// QueryBits returns the bits per element of an encoded query: 0 for a
// binary query, else 4 or 8.
func (b *BinaryQuantization) QueryBits() int {
	if b == nil || b.QueryEncoding == nil {
		return 0
	}
	switch *b.QueryEncoding {
	case "scalar4bits":
		return 4
	case "scalar8bits":
		return 8
	}
	return 0
}

// ProductQuantization configures Qdrant's product quantization.
type ProductQuantization struct {
	Compression string  `json:"compression"`          // xR for R in 4, 8, 16, 32, 64: R bytes of float32 (R/4 elements) per code byte
	AlwaysRAM   *bool   `json:"always_ram,omitempty"` // accepted either way: the codes are always kept in RAM
	Memory      *string `json:"memory,omitempty"`     // cold, cached or pinned: accepted, the codes are always kept in RAM
}

// QuantizationConfig is a parsed quantization_config (collection-level or
// per vector): exactly one of Scalar (int8), Product and Binary (one_bit)
// is set.
type QuantizationConfig struct {
	Scalar  *ScalarQuantization  `json:"scalar,omitempty"`
	Product *ProductQuantization `json:"product,omitempty"`
	Binary  *BinaryQuantization  `json:"binary,omitempty"`
}

// Quantile returns the quantile in force.
func (q *QuantizationConfig) Quantile() float64 {
	if q == nil || q.Scalar == nil || q.Scalar.Quantile == nil {
		return 1
	}
	return *q.Scalar.Quantile
}

// QuantizationDisabled is the quantization_config of an update that turns
// quantization off.
const QuantizationDisabled = `"Disabled"`

// IsQuantizationDisabled reports whether raw is the "Disabled" diff.
func IsQuantizationDisabled(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte(QuantizationDisabled))
}

// ParseQuantization parses and validates a quantization_config: nil for an
// absent, null or empty one (and for "Disabled"). The binary encoding
// one_and_half_bits is refused: this server does not implement it.
func ParseQuantization(raw json.RawMessage) (*QuantizationConfig, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}")) || IsQuantizationDisabled(t) {
		return nil, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(t, &probe); err != nil {
		return nil, ErrBadInput("quantization_config must be an object with one of scalar, product or binary: %v", err)
	}
	if len(probe) != 1 {
		return nil, ErrBadInput("quantization_config must have exactly one of scalar, product or binary")
	}
	for kind := range probe {
		switch kind {
		case "scalar", "binary", "product":
		default:
			return nil, ErrBadInput("unknown quantization %q: expected scalar, product or binary", kind)
		}
	}
	var q QuantizationConfig
	if err := json.Unmarshal(t, &q); err != nil {
		return nil, ErrBadInput("invalid quantization_config: %v", err)
	}
	if err := CheckFields(t, &q); err != nil {
		return nil, err
	}
	if _, ok := probe["binary"]; ok {
		return &q, checkBinary(q.Binary)
	}
	if _, ok := probe["product"]; ok {
		p := q.Product
		if p == nil {
			return nil, ErrBadInput("quantization_config.product must be an object")
		}
		if err := checkMemory("product", p.Memory); err != nil {
			return nil, err
		}
		switch p.Compression {
		case "x4", "x8", "x16", "x32", "x64":
		case "":
			return nil, ErrBadInput("Json deserialize error: missing field `compression` at quantization_config.product")
		default:
			return nil, ErrBadInput("Json deserialize error: unknown variant `%s`, expected one of `x4`, `x8`, `x16`, `x32`, `x64` at quantization_config.product.compression", p.Compression)
		}
		return &q, nil
	}
	s := q.Scalar
	if s == nil {
		return nil, ErrBadInput("quantization_config.scalar must be an object")
	}
	if err := checkMemory("scalar", s.Memory); err != nil {
		return nil, err
	}
	if s.Type != "int8" {
		return nil, ErrBadInput("unknown scalar quantization type %q: expected int8", s.Type)
	}
	if s.Quantile != nil && (*s.Quantile < 0.5 || *s.Quantile > 1) {
		return nil, ErrBodyValidation("quantization_config.scalar.quantile", "value %v invalid, must be from 0.5 to 1.0", *s.Quantile)
	}
	return &q, nil
}

// checkBinary validates a binary quantization config.
func checkBinary(b *BinaryQuantization) error {
	if b == nil {
		return ErrBadInput("quantization_config.binary must be an object")
	}
	if err := checkMemory("binary", b.Memory); err != nil {
		return err
	}
	if e := b.Encoding; e != nil {
		switch *e {
		case "one_bit", "two_bits":
		case "one_and_half_bits":
			return ErrBadInput("binary quantization encoding %q is not supported by this server: only one_bit and two_bits", *e)
		default:
			return ErrBadInput("Json deserialize error: unknown variant `%s`, expected one of `one_bit`, `two_bits`, `one_and_half_bits` at quantization_config.binary.encoding", *e)
		}
	}
	if e := b.QueryEncoding; e != nil {
		switch *e {
		case "default", "binary", "scalar4bits", "scalar8bits":
		default:
			return ErrBadInput("Json deserialize error: unknown variant `%s`, expected one of `default`, `binary`, `scalar4bits`, `scalar8bits` at quantization_config.binary.query_encoding", *e)
		}
	}
	return nil
}

// checkMemory validates the memory placement of quantized vectors.
func checkMemory(kind string, m *string) error {
	if m == nil {
		return nil
	}
	switch *m {
	case "cold", "cached", "pinned":
		return nil
	}
	return ErrBadInput("Json deserialize error: unknown variant `%s`, expected one of `cold`, `cached`, `pinned` at quantization_config.%s.memory", *m, kind)
}

// QuantizationSearchParams are a search's quantization parameters.
type QuantizationSearchParams struct {
	// Ignore searches the original vectors only.
	Ignore bool `json:"ignore,omitempty"`
	// Rescore re-scores the quantized candidates with the original
	// vectors (default true).
	Rescore *bool `json:"rescore,omitempty"`
	// Oversampling takes oversampling·limit quantized candidates to
	// rescore (at least 1; default 1).
	Oversampling *float64 `json:"oversampling,omitempty"`
}

// QuantizationParams parses p's quantization parameters (zero values when
// absent).
func (p SearchParams) QuantizationParams() (QuantizationSearchParams, error) {
	var q QuantizationSearchParams
	t := bytes.TrimSpace(p.Quantization)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return q, nil
	}
	if err := json.Unmarshal(t, &q); err != nil {
		return q, ErrBadInput("invalid search params quantization: %v", err)
	}
	if err := CheckFields(t, &q); err != nil {
		return q, err
	}
	if o := q.Oversampling; o != nil && !(*o >= 1) {
		return q, ErrBodyValidation("params.quantization.oversampling", "value %v invalid, must be 1.0 or larger", *o)
	}
	return q, nil
}

// RescoreOn reports whether quantized candidates are rescored.
func (q QuantizationSearchParams) RescoreOn() bool { return q.Rescore == nil || *q.Rescore }

// OversamplingFactor returns the oversampling in force.
func (q QuantizationSearchParams) OversamplingFactor() float64 {
	if q.Oversampling == nil {
		return 1
	}
	return *q.Oversampling
}

// VectorQuantization returns the quantization in force for the named dense
// vector: its own quantization_config, else the collection's; nil when
// neither is set (or one does not parse, which validation refused before
// it was stored).
func (c *CollectionConfig) VectorQuantization(name string) *QuantizationConfig {
	raw := c.QuantizationConfig
	if p, ok := c.Params.Vectors[name]; ok {
		if p.MultivectorConfig != nil {
			return nil
		}
		if len(bytes.TrimSpace(p.QuantizationConfig)) > 0 && !bytes.Equal(bytes.TrimSpace(p.QuantizationConfig), []byte("null")) {
			raw = p.QuantizationConfig
		}
	}
	q, err := ParseQuantization(raw)
	if err != nil {
		return nil
	}
	return q
}
