package api

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// SparseVector is Qdrant's sparse vector: Values[i] is the weight of
// dimension Indices[i]. Indices must be unique and as many as the values.
type SparseVector struct {
	Indices []uint32  `json:"indices"`
	Values  []float32 `json:"values"`
}

// SparseVectors holds a point's sparse vectors by name.
type SparseVectors map[string]SparseVector

// UnmarshalJSON reads {"indices": [...], "values": [...]}; both are
// required, and indices must be integers from 0 to 2^32-1.
func (v *SparseVector) UnmarshalJSON(b []byte) error {
	var raw struct {
		Indices *[]json.Number `json:"indices"`
		Values  *[]float64     `json:"values"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return ErrBadInput("sparse vector must be an object of indices and values: %v", err)
	}
	if raw.Indices == nil {
		return ErrBadInput("sparse vector: missing field `indices`")
	}
	if raw.Values == nil {
		return ErrBadInput("sparse vector: missing field `values`")
	}
	out := SparseVector{Indices: make([]uint32, len(*raw.Indices)), Values: make([]float32, len(*raw.Values))}
	for i, n := range *raw.Indices {
		x, err := strconv.ParseUint(string(n), 10, 32)
		if err != nil {
			return ErrBadInput("sparse vector: invalid index %s: expected an integer from 0 to %d", n, uint32(math.MaxUint32))
		}
		out.Indices[i] = uint32(x)
	}
	for i, f := range *raw.Values {
		out.Values[i] = float32(f)
	}
	*v = out
	return nil
}

// Validate checks the vector with Qdrant's messages, naming the vector
// ("Validation error in JSON body: [<name>.values: must be the same length
// as indices]").
func (v SparseVector) Validate(name string) error {
	if len(v.Indices) != len(v.Values) {
		return ErrBodyValidation(name+".values", "must be the same length as indices")
	}
	if len(v.Indices) > 1 {
		seen := make(map[uint32]struct{}, len(v.Indices))
		for _, i := range v.Indices {
			if _, dup := seen[i]; dup {
				return ErrBodyValidation(name+".indices", "must be unique")
			}
			seen[i] = struct{}{}
		}
	}
	return CheckFinite(name, v.Values)
}

// Sorted returns v ordered by index (a copy when it is not sorted already).
func (v SparseVector) Sorted() SparseVector {
	if slices.IsSorted(v.Indices) {
		return v
	}
	type entry struct {
		i uint32
		v float32
	}
	es := make([]entry, len(v.Indices))
	for k := range es {
		es[k] = entry{v.Indices[k], v.Values[k]}
	}
	slices.SortFunc(es, func(a, b entry) int {
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	})
	out := SparseVector{Indices: make([]uint32, len(es)), Values: make([]float32, len(es))}
	for k, e := range es {
		out.Indices[k], out.Values[k] = e.i, e.v
	}
	return out
}

// MarshalJSON writes {"indices": [...], "values": [...]}, never null.
func (v SparseVector) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, 24+len(v.Indices)*16)
	buf = append(buf, `{"indices":[`...)
	for i, x := range v.Indices {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendUint(buf, uint64(x), 10)
	}
	buf = append(buf, `],"values":`...)
	buf = append(buf, marshalFloats(v.Values)...)
	return append(buf, '}'), nil
}

// isSparseObject reports whether a JSON object looks like a sparse vector
// (has an indices or values key) rather than an inference object.
func isSparseObject(b []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) != nil {
		return false
	}
	_, hasI := probe["indices"]
	_, hasV := probe["values"]
	return hasI || hasV
}

// DecodeVectorStruct reads a point's "vector" (Qdrant's VectorStruct) into
// its dense, sparse and multi-vectors: see DecodeVectorStructMulti. A
// multi-vector is refused here.
func DecodeVectorStruct(b []byte) (dense Vectors, sparse SparseVectors, err error) {
	dense, sparse, multi, err := DecodeVectorStructMulti(b)
	if err == nil && len(multi) > 0 {
		return nil, nil, ErrBadInput("a multi-vector is not accepted here")
	}
	return dense, sparse, err
}

// DecodeVectorStructMulti reads a point's "vector": an array (the unnamed
// dense vector), an array of arrays (the unnamed multi-vector) or an
// object of name to a dense array, a multi-vector or a sparse {indices,
// values} object. Inference objects are refused. sparse and multi are nil
// when there are none.
func DecodeVectorStructMulti(b []byte) (dense Vectors, sparse SparseVectors, multi MultiVectors, err error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil, nil, nil, nil
	}
	if isMultiArray(b) {
		vs, err := decodeMulti(b)
		if err != nil {
			return nil, nil, nil, err
		}
		return Vectors{}, nil, MultiVectors{DefaultVectorName: vs}, nil
	}
	dense, sparse, err = decodeVectorStruct(b, &multi)
	return dense, sparse, multi, err
}

func decodeVectorStruct(b []byte, multi *MultiVectors) (dense Vectors, sparse SparseVectors, err error) {
	if b[0] == '[' {
		vec, err := decodeDense(b)
		if err != nil {
			return nil, nil, err
		}
		return Vectors{DefaultVectorName: vec}, nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, ErrBadInput("vector must be an array of numbers or an object of named vectors")
	}
	if _, ok := raw["indices"]; ok {
		return nil, nil, ErrBadInput("a sparse vector must be given by name: {\"<name>\": {\"indices\": [...], \"values\": [...]}}")
	}
	dense = make(Vectors, len(raw))
	for name, r := range raw {
		r = bytes.TrimSpace(r)
		if len(r) > 0 && r[0] == '{' {
			if !isSparseObject(r) {
				return nil, nil, ErrBadInput("vector %q: documents, images and inference objects are not supported by this server", name)
			}
			var sv SparseVector
			if err := json.Unmarshal(r, &sv); err != nil {
				return nil, nil, err
			}
			if sparse == nil {
				sparse = SparseVectors{}
			}
			sparse[name] = sv
			continue
		}
		if isMultiArray(r) {
			vs, err := decodeMulti(r)
			if err != nil {
				return nil, nil, err
			}
			if *multi == nil {
				*multi = MultiVectors{}
			}
			(*multi)[name] = vs
			continue
		}
		vec, err := decodeDense(r)
		if err != nil {
			return nil, nil, err
		}
		dense[name] = vec
	}
	return dense, sparse, nil
}

// marshalVectorStruct writes dense, sparse and multi-vectors as one
// VectorStruct: the bare array for a lone unnamed dense vector (or array
// of arrays for a lone unnamed multi-vector), else one object.
func marshalVectorStruct(dense Vectors, sparse SparseVectors, multi ...MultiVectors) ([]byte, error) {
	var mv MultiVectors
	if len(multi) > 0 {
		mv = multi[0]
	}
	if len(mv) > 0 {
		if vs, ok := mv[DefaultVectorName]; ok && len(mv) == 1 && len(dense) == 0 && len(sparse) == 0 {
			return marshalMulti(vs), nil
		}
	}
	if len(sparse) == 0 && len(mv) == 0 {
		return dense.MarshalJSON()
	}
	m := make(map[string]json.RawMessage, len(dense)+len(sparse)+len(mv))
	for name, vs := range mv {
		m[name] = marshalMulti(vs)
	}
	for name, vec := range dense {
		m[name] = marshalFloats(vec)
	}
	for name, sv := range sparse {
		b, _ := sv.MarshalJSON()
		m[name] = b
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads {"id", "vector", "payload"}, splitting the vector
// struct into dense and sparse vectors.
func (p *PointStruct) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID      PointID         `json:"id"`
		Vector  json.RawMessage `json:"vector"`
		Payload Payload         `json:"payload"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	dense, sparse, multi, err := DecodeVectorStructMulti(raw.Vector)
	if err != nil {
		return err
	}
	*p = PointStruct{ID: raw.ID, Vector: dense, Sparse: sparse, Multi: multi, Payload: raw.Payload}
	return nil
}

// MarshalJSON writes the point with dense and sparse vectors in "vector".
func (p PointStruct) MarshalJSON() ([]byte, error) {
	vec, err := marshalVectorStruct(p.Vector, p.Sparse, p.Multi)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		ID      PointID         `json:"id"`
		Vector  json.RawMessage `json:"vector"`
		Payload Payload         `json:"payload,omitempty"`
	}{p.ID, vec, p.Payload})
}

