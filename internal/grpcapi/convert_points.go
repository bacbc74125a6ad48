package grpcapi

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/qdrant/go-client/qdrant"

	"github.com/shoal-db/shoal/internal/api"
)

// Error texts for the vector kinds Shoal does not store; they match the
// REST adapter's (package api) wording.
const (
	errSparse    = "a sparse vector is not supported here: give it as a named vector of a sparse vector name"
	errMulti     = "a multi-vector is not accepted here: give one dense vector"
	errInference = "documents, images and inference objects are not supported by this server; send dense vectors"
)

// denseFromVector extracts the dense data of a Vector, in either the current
// oneof form or the deprecated data/indices/vectors_count form.
func denseFromVector(v *qdrant.Vector) ([]float32, error) {
	switch x := v.GetVector().(type) {
	case *qdrant.Vector_Dense:
		return nonNilFloats(x.Dense.GetData()), nil
	case *qdrant.Vector_Sparse:
		return nil, api.ErrBadInput(errSparse)
	case *qdrant.Vector_MultiDense:
		return nil, api.ErrBadInput(errMulti)
	case *qdrant.Vector_Document, *qdrant.Vector_Image, *qdrant.Vector_Object:
		return nil, api.ErrBadInput(errInference)
	}
	//nolint:staticcheck // the deprecated fields are still sent by older clients.
	if v.GetIndices() != nil {
		return nil, api.ErrBadInput(errSparse)
	}
	//nolint:staticcheck // as above.
	if v.VectorsCount != nil && v.GetVectorsCount() > 1 {
		return nil, api.ErrBadInput(errMulti)
	}
	//nolint:staticcheck // as above.
	return nonNilFloats(v.GetData()), nil
}

func nonNilFloats(f []float32) []float32 {
	if f == nil {
		return []float32{}
	}
	return f
}

// vectorsFromProto converts a point's vectors; nil stays nil (the service
// reports a missing vector in its own words).
func vectorsFromProto(v *qdrant.Vectors) (api.Vectors, error) {
	switch x := v.GetVectorsOptions().(type) {
	case *qdrant.Vectors_Vector:
		if isMultiVector(x.Vector) {
			return api.Vectors{}, nil // multiFromProto takes it
		}
		d, err := denseFromVector(x.Vector)
		if err != nil {
			return nil, err
		}
		return api.Vectors{api.DefaultVectorName: d}, nil
	case *qdrant.Vectors_Vectors:
		m := x.Vectors.GetVectors()
		out := make(api.Vectors, len(m))
		for name, vec := range m {
			if isSparseVector(vec) || isMultiVector(vec) {
				continue // sparseFromProto or multiFromProto takes it
			}
			d, err := denseFromVector(vec)
			if err != nil {
				return nil, err
			}
			out[name] = d
		}
		return out, nil
	}
	return nil, nil
}

// isSparseVector reports whether a Vector holds a sparse vector, in the
// oneof or the deprecated data + indices form.
func isSparseVector(v *qdrant.Vector) bool {
	if _, ok := v.GetVector().(*qdrant.Vector_Sparse); ok {
		return true
	}
	//nolint:staticcheck // the deprecated fields are still sent by older clients.
	return v.GetVector() == nil && v.GetIndices() != nil
}

// isMultiVector reports whether a Vector holds a multi-vector, in the
// oneof or the deprecated data + vectors_count form.
func isMultiVector(v *qdrant.Vector) bool {
	if _, ok := v.GetVector().(*qdrant.Vector_MultiDense); ok {
		return true
	}
	//nolint:staticcheck // the deprecated fields are still sent by older clients.
	return v.GetVector() == nil && v.VectorsCount != nil && v.GetVectorsCount() > 1
}

