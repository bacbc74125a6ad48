package api

import (
	"bytes"
	"encoding/json"
	"math"
	"unsafe"
)

// DefaultVectorName is the name under which an unnamed vector is stored.
const DefaultVectorName = ""

// Vectors holds a point's dense vectors by name; the unnamed vector of a
// collection configured with a single unnamed vector is stored under
// DefaultVectorName. JSON: an array for the unnamed vector, otherwise an
// object of name to array (Qdrant's VectorStruct).
type Vectors map[string][]float32

// MarshalJSON writes an array when the only vector is the unnamed one.
func (v Vectors) MarshalJSON() ([]byte, error) {
	if vec, ok := v[DefaultVectorName]; ok && len(v) == 1 {
		return marshalFloats(vec), nil
	}
	m := make(map[string]json.RawMessage, len(v))
	for name, vec := range v {
		m[name] = marshalFloats(vec)
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads an array (unnamed) or an object of named dense vectors.
// Sparse, multi-vector and inference inputs are refused with a clear error.
func (v *Vectors) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		vec, err := decodeDense(b)
		if err != nil {
			return err
		}
		*v = Vectors{DefaultVectorName: vec}
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrBadInput("vector must be an array of numbers or an object of named vectors")
	}
	out := make(Vectors, len(raw))
	for name, r := range raw {
		vec, err := decodeDense(r)
		if err != nil {
			return err
		}
		out[name] = vec
	}
	*v = out
	return nil
}

func decodeDense(b []byte) ([]float32, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		return nil, ErrBadInput("expected a dense vector (an array of numbers): sparse vectors are given by name, and inference objects are not supported by this server")
	}
	if vec, end, ok := parseFloatArray(b, 0, make([]float32, 0, bytes.Count(b, []byte{','})+1)); ok && end == len(b) {
		return vec, nil
	}
	return decodeDenseSlow(b)
}

// decodeDenseSlow decodes with encoding/json what parseFloatArray refused:
// it words the error (or accepts the forms encoding/json tolerates, such as
// null elements, which read as 0).
func decodeDenseSlow(b []byte) ([]float32, error) {
	var f []float32
	if err := json.Unmarshal(b, &f); err != nil {
		if bytes.Contains(b, []byte("[[")) {
			return nil, ErrBadInput("multi-vectors are not supported by this server; use dense vectors")
		}
		return nil, ErrBadInput("vector must be an array of numbers: %v", err)
	}
	if f == nil {
		f = []float32{}
	}
	return f, nil
}

// marshalFloats writes a float32 slice compactly, each number formatted at
// float32 precision.
func marshalFloats(v []float32) []byte {
	buf := make([]byte, 0, len(v)*10+2)
	buf = append(buf, '[')
	for i, x := range v {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendFloat32(buf, x)
	}
	return append(buf, ']')
}

// AppendFloat32 appends x formatted as the shortest JSON number that reads
// back as the same float32. NaN and Inf (never stored) are written as 0.
func AppendFloat32(buf []byte, x float32) []byte {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return append(buf, '0')
	}
	return appendFloat(buf, float64(x), 32)
}

// CheckFinite returns a bad-input error if vec holds NaN or Inf.
func CheckFinite(name string, vec []float32) error {
	// An exponent of all ones (an infinity or a NaN), plus one in the
	// exponent's lowest bit, carries into the sign bit; any other exponent
	// does not. Two floats at a time, without branches: a low half never
	// carries into the high one.
	const mask, one, sign = 0x7f8000007f800000, 0x0080000000800000, 0x8000000080000000
	var acc uint64
	if len(vec) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(vec)))%8 != 0 {
		acc |= uint64(math.Float32bits(vec[0]))&mask + one // align to 8 bytes
		vec = vec[1:]
	}
	if pairs := len(vec) / 2; pairs > 0 {
		for _, w := range unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(vec))), pairs) {
			acc |= w&mask + one
		}
	}
	if len(vec)%2 == 1 {
		acc |= uint64(math.Float32bits(vec[len(vec)-1]))&mask + one
	}
	if acc&sign != 0 {
		return ErrBadInput("vector %q contains NaN or infinite values", name)
	}
	return nil
}

// NamedVector is one vector addressed by name: the "vector" of the legacy
// search request ({"name": ..., "vector": [...]} or a bare array).
type NamedVector struct {
	Name   string
	Vector []float32
	Sparse *SparseVector // the legacy NamedSparseVector form
}

// UnmarshalJSON reads a bare array or {"name", "vector"}.
func (n *NamedVector) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		vec, err := decodeDense(b)
		if err != nil {
			return err
		}
		*n = NamedVector{Vector: vec}
		return nil
	}
	var raw struct {
		Name   string          `json:"name"`
		Vector json.RawMessage `json:"vector"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrBadInput("vector must be an array or {\"name\", \"vector\"}")
	}
	if r := bytes.TrimSpace(raw.Vector); len(r) > 0 && r[0] == '{' && isSparseObject(r) {
		var sv SparseVector
		if err := json.Unmarshal(r, &sv); err != nil {
			return err
		}
		*n = NamedVector{Name: raw.Name, Sparse: &sv}
		return nil
	}
	vec, err := decodeDense(raw.Vector)
	if err != nil {
		return err
	}
	*n = NamedVector{Name: raw.Name, Vector: vec}
	return nil
}

// MarshalJSON writes a bare array for the default vector, else the object.
func (n NamedVector) MarshalJSON() ([]byte, error) {
	if n.Sparse != nil {
		sv, _ := n.Sparse.MarshalJSON()
		return json.Marshal(struct {
			Name   string          `json:"name"`
			Vector json.RawMessage `json:"vector"`
		}{n.Name, sv})
	}
	if n.Name == DefaultVectorName {
		return marshalFloats(n.Vector), nil
	}
	return json.Marshal(struct {
		Name   string          `json:"name"`
		Vector json.RawMessage `json:"vector"`
	}{n.Name, marshalFloats(n.Vector)})
}
