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
}

// QuantizationConfig is a parsed quantization_config (collection-level or
// per vector). Only scalar int8 quantization is supported; product and
// binary are refused by ParseQuantization.
type QuantizationConfig struct {
	Scalar *ScalarQuantization `json:"scalar,omitempty"`
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
// absent, null or empty one (and for "Disabled"). Product and binary
// quantization are refused: this server implements scalar int8 only.
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
		case "scalar":
		case "product", "binary":
			return nil, ErrBadInput("%s quantization is not supported by this server: only scalar int8 quantization", kind)
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
	s := q.Scalar
	if s == nil {
		return nil, ErrBadInput("quantization_config.scalar must be an object")
	}
	if s.Type != "int8" {
		return nil, ErrBadInput("unknown scalar quantization type %q: expected int8", s.Type)
	}
	if s.Quantile != nil && (*s.Quantile < 0.5 || *s.Quantile > 1) {
		return nil, ErrBadInput("Validation error in JSON body: [quantization_config.scalar.quantile: value %v invalid, must be from 0.5 to 1.0]", *s.Quantile)
	}
	return &q, nil
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
		return q, ErrBadInput("Validation error in JSON body: [params.quantization.oversampling: value %v invalid, must be 1.0 or larger]", *o)
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