// multiOf converts a Vector holding a multi-vector.
func multiOf(v *qdrant.Vector) ([][]float32, error) {
	if md, ok := v.GetVector().(*qdrant.Vector_MultiDense); ok {
		out := make([][]float32, len(md.MultiDense.GetVectors()))
		for i, d := range md.MultiDense.GetVectors() {
			out[i] = nonNilFloats(d.GetData())
		}
		return out, nil
	}
	//nolint:staticcheck // as above.
	data, n := v.GetData(), int(v.GetVectorsCount())
	if n <= 0 || len(data)%n != 0 {
		return nil, api.ErrBadInput("multi-vector of %d numbers cannot be split into %d vectors", len(data), n)
	}
	dim := len(data) / n
	out := make([][]float32, n)
	for i := range out {
		out[i] = data[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return out, nil
}

// multiFromProto collects the multi-vectors of a point's vectors, unnamed
// or named (nil for none).
func multiFromProto(v *qdrant.Vectors) (api.MultiVectors, error) {
	var out api.MultiVectors
	add := func(name string, vec *qdrant.Vector) error {
		if !isMultiVector(vec) {
			return nil
		}
		vs, err := multiOf(vec)
		if err != nil {
			return err
		}
		if out == nil {
			out = api.MultiVectors{}
		}
		out[name] = vs
		return nil
	}
	if x, ok := v.GetVectorsOptions().(*qdrant.Vectors_Vector); ok {
		return out, add(api.DefaultVectorName, x.Vector)
	}
	for name, vec := range v.GetVectors().GetVectors() {
		if err := add(name, vec); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func multiOutput(vs [][]float32) *qdrant.VectorOutput {
	ds := make([]*qdrant.DenseVector, len(vs))
	for i, v := range vs {
		ds[i] = &qdrant.DenseVector{Data: v}
	}
	return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_MultiDense{MultiDense: &qdrant.MultiDenseVector{Vectors: ds}}}
}

// sparseFromProto collects the sparse vectors of a point's named vectors
// (nil for none).
func sparseFromProto(v *qdrant.Vectors) api.SparseVectors {
	var out api.SparseVectors
	for name, vec := range v.GetVectors().GetVectors() {
		if !isSparseVector(vec) {
			continue
		}
		if out == nil {
			out = api.SparseVectors{}
		}
		if sv, ok := vec.GetVector().(*qdrant.Vector_Sparse); ok {
			out[name] = api.SparseVector{Indices: nonNilU32(sv.Sparse.GetIndices()), Values: nonNilFloats(sv.Sparse.GetValues())}
			continue
		}
		//nolint:staticcheck // as above.
		out[name] = api.SparseVector{Indices: nonNilU32(vec.GetIndices().GetData()), Values: nonNilFloats(vec.GetData())}
	}
	return out
}

func nonNilU32(u []uint32) []uint32 {
	if u == nil {
		return []uint32{}
	}
	return u
}

// extraOutputs adds sparse and multi-vectors to a point's output vectors
// (the named form, or the unnamed one for a lone unnamed multi-vector).
func extraOutputs(out *qdrant.VectorsOutput, dense api.Vectors, sparse api.SparseVectors, multi api.MultiVectors) *qdrant.VectorsOutput {
	if len(sparse) == 0 && len(multi) == 0 {
		return out
	}
	if vs, ok := multi[api.DefaultVectorName]; ok && len(multi) == 1 && len(dense) == 0 && len(sparse) == 0 {
		return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: multiOutput(vs)}}
	}
	m := make(map[string]*qdrant.VectorOutput, len(dense)+len(sparse)+len(multi))
	for name, vs := range multi {
		m[name] = multiOutput(vs)
	}
	for name, vec := range dense {
		m[name] = denseOutput(vec)
	}
	for name, sv := range sparse {
		m[name] = &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Sparse{Sparse: &qdrant.SparseVector{Indices: sv.Indices, Values: sv.Values}}}
	}
	return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vectors{Vectors: &qdrant.NamedVectorsOutput{Vectors: m}}}
}

func vectorsToProto(v api.Vectors) *qdrant.Vectors {
	if vec, ok := v[api.DefaultVectorName]; ok && len(v) == 1 {
		return qdrant.NewVectorsDense(vec)
	}
	m := make(map[string]*qdrant.Vector, len(v))
	for name, vec := range v {
		m[name] = qdrant.NewVectorDense(vec)
	}
	return qdrant.NewVectorsMap(m)
}

// vectorsOutputToProto writes the unnamed form when the only vector is the
// unnamed one, otherwise the named map. nil (vectors not requested) stays
// nil.
func vectorsOutputToProto(v api.Vectors) *qdrant.VectorsOutput {
	if v == nil {
		return nil
	}
	if vec, ok := v[api.DefaultVectorName]; ok && len(v) == 1 {
		return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: denseOutput(vec)}}
	}
	m := make(map[string]*qdrant.VectorOutput, len(v))
	for name, vec := range v {
		m[name] = denseOutput(vec)
	}
	return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vectors{Vectors: &qdrant.NamedVectorsOutput{Vectors: m}}}
}

func denseOutput(vec []float32) *qdrant.VectorOutput {
	return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Dense{Dense: &qdrant.DenseVector{Data: vec}}}
}

// vectorsFromOutput is the inverse of vectorsOutputToProto (tests, load tool).
func vectorsFromOutput(v *qdrant.VectorsOutput) api.Vectors {
	switch x := v.GetVectorsOptions().(type) {
	case *qdrant.VectorsOutput_Vector:
		return api.Vectors{api.DefaultVectorName: x.Vector.GetDenseVector().GetData()}
	case *qdrant.VectorsOutput_Vectors:
		out := api.Vectors{}
		for name, vec := range x.Vectors.GetVectors() {
			out[name] = vec.GetDenseVector().GetData()
		}
		return out
	}
	return nil
}

