package grpcapi

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"github.com/shoal-db/shoal/internal/api"
)

// maxPrefetchDepth bounds prefetch nesting so that a hostile message cannot
// exhaust the stack.
const maxPrefetchDepth = 16

// searchParamsFromProto converts a search's parameters. Two options Shoal
// does not implement are refused rather than dropped: ACORN filtered
// search (`acorn.enable`) and IDF statistics over a corpus filter
// (`idf.corpus`); their off settings (acorn disabled, global idf) are
// what Shoal does and are accepted.
func searchParamsFromProto(p *qdrant.SearchParams) (*api.SearchParams, error) {
	if p == nil {
		return nil, nil
	}
	if p.GetAcorn().GetEnable() {
		return nil, api.ErrBadInput("search params: acorn is not supported by this server")
	}
	if p.GetIdf().GetCorpus() != nil {
		return nil, api.ErrBadInput("search params: idf with a corpus filter is not supported by this server: sparse IDF statistics are collection-wide")
	}
	out := &api.SearchParams{HnswEf: u64ToIntPtr(p.HnswEf), Exact: p.GetExact(), IndexedOnly: p.GetIndexedOnly()}
	if q := p.GetQuantization(); q != nil {
		raw, err := messageToJSON(q.ProtoReflect())
		if err != nil {
			return nil, err
		}
		out.Quantization = raw
	}
	return out, nil
}

func limitPtr(u *uint64) *int {
	if u == nil {
		return nil
	}
	v := int(min(*u, math.MaxInt32))
	return &v
}

func limitOf(u uint64) int { return int(min(u, math.MaxInt32)) }