// UnmarshalJSON reads {"id", "vector"} like PointStruct.
func (p *PointVectors) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID     PointID         `json:"id"`
		Vector json.RawMessage `json:"vector"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	dense, sparse, multi, err := DecodeVectorStructMulti(raw.Vector)
	if err != nil {
		return err
	}
	*p = PointVectors{ID: raw.ID, Vector: dense, Sparse: sparse, Multi: multi}
	return nil
}

// MarshalJSON writes {"id", "vector"} with dense and sparse vectors.
func (p PointVectors) MarshalJSON() ([]byte, error) {
	vec, err := marshalVectorStruct(p.Vector, p.Sparse, p.Multi)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		ID     PointID         `json:"id"`
		Vector json.RawMessage `json:"vector"`
	}{p.ID, vec})
}

// pointOut is the JSON shape shared by Record and ScoredPoint.
type pointOut struct {
	ID         PointID         `json:"id"`
	Version    *uint64         `json:"version,omitempty"`
	Score      *float32        `json:"score,omitempty"`
	Payload    Payload         `json:"payload,omitempty"`
	Vector     json.RawMessage `json:"vector,omitempty"`
	ShardKey   any             `json:"shard_key,omitempty"`
	OrderValue any             `json:"order_value,omitempty"`
}

// MarshalJSON writes the record, its dense and sparse vectors together in
// "vector" (present when vectors were requested, {} when it has none).
func (r Record) MarshalJSON() ([]byte, error) {
	out := pointOut{ID: r.ID, Payload: r.Payload, ShardKey: r.ShardKey, OrderValue: r.OrderValue}
	if r.Vector != nil || r.Sparse != nil || r.Multi != nil {
		vec, err := marshalVectorStruct(nonNilVectors(r.Vector), r.Sparse, r.Multi)
		if err != nil {
			return nil, err
		}
		out.Vector = vec
	}
	return json.Marshal(out)
}

// MarshalJSON writes the hit like Record, with its version and score.
func (s ScoredPoint) MarshalJSON() ([]byte, error) {
	out := pointOut{ID: s.ID, Version: &s.Version, Score: &s.Score, Payload: s.Payload, ShardKey: s.ShardKey, OrderValue: s.OrderValue}
	if s.Vector != nil || s.Sparse != nil || s.Multi != nil {
		vec, err := marshalVectorStruct(nonNilVectors(s.Vector), s.Sparse, s.Multi)
		if err != nil {
			return nil, err
		}
		out.Vector = vec
	}
	return json.Marshal(out)
}

func nonNilVectors(v Vectors) Vectors {
	if v == nil {
		return Vectors{}
	}
	return v
}

// VectorJSON returns the record's "vector" value (dense and sparse vectors
// in one vector struct) as raw JSON.
func (r Record) VectorJSON() json.RawMessage {
	b, err := marshalVectorStruct(nonNilVectors(r.Vector), r.Sparse, r.Multi)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// CheckSparseShape refuses, with Qdrant's 422 texts for a point's vectors
// ("Validation error in JSON body: [points[0].vector.?.values: Validation
// error: must be the same length as indices [{}]]"), a sparse vector whose
// values and indices differ in number or whose indices repeat. field names
// the point's vectors ("points[0].vector"). Queries keep Validate's texts.
func CheckSparseShape(field string, s SparseVectors) error {
	for _, v := range s {
		if len(v.Indices) != len(v.Values) {
			return ErrBodyValidation(field+".?.values", "Validation error: must be the same length as indices [{}]")
		}
		if len(v.Indices) > 1 {
			seen := make(map[uint32]struct{}, len(v.Indices))
			for _, i := range v.Indices {
				if _, dup := seen[i]; dup {
					return ErrBodyValidation(field+".?.indices", "Validation error: must be unique [{}]")
				}
				seen[i] = struct{}{}
			}
		}
	}
	return nil
}
