package api

import (
	"bytes"
	"encoding/json"
)

// PointStruct is a point to upsert.
type PointStruct struct {
	ID      PointID       `json:"id"`
	Vector  Vectors       `json:"vector"`
	Sparse  SparseVectors `json:"-"` // written into "vector" beside the dense ones
	Multi   MultiVectors  `json:"-"` // likewise
	Payload Payload       `json:"payload,omitempty"`
}

// Record is a stored point as returned by get and scroll.
type Record struct {
	ID         PointID       `json:"id"`
	Payload    Payload       `json:"payload,omitempty"`
	Vector     Vectors       `json:"vector,omitzero"` // nil: not requested; empty: the point has none
	Sparse     SparseVectors `json:"-"`               // written into "vector" beside the dense ones
	Multi      MultiVectors  `json:"-"`               // likewise
	ShardKey   any           `json:"shard_key,omitempty"`
	OrderValue any           `json:"order_value,omitempty"` // json.Number when ordered by a field
}

// ScoredPoint is a search hit.
type ScoredPoint struct {
	ID         PointID       `json:"id"`
	Version    uint64        `json:"version"`
	Score      float32       `json:"score"`
	Payload    Payload       `json:"payload,omitempty"`
	Vector     Vectors       `json:"vector,omitzero"` // nil: not requested; empty: the point has none
	Sparse     SparseVectors `json:"-"`               // written into "vector" beside the dense ones
	Multi      MultiVectors  `json:"-"`               // likewise
	ShardKey   any           `json:"shard_key,omitempty"`
	OrderValue any           `json:"order_value,omitempty"`
}

// UpdateMode is the mode of an upsert: which of its points take effect.
type UpdateMode string

// Update modes; the empty mode means UpdateModeUpsert.
const (
	UpdateModeUpsert     UpdateMode = "upsert"      // insert new points, update existing ones
	UpdateModeInsertOnly UpdateMode = "insert_only" // insert new points, leave existing ones as they are
	UpdateModeUpdateOnly UpdateMode = "update_only" // update existing points, skip new ones
)

// UnmarshalJSON accepts the three modes and refuses anything else with
// Qdrant's wording.
func (m *UpdateMode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return ErrBadInput("update_mode must be a string: one of `upsert`, `insert_only`, `update_only`")
	}
	switch mode := UpdateMode(s); mode {
	case UpdateModeUpsert, UpdateModeInsertOnly, UpdateModeUpdateOnly:
		*m = mode
		return nil
	}
	return ErrBadInput("unknown variant `%s`, expected one of `upsert`, `insert_only`, `update_only`", s)
}

// UpsertPoints is PointInsertOperations: either Points or the column Batch
// form; the decoder normalises both into Points.
type UpsertPoints struct {
	Points       []PointStruct `json:"points"`
	ShardKey     any           `json:"shard_key,omitempty"`
	UpdateFilter *Filter       `json:"update_filter,omitempty"` // only update existing points matching it
	UpdateMode   UpdateMode    `json:"update_mode,omitempty"`   // "" is UpdateModeUpsert
}