// idAndVectorsFromProto converts the id and the vectors of a point, in that
// order.
func idAndVectorsFromProto(pid *qdrant.PointId, v *qdrant.Vectors) (api.PointID, api.Vectors, error) {
	id, err := idFromProto(pid)
	if err != nil {
		return api.PointID{}, nil, err
	}
	vecs, err := vectorsFromProto(v)
	if err != nil {
		return api.PointID{}, nil, err
	}
	return id, vecs, nil
}

func pointsFromProto(ps []*qdrant.PointStruct) ([]api.PointStruct, error) {
	out := make([]api.PointStruct, len(ps))
	for i, p := range ps {
		id, vecs, err := idAndVectorsFromProto(p.GetId(), p.GetVectors())
		if err != nil {
			return nil, err
		}
		payload, err := payloadFromProto(p.GetPayload())
		if err != nil {
			return nil, err
		}
		multi, err := multiFromProto(p.GetVectors())
		if err != nil {
			return nil, err
		}
		out[i] = api.PointStruct{ID: id, Vector: vecs, Sparse: sparseFromProto(p.GetVectors()), Multi: multi, Payload: payload}
	}
	return out, nil
}

func pointVectorsFromProto(ps []*qdrant.PointVectors) ([]api.PointVectors, error) {
	out := make([]api.PointVectors, len(ps))
	for i, p := range ps {
		id, vecs, err := idAndVectorsFromProto(p.GetId(), p.GetVectors())
		if err != nil {
			return nil, err
		}
		if vecs == nil {
			vecs = api.Vectors{}
		}
		multi, err := multiFromProto(p.GetVectors())
		if err != nil {
			return nil, err
		}
		out[i] = api.PointVectors{ID: id, Vector: vecs, Sparse: sparseFromProto(p.GetVectors()), Multi: multi}
	}
	return out, nil
}

// pointsSelectorFromProto converts ids-or-filter; an empty selector selects
// nothing and is rejected, as Qdrant rejects it.
func pointsSelectorFromProto(s *qdrant.PointsSelector) (ids []api.PointID, f *api.Filter, err error) {
	switch x := s.GetPointsSelectorOneOf().(type) {
	case *qdrant.PointsSelector_Points:
		ids, err = idsFromProto(x.Points.GetIds())
		if ids == nil && err == nil {
			ids = []api.PointID{}
		}
		return ids, nil, err
	case *qdrant.PointsSelector_Filter:
		f, err = filterFromProto(x.Filter)
		if f == nil && err == nil {
			f = &api.Filter{}
		}
		return nil, f, err
	}
	return nil, nil, api.ErrBadInput("points selector is empty: expected a list of ids or a filter")
}

func selectorFromProto(s *qdrant.PointsSelector, sk *qdrant.ShardKeySelector) (*api.PointsSelector, error) {
	ids, f, err := pointsSelectorFromProto(s)
	if err != nil {
		return nil, err
	}
	key, err := shardKeySelectorFromProto(sk)
	if err != nil {
		return nil, err
	}
	return &api.PointsSelector{Points: ids, Filter: f, ShardKey: key}, nil
}

// optionalSelectorFromProto is for set/delete payload, where the selector is
// optional in the message but required by Qdrant.
func optionalSelectorFromProto(s *qdrant.PointsSelector) ([]api.PointID, *api.Filter, error) {
	if s == nil {
		return nil, nil, api.ErrBadInput("points_selector is required: give a list of ids or a filter")
	}
	return pointsSelectorFromProto(s)
}

// Output records.

func orderValueToProto(v any) *qdrant.OrderValue {
	switch x := v.(type) {
	case nil:
		return nil
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return qdrant.NewOrderValueInt(i)
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return qdrant.NewOrderValueFloat(f)
		}
	case float64:
		return qdrant.NewOrderValueFloat(x)
	case float32:
		return qdrant.NewOrderValueFloat(float64(x))
	case int64:
		return qdrant.NewOrderValueInt(x)
	case int:
		return qdrant.NewOrderValueInt(int64(x))
	case uint64:
		if x <= math.MaxInt64 {
			return qdrant.NewOrderValueInt(int64(x))
		}
		return qdrant.NewOrderValueFloat(float64(x))
	}
	return nil
}

func recordToProto(r *api.Record) (*qdrant.RetrievedPoint, error) {
	payload, err := payloadToProto(r.Payload)
	if err != nil {
		return nil, err
	}
	out := &qdrant.RetrievedPoint{
		Id:         idToProto(r.ID),
		Payload:    payload,
		Vectors:    extraOutputs(vectorsOutputToProto(r.Vector), r.Vector, r.Sparse, r.Multi),
		OrderValue: orderValueToProto(r.OrderValue),
	}
	if r.ShardKey != nil {
		out.ShardKey = shardKeyToProto(r.ShardKey)
	}
	return out, nil
}

