package api

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Payload is a point's JSON object payload. Values are decoded with UseNumber
// (see the package doc for the allowed dynamic types).
type Payload map[string]any

// UnmarshalJSON decodes an object with numbers kept as json.Number.
func (p *Payload) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*p = nil
		return nil
	}
	m, err := DecodePayload(b)
	if err != nil {
		return err
	}
	*p = m
	return nil
}

// DecodePayload decodes a JSON object into a Payload with UseNumber.
func DecodePayload(b []byte) (Payload, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, ErrBadInput("payload must be a JSON object: %v", err)
	}
	if m == nil {
		return nil, ErrBadInput("payload must be a JSON object")
	}
	return Payload(m), nil
}

// DecodeValue decodes any JSON value with UseNumber.
func DecodeValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, ErrBadInput("invalid JSON value: %v", err)
	}
	return v, nil
}

// MaxPayloadDepth is the deepest nesting of objects and arrays accepted in a
// payload.
const MaxPayloadDepth = 64

// CheckPayloadDepth returns a bad-input error when p nests deeper than
// MaxPayloadDepth.
func CheckPayloadDepth(p Payload) error {
	if depth(map[string]any(p), 0) > MaxPayloadDepth {
		return ErrPayloadTooDeep()
	}
	return nil
}

func depth(v any, d int) int {
	if d > MaxPayloadDepth {
		return d
	}
	best := d
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			best = max(best, depth(e, d+1))
		}
	case []any:
		for _, e := range x {
			best = max(best, depth(e, d+1))
		}
	}
	return best
}

// PayloadSelector is Qdrant's WithPayloadInterface: true/false, a list of
// keys to include, or {"include": [...]} / {"exclude": [...]}.
type PayloadSelector struct {
	Enable  bool
	Include []string // non-nil: only these keys (paths)
	Exclude []string // non-nil: all but these keys (paths)
}

// PayloadAll selects the whole payload.
var PayloadAll = &PayloadSelector{Enable: true}

// UnmarshalJSON reads bool, array or object forms.
func (s *PayloadSelector) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return ErrBadInput("empty with_payload")
	case b[0] == 't' || b[0] == 'f':
		return json.Unmarshal(b, &s.Enable)
	case b[0] == '[':
		s.Enable = true
		s.Include = []string{}
		return json.Unmarshal(b, &s.Include)
	case b[0] == '{':
		var raw struct {
			Include []string `json:"include"`
			Exclude []string `json:"exclude"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			return ErrBadInput("with_payload: %v", err)
		}
		s.Enable, s.Include, s.Exclude = true, raw.Include, raw.Exclude
		return nil
	}
	return ErrBadInput("with_payload must be a bool, a list of keys or {include|exclude}")
}

// MarshalJSON writes the form read.
func (s PayloadSelector) MarshalJSON() ([]byte, error) {
	switch {
	case s.Include != nil:
		return json.Marshal(map[string][]string{"include": s.Include})
	case s.Exclude != nil:
		return json.Marshal(map[string][]string{"exclude": s.Exclude})
	}
	return json.Marshal(s.Enable)
}

// VectorSelector is Qdrant's WithVector: true/false or a list of names.
type VectorSelector struct {
	Enable bool
	Names  []string // non-nil: only these vectors
}

// UnmarshalJSON reads bool or array forms.
func (s *VectorSelector) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		s.Enable = true
		s.Names = []string{}
		return json.Unmarshal(b, &s.Names)
	}
	if err := json.Unmarshal(b, &s.Enable); err != nil {
		return ErrBadInput("with_vector must be a bool or a list of vector names")
	}
	return nil
}

// MarshalJSON writes the form read.
func (s VectorSelector) MarshalJSON() ([]byte, error) {
	if s.Names != nil {
		return json.Marshal(s.Names)
	}
	return json.Marshal(s.Enable)
}

// String is for logs and errors.
func (s PayloadSelector) String() string {
	return fmt.Sprintf("{enable:%v include:%v exclude:%v}", s.Enable, s.Include, s.Exclude)
}