// UnmarshalJSON accepts {"points": [...]} and {"batch": {ids, vectors, payloads}}.
func (u *UpsertPoints) UnmarshalJSON(b []byte) error {
	var raw struct {
		Points       []PointStruct    `json:"points"`
		Batch        *json.RawMessage `json:"batch"`
		ShardKey     any              `json:"shard_key"`
		UpdateFilter *Filter          `json:"update_filter"`
		UpdateMode   *UpdateMode      `json:"update_mode"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		var ae *Error
		if asErr(err, &ae) {
			return ae
		}
		return ErrBadInput("invalid points: %v", err)
	}
	u.ShardKey, u.UpdateFilter, u.UpdateMode = raw.ShardKey, raw.UpdateFilter, ""
	if raw.UpdateMode != nil {
		u.UpdateMode = *raw.UpdateMode
	}
	switch {
	case raw.Points != nil && raw.Batch != nil:
		return ErrBadInput("give either points or batch, not both")
	case raw.Points != nil:
		u.Points = raw.Points
	case raw.Batch != nil:
		var batch struct {
			IDs      []PointID         `json:"ids"`
			Vectors  json.RawMessage   `json:"vectors"`
			Payloads []json.RawMessage `json:"payloads"`
		}
		if err := json.Unmarshal(*raw.Batch, &batch); err != nil {
			return ErrBadInput("invalid batch: %v", err)
		}
		var multi []MultiVectors
		vecs, sparse, err := decodeBatchVectors(batch.Vectors, len(batch.IDs), &multi)
		if err != nil {
			return err
		}
		if u.Points, err = assembleBatch(batch.IDs, vecs, batch.Payloads); err != nil {
			return err
		}
		for i, sv := range sparse {
			u.Points[i].Sparse = sv
		}
		for i, mv := range multi {
			u.Points[i].Multi = mv
		}
	default:
		return ErrBadInput("missing field `points` or `batch`")
	}
	return nil
}

// assembleBatch zips the columns of the batch form into points.
func assembleBatch(ids []PointID, vecs []Vectors, payloads []json.RawMessage) ([]PointStruct, error) {
	if payloads != nil && len(payloads) != len(ids) {
		return nil, ErrBadInput("batch has %d ids but %d payloads", len(ids), len(payloads))
	}
	pts := make([]PointStruct, len(ids))
	for i, id := range ids {
		pts[i] = PointStruct{ID: id, Vector: vecs[i]}
		if payloads != nil && !bytes.Equal(bytes.TrimSpace(payloads[i]), []byte("null")) {
			p, err := DecodePayload(payloads[i])
			if err != nil {
				return nil, err
			}
			pts[i].Payload = p
		}
	}
	return pts, nil
}

// decodeBatchVectors reads BatchVectorStruct: a list of vectors (unnamed) or
// an object of name to list of vectors, dense or sparse. sparse is nil
// when there are none.
func decodeBatchVectors(b json.RawMessage, n int, multi *[]MultiVectors) (out []Vectors, sparse []SparseVectors, err error) {
	addMulti := func(i int, name string, r []byte) error {
		vs, err := decodeMulti(r)
		if err != nil {
			return err
		}
		if *multi == nil {
			*multi = make([]MultiVectors, n)
		}
		if (*multi)[i] == nil {
			(*multi)[i] = MultiVectors{}
		}
		(*multi)[i][name] = vs
		return nil
	}
	out = make([]Vectors, n)
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		if vecs, end, ok := parseFloatArrays(b, 0); ok && end == len(b) {
			if len(vecs) != n {
				return nil, nil, ErrBadInput("batch has %d ids but %d vectors", n, len(vecs))
			}
			for i, v := range vecs {
				out[i] = Vectors{DefaultVectorName: v}
			}
			return out, nil, nil
		}
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, nil, ErrBadInput("invalid batch vectors: %v", err)
		}
		if len(list) != n {
			return nil, nil, ErrBadInput("batch has %d ids but %d vectors", n, len(list))
		}
		for i, r := range list {
			if r = bytes.TrimSpace(r); isMultiArray(r) {
				if err := addMulti(i, DefaultVectorName, r); err != nil {
					return nil, nil, err
				}
				out[i] = Vectors{}
				continue
			}
			v, err := decodeDense(r)
			if err != nil {
				return nil, nil, err
			}
			out[i] = Vectors{DefaultVectorName: v}
		}
		return out, nil, nil
	}
	var named map[string][]json.RawMessage
	if err := json.Unmarshal(b, &named); err != nil {
		return nil, nil, ErrBadInput("invalid batch vectors: %v", err)
	}
	for i := range out {
		out[i] = Vectors{}
	}
	for name, list := range named {
		if len(list) != n {
			return nil, nil, ErrBadInput("batch has %d ids but %d vectors named %q", n, len(list), name)
		}
		for i, r := range list {
			if r = bytes.TrimSpace(r); len(r) > 0 && r[0] == '{' && isSparseObject(r) {
				var sv SparseVector
				if err := json.Unmarshal(r, &sv); err != nil {
					return nil, nil, err
				}
				if sparse == nil {
					sparse = make([]SparseVectors, n)
				}
				if sparse[i] == nil {
					sparse[i] = SparseVectors{}
				}
				sparse[i][name] = sv
				continue
			}
			if isMultiArray(r) {
				if err := addMulti(i, name, r); err != nil {
					return nil, nil, err
				}
				continue
			}
			v, err := decodeDense(r)
			if err != nil {
				return nil, nil, err
			}
			out[i][name] = v
		}
	}
	return out, sparse, nil
}

// PointsSelector selects points by ids or by filter.
type PointsSelector struct {
	Points   []PointID `json:"points,omitempty"`
	Filter   *Filter   `json:"filter,omitempty"`
	ShardKey any       `json:"shard_key,omitempty"`
}

// SetPayload sets (merges) or overwrites payload keys of the selected points.
// Key, when set, is a path into the payload at which Payload is merged.
type SetPayload struct {
	Payload  Payload   `json:"payload"`
	Points   []PointID `json:"points,omitempty"`
	Filter   *Filter   `json:"filter,omitempty"`
	Key      *string   `json:"key,omitempty"`
	ShardKey any       `json:"shard_key,omitempty"`
}

// DeletePayload deletes keys (paths) from the selected points' payloads.
type DeletePayload struct {
	Keys     []string  `json:"keys"`
	Points   []PointID `json:"points,omitempty"`
	Filter   *Filter   `json:"filter,omitempty"`
	ShardKey any       `json:"shard_key,omitempty"`
}

// PointVectors is one point's vectors for UpdateVectors.
type PointVectors struct {
	ID     PointID       `json:"id"`
	Vector Vectors       `json:"vector"`
	Sparse SparseVectors `json:"-"` // written into "vector" beside the dense ones
	Multi  MultiVectors  `json:"-"` // likewise
}

// UpdateVectors replaces the named vectors given, keeping the others.
type UpdateVectors struct {
	Points       []PointVectors `json:"points"`
	ShardKey     any            `json:"shard_key,omitempty"`
	UpdateFilter *Filter        `json:"update_filter,omitempty"`
}

// DeleteVectors removes named vectors from the selected points.
type DeleteVectors struct {
	Points   []PointID `json:"points,omitempty"`
	Filter   *Filter   `json:"filter,omitempty"`
	Vector   []string  `json:"vector"`
	ShardKey any       `json:"shard_key,omitempty"`
}

// UpdateOperation is one element of a batch update; exactly one field is set.
type UpdateOperation struct {
	Upsert           *UpsertPoints   `json:"upsert,omitempty"`
	Delete           *PointsSelector `json:"delete,omitempty"`
	SetPayload       *SetPayload     `json:"set_payload,omitempty"`
	OverwritePayload *SetPayload     `json:"overwrite_payload,omitempty"`
	DeletePayload    *DeletePayload  `json:"delete_payload,omitempty"`
	ClearPayload     *PointsSelector `json:"clear_payload,omitempty"`
	UpdateVectors    *UpdateVectors  `json:"update_vectors,omitempty"`
	DeleteVectors    *DeleteVectors  `json:"delete_vectors,omitempty"`
}

// UpdateBatch is the body of POST /points/batch.
type UpdateBatch struct {
	Operations []UpdateOperation `json:"operations"`
}

// UpdateStatus is the status of a write.
type UpdateStatus string

// Update statuses.
const (
	UpdateAcknowledged UpdateStatus = "acknowledged"
	UpdateCompleted    UpdateStatus = "completed"
	UpdateWaitTimeout  UpdateStatus = "wait_timeout"
)

// UpdateResult is the result of a write.
type UpdateResult struct {
	OperationID *uint64      `json:"operation_id,omitempty"`
	Status      UpdateStatus `json:"status"`
}

// WriteOrdering is Qdrant's write ordering guarantee.
type WriteOrdering string

// Orderings.
const (
	OrderingWeak   WriteOrdering = "weak"
	OrderingMedium WriteOrdering = "medium"
	OrderingStrong WriteOrdering = "strong"
)

// WriteParams are the query parameters of every write.
type WriteParams struct {
	Wait     bool
	Ordering WriteOrdering
	// Timeout bounds the write; zero means the server default.
	TimeoutSeconds int
}

// ReadParams are the query parameters of every read.
type ReadParams struct {
	// Consistency is "", "majority", "quorum", "all" or a decimal factor.
	Consistency    string
	TimeoutSeconds int
}

// GetPoints is the body of POST /points.
type GetPoints struct {
	IDs         []PointID        `json:"ids"`
	WithPayload *PayloadSelector `json:"with_payload,omitempty"`
	WithVector  *VectorSelector  `json:"with_vector,omitempty"`
	WithVectors *VectorSelector  `json:"with_vectors,omitempty"` // alias of with_vector (ResolveAliases)
	ShardKey    any              `json:"shard_key,omitempty"`
}

// OrderBy orders scroll results by a payload field (which needs a range
// index).
type OrderBy struct {
	Key       string `json:"key"`
	Direction string `json:"direction,omitempty"`  // "asc" (default) or "desc"
	StartFrom any    `json:"start_from,omitempty"` // number or datetime string
}

// UnmarshalJSON accepts a bare key string or the object form.
func (o *OrderBy) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &o.Key)
	}
	type plain OrderBy
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return ErrBadInput("invalid order_by: %v", err)
	}
	*o = OrderBy(p)
	return nil
}

// ScrollRequest is the body of POST /points/scroll.
type ScrollRequest struct {
	Offset      *PointID         `json:"offset,omitempty"`
	Limit       *int             `json:"limit,omitempty"` // default 10
	Filter      *Filter          `json:"filter,omitempty"`
	WithPayload *PayloadSelector `json:"with_payload,omitempty"`
	WithVector  *VectorSelector  `json:"with_vector,omitempty"`
	WithVectors *VectorSelector  `json:"with_vectors,omitempty"` // alias of with_vector (ResolveAliases)
	OrderBy     *OrderBy         `json:"order_by,omitempty"`
	ShardKey    any              `json:"shard_key,omitempty"`
}

// ScrollResult is a page of records.
type ScrollResult struct {
	Points         []Record `json:"points"`
	NextPageOffset *PointID `json:"next_page_offset"`
}

// CountRequest is the body of POST /points/count.
type CountRequest struct {
	Filter   *Filter `json:"filter,omitempty"`
	Exact    *bool   `json:"exact,omitempty"` // default true
	ShardKey any     `json:"shard_key,omitempty"`
}

// CountResult is the result of a count.
type CountResult struct {
	Count uint64 `json:"count"`
}

// FacetRequest is the body of POST /facet.
type FacetRequest struct {
	Key      string  `json:"key"`
	Limit    *int    `json:"limit,omitempty"` // default 10
	Filter   *Filter `json:"filter,omitempty"`
	Exact    *bool   `json:"exact,omitempty"`
	ShardKey any     `json:"shard_key,omitempty"`
}

// FacetHit is one value and its count; Value is a string, json.Number or bool.
type FacetHit struct {
	Value any    `json:"value"`
	Count uint64 `json:"count"`
}

// FacetResponse lists the most frequent values.
type FacetResponse struct {
	Hits []FacetHit `json:"hits"`
}

// SearchMatrixRequest is the body of the distance-matrix endpoints.
type SearchMatrixRequest struct {
	Sample   *int    `json:"sample,omitempty"` // default 10
	Limit    *int    `json:"limit,omitempty"`  // default 3
	Filter   *Filter `json:"filter,omitempty"`
	Using    *string `json:"using,omitempty"`
	ShardKey any     `json:"shard_key,omitempty"`
}

// SearchMatrixPair is one pair of the pairs form.
type SearchMatrixPair struct {
	A     PointID `json:"a"`
	B     PointID `json:"b"`
	Score float32 `json:"score"`
}

// SearchMatrixPairs is the pairs form of the distance matrix.
type SearchMatrixPairs struct {
	Pairs []SearchMatrixPair `json:"pairs"`
}

// SearchMatrixOffsets is the offsets (sparse matrix) form.
type SearchMatrixOffsets struct {
	OffsetsRow []uint64  `json:"offsets_row"`
	OffsetsCol []uint64  `json:"offsets_col"`
	Scores     []float32 `json:"scores"`
	IDs        []PointID `json:"ids"`
}

func asErr(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}