func recordsToProto(rs []api.Record) ([]*qdrant.RetrievedPoint, error) {
	return listToProto(rs, recordToProto)
}

// listToProto converts every element of in with conv, stopping at the first
// error.
func listToProto[In, Out any](in []In, conv func(*In) (Out, error)) ([]Out, error) {
	out := make([]Out, len(in))
	for i := range in {
		o, err := conv(&in[i])
		if err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}

func scoredToProto(s *api.ScoredPoint) (*qdrant.ScoredPoint, error) {
	payload, err := payloadToProto(s.Payload)
	if err != nil {
		return nil, err
	}
	out := &qdrant.ScoredPoint{
		Id:         idToProto(s.ID),
		Payload:    payload,
		Score:      s.Score,
		Version:    s.Version,
		Vectors:    extraOutputs(vectorsOutputToProto(s.Vector), s.Vector, s.Sparse, s.Multi),
		OrderValue: orderValueToProto(s.OrderValue),
	}
	if s.ShardKey != nil {
		out.ShardKey = shardKeyToProto(s.ShardKey)
	}
	return out, nil
}

func scoredListToProto(ss []api.ScoredPoint) ([]*qdrant.ScoredPoint, error) {
	return listToProto(ss, scoredToProto)
}

func batchToProto(lists [][]api.ScoredPoint) ([]*qdrant.BatchResult, error) {
	out := make([]*qdrant.BatchResult, len(lists))
	for i, l := range lists {
		pts, err := scoredListToProto(l)
		if err != nil {
			return nil, err
		}
		out[i] = &qdrant.BatchResult{Result: pts}
	}
	return out, nil
}

func groupIDToProto(v any) (*qdrant.GroupId, error) {
	switch x := v.(type) {
	case string:
		return qdrant.NewGroupIDString(x), nil
	case json.Number:
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return qdrant.NewGroupIDUnsigned(u), nil
		}
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return qdrant.NewGroupIDInt(i), nil
		}
	case int64:
		if x >= 0 {
			return qdrant.NewGroupIDUnsigned(uint64(x)), nil
		}
		return qdrant.NewGroupIDInt(x), nil
	case int:
		if x >= 0 {
			return qdrant.NewGroupIDUnsigned(uint64(x)), nil
		}
		return qdrant.NewGroupIDInt(int64(x)), nil
	case uint64:
		return qdrant.NewGroupIDUnsigned(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			if x >= 0 {
				return qdrant.NewGroupIDUnsigned(uint64(x)), nil
			}
			return qdrant.NewGroupIDInt(int64(x)), nil
		}
	}
	return nil, api.ErrInternal(nil, "group id %v (%T) is neither a string nor an integer", v, v)
}

func groupsToProto(g *api.GroupsResult) (*qdrant.GroupsResult, error) {
	out := &qdrant.GroupsResult{Groups: make([]*qdrant.PointGroup, 0, len(g.Groups))}
	for i := range g.Groups {
		grp := &g.Groups[i]
		id, err := groupIDToProto(grp.ID)
		if err != nil {
			return nil, err
		}
		hits, err := scoredListToProto(grp.Hits)
		if err != nil {
			return nil, err
		}
		pg := &qdrant.PointGroup{Id: id, Hits: hits}
		if grp.Lookup != nil {
			if pg.Lookup, err = recordToProto(grp.Lookup); err != nil {
				return nil, err
			}
		}
		out.Groups = append(out.Groups, pg)
	}
	return out, nil
}

func facetValueToProto(v any) (*qdrant.FacetValue, error) {
	switch x := v.(type) {
	case string:
		return &qdrant.FacetValue{Variant: &qdrant.FacetValue_StringValue{StringValue: x}}, nil
	case bool:
		return &qdrant.FacetValue{Variant: &qdrant.FacetValue_BoolValue{BoolValue: x}}, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return &qdrant.FacetValue{Variant: &qdrant.FacetValue_IntegerValue{IntegerValue: i}}, nil
		}
	case int64:
		return &qdrant.FacetValue{Variant: &qdrant.FacetValue_IntegerValue{IntegerValue: x}}, nil
	case int:
		return &qdrant.FacetValue{Variant: &qdrant.FacetValue_IntegerValue{IntegerValue: int64(x)}}, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return &qdrant.FacetValue{Variant: &qdrant.FacetValue_IntegerValue{IntegerValue: int64(x)}}, nil
		}
	}
	return nil, api.ErrInternal(nil, "facet value %v (%T) is not a string, integer or bool", v, v)
}