func optString(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func lookupFromProto(l *qdrant.LookupLocation) *api.LookupFrom {
	if l == nil {
		return nil
	}
	return &api.LookupFrom{Collection: l.GetCollectionName(), Vector: optString(l.VectorName)}
}

func withLookupFromProto(w *qdrant.WithLookup) *api.WithLookup {
	if w == nil {
		return nil
	}
	return &api.WithLookup{
		Collection:  w.GetCollection(),
		WithPayload: payloadSelectorFromProto(w.GetWithPayload()),
		WithVectors: vectorSelectorFromProto(w.GetWithVectors()),
	}
}

// vectorInputFromProto converts a query input: a dense vector or a point id.
func vectorInputFromProto(v *qdrant.VectorInput) (api.VectorInput, error) {
	switch x := v.GetVariant().(type) {
	case *qdrant.VectorInput_Id:
		id, err := idFromProto(x.Id)
		if err != nil {
			return api.VectorInput{}, err
		}
		return api.VectorInput{ID: &id}, nil
	case *qdrant.VectorInput_Dense:
		return api.VectorInput{Vector: nonNilFloats(x.Dense.GetData())}, nil
	case *qdrant.VectorInput_Sparse:
		return api.VectorInput{Sparse: &api.SparseVector{Indices: nonNilU32(x.Sparse.GetIndices()), Values: nonNilFloats(x.Sparse.GetValues())}}, nil
	case *qdrant.VectorInput_MultiDense:
		vs := make([][]float32, len(x.MultiDense.GetVectors()))
		for i, d := range x.MultiDense.GetVectors() {
			vs[i] = nonNilFloats(d.GetData())
		}
		return api.VectorInput{Multi: vs}, nil
	case *qdrant.VectorInput_Document, *qdrant.VectorInput_Image, *qdrant.VectorInput_Object:
		return api.VectorInput{}, api.ErrBadInput(errInference)
	}
	return api.VectorInput{}, api.ErrBadInput("vector input is empty: expected a dense vector or a point id")
}

func vectorInputsFromProto(vs []*qdrant.VectorInput) ([]api.VectorInput, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	out := make([]api.VectorInput, len(vs))
	for i, v := range vs {
		var err error
		if out[i], err = vectorInputFromProto(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func contextPairsFromProto(ps []*qdrant.ContextInputPair) ([]api.ContextPair, error) {
	out := make([]api.ContextPair, len(ps))
	for i, p := range ps {
		pos, err := vectorInputFromProto(p.GetPositive())
		if err != nil {
			return nil, err
		}
		neg, err := vectorInputFromProto(p.GetNegative())
		if err != nil {
			return nil, err
		}
		out[i] = api.ContextPair{Positive: pos, Negative: neg}
	}
	return out, nil
}

var strategyNames = map[qdrant.RecommendStrategy]api.RecommendStrategy{
	qdrant.RecommendStrategy_AverageVector: api.StrategyAverageVector,
	qdrant.RecommendStrategy_BestScore:     api.StrategyBestScore,
	qdrant.RecommendStrategy_SumScores:     api.StrategySumScores,
}

func strategyFromProto(s *qdrant.RecommendStrategy) (api.RecommendStrategy, error) {
	if s == nil {
		return "", nil
	}
	st, ok := strategyNames[*s]
	if !ok {
		return "", api.ErrBadInput("unknown recommend strategy %d", int32(*s))
	}
	return st, nil
}

func orderByFromProto(o *qdrant.OrderBy) (*api.OrderBy, error) {
	if o == nil {
		return nil, nil
	}
	out := &api.OrderBy{Key: o.GetKey()}
	if o.Direction != nil {
		switch o.GetDirection() {
		case qdrant.Direction_Asc:
			out.Direction = "asc"
		case qdrant.Direction_Desc:
			out.Direction = "desc"
		default:
			return nil, api.ErrBadInput("unknown order direction %d", int32(o.GetDirection()))
		}
	}
	switch x := o.GetStartFrom().GetValue().(type) {
	case nil:
	case *qdrant.StartFrom_Float:
		out.StartFrom = x.Float
	case *qdrant.StartFrom_Integer:
		out.StartFrom = json.Number(strconv.FormatInt(x.Integer, 10))
	case *qdrant.StartFrom_Timestamp:
		if err := x.Timestamp.CheckValid(); err != nil {
			return nil, api.ErrBadInput("invalid start_from timestamp: %v", err)
		}
		out.StartFrom = x.Timestamp.AsTime().UTC().Format(time.RFC3339Nano)
	case *qdrant.StartFrom_Datetime:
		out.StartFrom = x.Datetime
	}
	return out, nil
}

// queryFromProto converts the Query oneof; nil stays nil (a query of only
// prefetches, filters or ordering by id).
func queryFromProto(q *qdrant.Query) (*api.Query, error) {
	if q == nil {
		return nil, nil
	}
	switch x := q.GetVariant().(type) {
	case *qdrant.Query_Nearest:
		v, err := vectorInputFromProto(x.Nearest)
		if err != nil {
			return nil, err
		}
		return &api.Query{Nearest: &v}, nil
	case *qdrant.Query_Recommend:
		pos, err := vectorInputsFromProto(x.Recommend.GetPositive())
		if err != nil {
			return nil, err
		}
		neg, err := vectorInputsFromProto(x.Recommend.GetNegative())
		if err != nil {
			return nil, err
		}
		st, err := strategyFromProto(x.Recommend.Strategy)
		if err != nil {
			return nil, err
		}
		return &api.Query{Recommend: &api.RecommendInput{Positive: pos, Negative: neg, Strategy: st}}, nil
	case *qdrant.Query_Discover:
		if x.Discover.GetTarget() == nil {
			return nil, api.ErrDiscoverWithoutTarget()
		}
		t, err := vectorInputFromProto(x.Discover.GetTarget())
		if err != nil {
			return nil, err
		}
		ctx, err := contextPairsFromProto(x.Discover.GetContext().GetPairs())
		if err != nil {
			return nil, err
		}
		return &api.Query{Discover: &api.DiscoverInput{Target: t, Context: ctx}}, nil
	case *qdrant.Query_Context:
		ctx, err := contextPairsFromProto(x.Context.GetPairs())
		if err != nil {
			return nil, err
		}
		return &api.Query{Context: ctx}, nil
	case *qdrant.Query_OrderBy:
		ob, err := orderByFromProto(x.OrderBy)
		if err != nil {
			return nil, err
		}
		return &api.Query{OrderBy: ob}, nil
	case *qdrant.Query_Fusion:
		switch x.Fusion {
		case qdrant.Fusion_RRF:
			return &api.Query{Fusion: "rrf"}, nil
		case qdrant.Fusion_DBSF:
			return &api.Query{Fusion: "dbsf"}, nil
		}
		return nil, api.ErrBadInput("unknown fusion %d: expected RRF or DBSF", int32(x.Fusion))
	case *qdrant.Query_Rrf:
		r := &api.RRF{K: u32ToIntPtr(x.Rrf.K), Weights: x.Rrf.GetWeights()}
		return &api.Query{RRF: r}, nil
	case *qdrant.Query_Sample:
		if x.Sample != qdrant.Sample_Random {
			return nil, api.ErrBadInput("unknown sample %d: expected Random", int32(x.Sample))
		}
		return &api.Query{Sample: "random"}, nil
	case *qdrant.Query_Formula:
		return formulaFromProto(x.Formula)
	case *qdrant.Query_NearestWithMmr:
		if x.NearestWithMmr.GetNearest() == nil {
			return nil, api.ErrBadInput("nearest with mmr needs the nearest vector")
		}
		v, err := vectorInputFromProto(x.NearestWithMmr.GetNearest())
		if err != nil {
			return nil, err
		}
		m := &api.MMR{}
		if mm := x.NearestWithMmr.GetMmr(); mm != nil {
			m.Diversity = mm.Diversity
			if mm.CandidatesLimit != nil {
				n := int(*mm.CandidatesLimit)
				m.CandidatesLimit = &n
			}
		}
		if err := m.Check(); err != nil {
			return nil, err
		}
		return &api.Query{Nearest: &v, MMR: m}, nil
	case *qdrant.Query_RelevanceFeedback:
		rf := x.RelevanceFeedback
		if rf.GetTarget() == nil {
			return nil, api.ErrBadInput("relevance_feedback needs a target")
		}
		t, err := vectorInputFromProto(rf.GetTarget())
		if err != nil {
			return nil, err
		}
		out := &api.RelevanceFeedback{Target: t, Feedback: make([]api.FeedbackItem, len(rf.GetFeedback()))}
		for i, it := range rf.GetFeedback() {
			if it.GetExample() == nil {
				return nil, api.ErrBadInput("relevance_feedback example %d is empty", i)
			}
			if out.Feedback[i].Example, err = vectorInputFromProto(it.GetExample()); err != nil {
				return nil, err
			}
			out.Feedback[i].Score = it.GetScore()
		}
		if n := rf.GetStrategy().GetNaive(); n != nil {
			out.Strategy.Naive = &api.NaiveFeedback{A: n.GetA(), B: n.GetB(), C: n.GetC()}
		}
		if err := out.Check(); err != nil {
			return nil, err
		}
		return &api.Query{Feedback: out}, nil
	}
	return nil, api.ErrBadInput("query is empty: expected nearest, recommend, discover, context, order_by, fusion, rrf or sample")
}

func prefetchesFromProto(ps []*qdrant.PrefetchQuery, depth int) (api.Prefetches, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if depth > maxPrefetchDepth {
		return nil, api.ErrBadInput("prefetch is nested deeper than %d levels", maxPrefetchDepth)
	}
	out := make(api.Prefetches, len(ps))
	for i, p := range ps {
		sub, err := prefetchesFromProto(p.GetPrefetch(), depth+1)
		if err != nil {
			return nil, err
		}
		q, err := queryFromProto(p.GetQuery())
		if err != nil {
			return nil, err
		}
		f, err := filterFromProto(p.GetFilter())
		if err != nil {
			return nil, err
		}
		params, err := searchParamsFromProto(p.GetParams())
		if err != nil {
			return nil, err
		}
		out[i] = api.Prefetch{
			Prefetch: sub, Query: q, Using: optString(p.Using), Filter: f,
			Params: params, ScoreThreshold: p.ScoreThreshold,
			Limit: limitPtr(p.Limit), LookupFrom: lookupFromProto(p.GetLookupFrom()),
		}
	}
	return out, nil
}

// queryRequestFromProto converts the fields QueryPoints and
// QueryPointGroups share.
func queryRequestFromProto(r interface {
	GetPrefetch() []*qdrant.PrefetchQuery
	GetQuery() *qdrant.Query
	GetFilter() *qdrant.Filter
	GetParams() *qdrant.SearchParams
	GetWithPayload() *qdrant.WithPayloadSelector
	GetWithVectors() *qdrant.WithVectorsSelector
	GetLookupFrom() *qdrant.LookupLocation
	GetShardKeySelector() *qdrant.ShardKeySelector
}) (api.QueryRequest, error) {
	var out api.QueryRequest
	var err error
	if out.Prefetch, err = prefetchesFromProto(r.GetPrefetch(), 1); err != nil {
		return out, err
	}
	if out.Query, err = queryFromProto(r.GetQuery()); err != nil {
		return out, err
	}
	if out.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return out, err
	}
	if out.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return out, err
	}
	if out.Params, err = searchParamsFromProto(r.GetParams()); err != nil {
		return out, err
	}
	out.WithPayload = payloadSelectorFromProto(r.GetWithPayload())
	out.WithVector = vectorSelectorFromProto(r.GetWithVectors())
	out.LookupFrom = lookupFromProto(r.GetLookupFrom())
	return out, nil
}

func queryPointsFromProto(r *qdrant.QueryPoints) (*api.QueryRequest, error) {
	out, err := queryRequestFromProto(r)
	if err != nil {
		return nil, err
	}
	out.Using = optString(r.Using)
	out.ScoreThreshold = r.ScoreThreshold
	out.Limit = limitPtr(r.Limit)
	out.Offset = limitPtr(r.Offset)
	return &out, nil
}

func queryGroupsFromProto(r *qdrant.QueryPointGroups) (*api.QueryGroupsRequest, error) {
	q, err := queryRequestFromProto(r)
	if err != nil {
		return nil, err
	}
	q.Using = optString(r.Using)
	q.ScoreThreshold = r.ScoreThreshold
	q.Limit = limitPtr(r.Limit)
	return &api.QueryGroupsRequest{
		QueryRequest: q, GroupBy: r.GetGroupBy(), GroupSize: limitPtr(r.GroupSize),
		WithLookup: withLookupFromProto(r.GetWithLookup()),
	}, nil
}

// Legacy search families.

// searchRequestFromProto converts the fields SearchPoints and
// SearchPointGroups share; the caller sets Limit and Offset.
func searchRequestFromProto(r interface {
	GetSparseIndices() *qdrant.SparseIndices
	GetFilter() *qdrant.Filter
	GetShardKeySelector() *qdrant.ShardKeySelector
	GetVectorName() string
	GetVector() []float32
	GetParams() *qdrant.SearchParams
	GetWithPayload() *qdrant.WithPayloadSelector
	GetWithVectors() *qdrant.WithVectorsSelector
}, scoreThreshold *float32) (api.SearchRequest, error) {
	nv := api.NamedVector{Name: r.GetVectorName(), Vector: nonNilFloats(r.GetVector())}
	if idx := r.GetSparseIndices(); idx != nil {
		nv = api.NamedVector{Name: r.GetVectorName(), Sparse: &api.SparseVector{Indices: nonNilU32(idx.GetData()), Values: nonNilFloats(r.GetVector())}}
	}
	f, err := filterFromProto(r.GetFilter())
	if err != nil {
		return api.SearchRequest{}, err
	}
	sk, err := shardKeySelectorFromProto(r.GetShardKeySelector())
	if err != nil {
		return api.SearchRequest{}, err
	}
	params, err := searchParamsFromProto(r.GetParams())
	if err != nil {
		return api.SearchRequest{}, err
	}
	return api.SearchRequest{
		ShardKey: sk, Vector: nv,
		Filter: f, Params: params,
		WithPayload: payloadSelectorFromProto(r.GetWithPayload()), WithVector: vectorSelectorFromProto(r.GetWithVectors()),
		ScoreThreshold: scoreThreshold,
	}, nil
}

func searchFromProto(r *qdrant.SearchPoints) (*api.SearchRequest, error) {
	out, err := searchRequestFromProto(r, r.ScoreThreshold)
	if err != nil {
		return nil, err
	}
	out.Limit = limitOf(r.GetLimit())
	out.Offset = limitPtr(r.Offset)
	return &out, nil
}

func searchGroupsFromProto(r *qdrant.SearchPointGroups) (*api.SearchGroupsRequest, error) {
	q, err := searchRequestFromProto(r, r.ScoreThreshold)
	if err != nil {
		return nil, err
	}
	q.Limit = int(r.GetLimit())
	return &api.SearchGroupsRequest{
		SearchRequest: q, GroupBy: r.GetGroupBy(), GroupSize: int(r.GetGroupSize()), WithLookup: withLookupFromProto(r.GetWithLookup()),
	}, nil
}

// examplesFromProto merges the id and vector examples of a recommend
// request (ids first, as Qdrant orders them).
func examplesFromProto(ids []*qdrant.PointId, vecs []*qdrant.Vector) ([]api.VectorInput, error) {
	if len(ids)+len(vecs) == 0 {
		return nil, nil
	}
	out := make([]api.VectorInput, 0, len(ids)+len(vecs))
	for _, p := range ids {
		id, err := idFromProto(p)
		if err != nil {
			return nil, err
		}
		out = append(out, api.VectorInput{ID: &id})
	}
	for _, v := range vecs {
		d, err := denseFromVector(v)
		if err != nil {
			return nil, err
		}
		out = append(out, api.VectorInput{Vector: d})
	}
	return out, nil
}

func recommendFromProto(r *qdrant.RecommendPoints) (*api.RecommendRequest, error) {
	pos, err := examplesFromProto(r.GetPositive(), r.GetPositiveVectors())
	if err != nil {
		return nil, err
	}
	neg, err := examplesFromProto(r.GetNegative(), r.GetNegativeVectors())
	if err != nil {
		return nil, err
	}
	st, err := strategyFromProto(r.Strategy)
	if err != nil {
		return nil, err
	}
	f, err := filterFromProto(r.GetFilter())
	if err != nil {
		return nil, err
	}
	sk, err := shardKeySelectorFromProto(r.GetShardKeySelector())
	if err != nil {
		return nil, err
	}
	params, err := searchParamsFromProto(r.GetParams())
	if err != nil {
		return nil, err
	}
	return &api.RecommendRequest{
		ShardKey: sk, Positive: pos, Negative: neg, Strategy: st, Filter: f,
		Params: params, Limit: limitOf(r.GetLimit()), Offset: limitPtr(r.Offset),
		WithPayload: payloadSelectorFromProto(r.GetWithPayload()), WithVector: vectorSelectorFromProto(r.GetWithVectors()),
		ScoreThreshold: r.ScoreThreshold, Using: optString(r.Using), LookupFrom: lookupFromProto(r.GetLookupFrom()),
	}, nil
}

func recommendGroupsFromProto(r *qdrant.RecommendPointGroups) (*api.RecommendGroupsRequest, error) {
	base, err := recommendFromProto(&qdrant.RecommendPoints{
		Positive: r.GetPositive(), Negative: r.GetNegative(), Filter: r.GetFilter(), Limit: uint64(r.GetLimit()),
		WithPayload: r.GetWithPayload(), Params: r.GetParams(), ScoreThreshold: r.ScoreThreshold, Using: r.Using,
		WithVectors: r.WithVectors, LookupFrom: r.LookupFrom, Strategy: r.Strategy,
		PositiveVectors: r.GetPositiveVectors(), NegativeVectors: r.GetNegativeVectors(), ShardKeySelector: r.ShardKeySelector,
	})
	if err != nil {
		return nil, err
	}
	return &api.RecommendGroupsRequest{
		RecommendRequest: *base, GroupBy: r.GetGroupBy(), GroupSize: int(r.GetGroupSize()),
		WithLookup: withLookupFromProto(r.GetWithLookup()),
	}, nil
}

func exampleFromProto(e *qdrant.VectorExample) (api.VectorInput, error) {
	switch x := e.GetExample().(type) {
	case *qdrant.VectorExample_Id:
		id, err := idFromProto(x.Id)
		if err != nil {
			return api.VectorInput{}, err
		}
		return api.VectorInput{ID: &id}, nil
	case *qdrant.VectorExample_Vector:
		d, err := denseFromVector(x.Vector)
		if err != nil {
			return api.VectorInput{}, err
		}
		return api.VectorInput{Vector: d}, nil
	}
	return api.VectorInput{}, api.ErrBadInput("example is empty: expected a point id or a vector")
}

func discoverFromProto(r *qdrant.DiscoverPoints) (*api.DiscoverRequest, error) {
	params, err := searchParamsFromProto(r.GetParams())
	if err != nil {
		return nil, err
	}
	out := &api.DiscoverRequest{
		Params: params, Limit: limitOf(r.GetLimit()), Offset: limitPtr(r.Offset),
		WithPayload: payloadSelectorFromProto(r.GetWithPayload()), WithVector: vectorSelectorFromProto(r.GetWithVectors()),
		Using: optString(r.Using), LookupFrom: lookupFromProto(r.GetLookupFrom()),
	}
	if t := r.GetTarget().GetSingle(); t != nil {
		v, err := exampleFromProto(t)
		if err != nil {
			return nil, err
		}
		out.Target = &v
	}
	out.Context = make([]api.ContextPair, len(r.GetContext()))
	for i, p := range r.GetContext() {
		pos, err := exampleFromProto(p.GetPositive())
		if err != nil {
			return nil, err
		}
		neg, err := exampleFromProto(p.GetNegative())
		if err != nil {
			return nil, err
		}
		out.Context[i] = api.ContextPair{Positive: pos, Negative: neg}
	}
	if out.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return nil, err
	}
	if out.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return nil, err
	}
	return out, nil
}
