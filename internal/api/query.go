package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// SearchParams tune a vector search.
type SearchParams struct {
	HnswEf       *int            `json:"hnsw_ef,omitempty"`
	Exact        bool            `json:"exact,omitempty"`
	IndexedOnly  bool            `json:"indexed_only,omitempty"`
	Quantization json.RawMessage `json:"quantization,omitempty"` // parsed by QuantizationParams
}

// VectorInput is a dense vector, a sparse vector, or the id of a point
// whose vector is used.
type VectorInput struct {
	Vector []float32
	Sparse *SparseVector
	Multi  [][]float32 // a multi-vector query (MaxSim)
	ID     *PointID
}

// UnmarshalJSON reads an array of numbers, an integer id or a UUID string.
func (v *VectorInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ErrBadInput("empty vector input")
	}
	switch b[0] {
	case '[':
		if isMultiArray(b) {
			vs, err := decodeMulti(b)
			if err != nil {
				return err
			}
			*v = VectorInput{Multi: vs}
			return nil
		}
		vec, err := decodeDense(b)
		if err != nil {
			return err
		}
		*v = VectorInput{Vector: vec}
		return nil
	case '{':
		if !isSparseObject(b) {
			return ErrBadInput("documents, images and inference objects are not supported as query input by this server")
		}
		var sv SparseVector
		if err := json.Unmarshal(b, &sv); err != nil {
			return err
		}
		*v = VectorInput{Sparse: &sv}
		return nil
	}
	var id PointID
	if err := id.UnmarshalJSON(b); err != nil {
		return err
	}
	*v = VectorInput{ID: &id}
	return nil
}

// MarshalJSON writes the array or the id.
func (v VectorInput) MarshalJSON() ([]byte, error) {
	if v.ID != nil {
		return v.ID.MarshalJSON()
	}
	if v.Sparse != nil {
		return v.Sparse.MarshalJSON()
	}
	if v.Multi != nil {
		return marshalMulti(v.Multi), nil
	}
	return marshalFloats(v.Vector), nil
}

// RecommendStrategy is "average_vector" (default), "best_score" or "sum_scores".
type RecommendStrategy string

// Strategies.
const (
	StrategyAverageVector RecommendStrategy = "average_vector"
	StrategyBestScore     RecommendStrategy = "best_score"
	StrategySumScores     RecommendStrategy = "sum_scores"
)

// RecommendInput is the recommend query.
type RecommendInput struct {
	Positive []VectorInput     `json:"positive,omitempty"`
	Negative []VectorInput     `json:"negative,omitempty"`
	Strategy RecommendStrategy `json:"strategy,omitempty"`
}

// ContextPair is a positive/negative pair for discover and context queries.
type ContextPair struct {
	Positive VectorInput `json:"positive"`
	Negative VectorInput `json:"negative"`
}

// DiscoverInput is the discover query.
type DiscoverInput struct {
	Target  VectorInput   `json:"target"`
	Context []ContextPair `json:"context"`
}

// UnmarshalJSON accepts one pair or a list of pairs for context.
func (d *DiscoverInput) UnmarshalJSON(b []byte) error {
	var raw struct {
		Target  *VectorInput    `json:"target"`
		Context json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrBadInput("invalid discover query: %v", err)
	}
	if raw.Target == nil {
		return ErrDiscoverWithoutTarget()
	}
	ctx, err := decodePairs(raw.Context)
	if err != nil {
		return err
	}
	*d = DiscoverInput{Target: *raw.Target, Context: ctx}
	return nil
}

func decodePairs(b json.RawMessage) ([]ContextPair, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return []ContextPair{}, nil
	}
	if b[0] == '{' {
		var p ContextPair
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, ErrBadInput("invalid context pair: %v", err)
		}
		return []ContextPair{p}, nil
	}
	var ps []ContextPair
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, ErrBadInput("invalid context pairs: %v", err)
	}
	return ps, nil
}

// RRF parameterises reciprocal rank fusion.
type RRF struct {
	K       *int      `json:"k,omitempty"`
	Weights []float32 `json:"weights,omitempty"`
}

// MaxMMRCandidates is the largest candidates_limit of an MMR query.
const MaxMMRCandidates = 16384

// MMR re-ranks a nearest query's candidates by maximal marginal relevance:
// each next hit maximises (1 - diversity) × its similarity to the query
// minus diversity × its largest similarity to the hits already chosen.
type MMR struct {
	Diversity       *float32 `json:"diversity,omitempty"`        // in [0, 1], default 0.5
	CandidatesLimit *int     `json:"candidates_limit,omitempty"` // default: the limit
}

// Check validates the MMR parameters (both adapters call it).
func (m *MMR) Check() error {
	if m == nil {
		return nil
	}
	if d := m.Diversity; d != nil && !(*d >= 0 && *d <= 1) {
		return ErrValidation("mmr.diversity", fmt.Sprintf("value %v invalid, must be in the range 0.0 to 1.0", *d))
	}
	if c := m.CandidatesLimit; c != nil && (*c < 0 || *c > MaxMMRCandidates) {
		return ErrValidation("mmr.candidates_limit", fmt.Sprintf("value %d invalid, must be %d or smaller", *c, MaxMMRCandidates))
	}
	return nil
}

// Query is Qdrant's QueryInterface: exactly one field is set, except that
// MMR may accompany Nearest. A bare VectorInput decodes as Nearest.
type Query struct {
	Nearest   *VectorInput       `json:"nearest,omitempty"`
	MMR       *MMR               `json:"mmr,omitempty"`
	Recommend *RecommendInput    `json:"recommend,omitempty"`
	Discover  *DiscoverInput     `json:"discover,omitempty"`
	Context   []ContextPair      `json:"context,omitempty"`
	OrderBy   *OrderBy           `json:"order_by,omitempty"`
	Fusion    string             `json:"fusion,omitempty"` // "rrf" or "dbsf"
	RRF       *RRF               `json:"rrf,omitempty"`
	Sample    string             `json:"sample,omitempty"` // "random"
	Formula   *FormulaQuery      `json:"-"`                // {"formula": ..., "defaults": ...}
	Feedback  *RelevanceFeedback `json:"relevance_feedback,omitempty"`
}

// RelevanceFeedback re-ranks by feedback on examples (Qdrant's
// relevance_feedback query): the target, examples scored by a feedback
// model, and the strategy that turns them into a score.
type RelevanceFeedback struct {
	Target   VectorInput      `json:"target"`
	Feedback []FeedbackItem   `json:"feedback"`
	Strategy FeedbackStrategy `json:"strategy"`
}

// FeedbackItem is one example with its feedback score.
type FeedbackItem struct {
	Example VectorInput `json:"example"`
	Score   float32     `json:"score"`
}

// FeedbackStrategy is the only strategy, naive: score = a × sim(target) +
// Σ over pairs of examples (better, worse) of (score difference)^b × c ×
// (sim(better) − sim(worse)).
type FeedbackStrategy struct {
	Naive *NaiveFeedback `json:"naive"`
}

// NaiveFeedback holds the naive strategy's coefficients.
type NaiveFeedback struct {
	A float32 `json:"a"`
	B float32 `json:"b"`
	C float32 `json:"c"`
}

// Check validates the query (both adapters call it).
func (r *RelevanceFeedback) Check() error {
	if r.Strategy.Naive == nil {
		return ErrBadInput("relevance_feedback needs a strategy: naive")
	}
	if n := r.Strategy.Naive; !(n.B >= 0) || math.IsInf(float64(n.B), 0) || math.IsNaN(float64(n.A)) || math.IsInf(float64(n.A), 0) || math.IsNaN(float64(n.C)) || math.IsInf(float64(n.C), 0) {
		return ErrValidation("strategy.naive", "a, b and c must be finite and b at least 0")
	}
	for _, it := range r.Feedback {
		if math.IsNaN(float64(it.Score)) || math.IsInf(float64(it.Score), 0) {
			return ErrValidation("feedback.score", "must be finite")
		}
	}
	return nil
}

// UnmarshalJSON reads every supported form of QueryInterface.
func (q *Query) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] != '{' || isSparseObject(b)) {
		var v VectorInput
		if err := v.UnmarshalJSON(b); err != nil {
			return err
		}
		*q = Query{Nearest: &v}
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrBadInput("invalid query: %v", err)
	}
	if len(raw) == 0 {
		return ErrBadInput("empty query")
	}
	if f, ok := raw["formula"]; ok {
		d, hasDefaults := raw["defaults"]
		if len(raw) != 1 && (len(raw) != 2 || !hasDefaults) {
			return ErrBadInput("a formula query has only formula and defaults")
		}
		fq := &FormulaQuery{}
		if err := json.Unmarshal(f, &fq.Formula); err != nil {
			return exprErr("formula", err)
		}
		if hasDefaults && !bytes.Equal(bytes.TrimSpace(d), []byte("null")) {
			if err := json.Unmarshal(d, &fq.Defaults); err != nil {
				return ErrBadInput("formula defaults must be an object: %v", err)
			}
		}
		if err := fq.CheckDefaults(); err != nil {
			return err
		}
		*q = Query{Formula: fq}
		return nil
	}
	if _, mmr := raw["mmr"]; mmr {
		if _, ok := raw["nearest"]; !ok || len(raw) != 2 {
			return ErrBadInput("mmr is an option of a nearest query")
		}
	}
	*q = Query{}
	for k, v := range raw {
		var err error
		switch k {
		case "nearest":
			q.Nearest = new(VectorInput)
			err = json.Unmarshal(v, q.Nearest)
		case "recommend":
			q.Recommend = new(RecommendInput)
			err = json.Unmarshal(v, q.Recommend)
		case "discover":
			q.Discover = new(DiscoverInput)
			err = json.Unmarshal(v, q.Discover)
		case "context":
			q.Context, err = decodePairs(v)
		case "order_by":
			q.OrderBy = new(OrderBy)
			err = json.Unmarshal(v, q.OrderBy)
		case "fusion":
			err = json.Unmarshal(v, &q.Fusion)
			if err == nil && q.Fusion != "rrf" && q.Fusion != "dbsf" {
				return ErrBadInput("unknown fusion %q: expected rrf or dbsf", q.Fusion)
			}
		case "rrf":
			q.RRF = new(RRF)
			err = json.Unmarshal(v, q.RRF)
		case "sample":
			err = json.Unmarshal(v, &q.Sample)
			if err == nil && q.Sample != "random" {
				return ErrBadInput("unknown sample %q: expected random", q.Sample)
			}
		case "mmr":
			q.MMR = new(MMR)
			err = json.Unmarshal(v, q.MMR)
			if err == nil {
				err = q.MMR.Check()
			}
		case "relevance_feedback":
			q.Feedback = new(RelevanceFeedback)
			err = json.Unmarshal(v, q.Feedback)
			if err == nil {
				err = q.Feedback.Check()
			}
		default:
			return ErrBadInput("unknown query variant %q", k)
		}
		if err != nil {
			if e, ok := err.(*Error); ok {
				return e
			}
			return ErrBadInput("invalid %s query: %v", k, err)
		}
	}
	return nil
}

// MarshalJSON writes the set form.
func (q Query) MarshalJSON() ([]byte, error) {
	if q.Formula != nil {
		return json.Marshal(q.Formula)
	}
	type plain Query
	return json.Marshal(plain(q))
}

// Prefetch is a sub-query whose results feed the outer query.
type Prefetch struct {
	Prefetch       Prefetches    `json:"prefetch,omitempty"`
	Query          *Query        `json:"query,omitempty"`
	Using          *string       `json:"using,omitempty"`
	Filter         *Filter       `json:"filter,omitempty"`
	Params         *SearchParams `json:"params,omitempty"`
	ScoreThreshold *float32      `json:"score_threshold,omitempty"`
	Limit          *int          `json:"limit,omitempty"`
	LookupFrom     *LookupFrom   `json:"lookup_from,omitempty"`
}

// Prefetches is one prefetch or a list.
type Prefetches []Prefetch

// UnmarshalJSON accepts an object or an array.
func (p *Prefetches) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var one Prefetch
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*p = Prefetches{one}
		return nil
	}
	var many []Prefetch
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*p = many
	return nil
}

// LookupFrom takes query vectors given by id from another collection.
type LookupFrom struct {
	Collection string  `json:"collection"`
	Vector     *string `json:"vector,omitempty"`
}

// QueryRequest is the body of POST /points/query.
type QueryRequest struct {
	ShardKey       any              `json:"shard_key,omitempty"`
	Prefetch       Prefetches       `json:"prefetch,omitempty"`
	Query          *Query           `json:"query,omitempty"`
	Using          *string          `json:"using,omitempty"`
	Filter         *Filter          `json:"filter,omitempty"`
	Params         *SearchParams    `json:"params,omitempty"`
	ScoreThreshold *float32         `json:"score_threshold,omitempty"`
	Limit          *int             `json:"limit,omitempty"` // default 10
	Offset         *int             `json:"offset,omitempty"`
	WithVector     *VectorSelector  `json:"with_vector,omitempty"`
	WithVectors    *VectorSelector  `json:"with_vectors,omitempty"` // alias of with_vector (ResolveAliases)
	WithPayload    *PayloadSelector `json:"with_payload,omitempty"`
	LookupFrom     *LookupFrom      `json:"lookup_from,omitempty"`
}

// QueryResponse is the result of a query.
type QueryResponse struct {
	Points []ScoredPoint `json:"points"`
}

// WithLookup fetches each group id as a point of another collection.
type WithLookup struct {
	Collection  string           `json:"collection"`
	WithPayload *PayloadSelector `json:"with_payload,omitempty"`
	WithVectors *VectorSelector  `json:"with_vectors,omitempty"`
}

// UnmarshalJSON accepts a bare collection name or the object.
func (w *WithLookup) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &w.Collection)
	}
	type plain WithLookup
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return ErrBadInput("invalid with_lookup: %v", err)
	}
	*w = WithLookup(p)
	return nil
}

// QueryGroupsRequest is the body of POST /points/query/groups.
type QueryGroupsRequest struct {
	QueryRequest
	GroupBy    string      `json:"group_by"`
	GroupSize  *int        `json:"group_size,omitempty"` // default 3
	WithLookup *WithLookup `json:"with_lookup,omitempty"`
}

// PointGroup is one group of hits sharing a group_by value.
type PointGroup struct {
	ID     any           `json:"id"` // string or json.Number
	Hits   []ScoredPoint `json:"hits"`
	Lookup *Record       `json:"lookup,omitempty"`
}

// GroupsResult is the result of a groups request.
type GroupsResult struct {
	Groups []PointGroup `json:"groups"`
}

// SearchRequest is the legacy POST /points/search body.
type SearchRequest struct {
	ShardKey       any              `json:"shard_key,omitempty"`
	Vector         NamedVector      `json:"vector"`
	Filter         *Filter          `json:"filter,omitempty"`
	Params         *SearchParams    `json:"params,omitempty"`
	Limit          int              `json:"limit"`
	Offset         *int             `json:"offset,omitempty"`
	WithPayload    *PayloadSelector `json:"with_payload,omitempty"`
	WithVector     *VectorSelector  `json:"with_vector,omitempty"`
	WithVectors    *VectorSelector  `json:"with_vectors,omitempty"` // alias of with_vector (ResolveAliases)
	ScoreThreshold *float32         `json:"score_threshold,omitempty"`
}

// SearchGroupsRequest is the legacy POST /points/search/groups body.
type SearchGroupsRequest struct {
	SearchRequest
	GroupBy    string      `json:"group_by"`
	GroupSize  int         `json:"group_size"`
	WithLookup *WithLookup `json:"with_lookup,omitempty"`
}

// RecommendRequest is the legacy POST /points/recommend body.
type RecommendRequest struct {
	ShardKey       any               `json:"shard_key,omitempty"`
	Positive       []VectorInput     `json:"positive,omitempty"`
	Negative       []VectorInput     `json:"negative,omitempty"`
	Strategy       RecommendStrategy `json:"strategy,omitempty"`
	Filter         *Filter           `json:"filter,omitempty"`
	Params         *SearchParams     `json:"params,omitempty"`
	Limit          int               `json:"limit"`
	Offset         *int              `json:"offset,omitempty"`
	WithPayload    *PayloadSelector  `json:"with_payload,omitempty"`
	WithVector     *VectorSelector   `json:"with_vector,omitempty"`
	WithVectors    *VectorSelector   `json:"with_vectors,omitempty"` // alias of with_vector (ResolveAliases)
	ScoreThreshold *float32          `json:"score_threshold,omitempty"`
	Using          *string           `json:"using,omitempty"`
	LookupFrom     *LookupFrom       `json:"lookup_from,omitempty"`
}

// RecommendGroupsRequest is the legacy POST /points/recommend/groups body.
type RecommendGroupsRequest struct {
	RecommendRequest
	GroupBy    string      `json:"group_by"`
	GroupSize  int         `json:"group_size"`
	WithLookup *WithLookup `json:"with_lookup,omitempty"`
}

// DiscoverRequest is the legacy POST /points/discover body.
type DiscoverRequest struct {
	ShardKey    any              `json:"shard_key,omitempty"`
	Target      *VectorInput     `json:"target,omitempty"`
	Context     []ContextPair    `json:"context,omitempty"`
	Filter      *Filter          `json:"filter,omitempty"`
	Params      *SearchParams    `json:"params,omitempty"`
	Limit       int              `json:"limit"`
	Offset      *int             `json:"offset,omitempty"`
	WithPayload *PayloadSelector `json:"with_payload,omitempty"`
	WithVector  *VectorSelector  `json:"with_vector,omitempty"`
	WithVectors *VectorSelector  `json:"with_vectors,omitempty"` // alias of with_vector (ResolveAliases)
	Using       *string          `json:"using,omitempty"`
	LookupFrom  *LookupFrom      `json:"lookup_from,omitempty"`
}

// CheckQueryShape refuses, as Qdrant does, a query request whose structure
// cannot run, at its root and in every prefetch: prefetches without a query
// to merge them, a score_threshold without a query or with an order_by
// query (400 "Bad request: ..."), and a root limit below 1 (422, Qdrant's
// field path "internal.limit"). Both adapters pass their requests here.
func CheckQueryShape(r *QueryRequest) error {
	if r.Limit != nil && *r.Limit < 1 {
		return ErrBodyValidation("internal.limit", "value %d invalid, must be 1 or larger", *r.Limit)
	}
	return checkQueryLevel(r.Query, r.Prefetch, r.ScoreThreshold)
}

func checkQueryLevel(q *Query, prefetch Prefetches, threshold *float32) error {
	if len(prefetch) > 0 && q == nil {
		return ErrBadRequest("A query is needed to merge the prefetches. Can't have prefetches without defining a query.")
	}
	if threshold != nil {
		if q == nil {
			return ErrBadRequest("A query is needed to use the score_threshold. Can't have score_threshold without defining a query.")
		}
		if q.OrderBy != nil {
			return ErrBadRequest("Can't use score_threshold with an order_by query.")
		}
	}
	for i := range prefetch {
		p := &prefetch[i]
		if err := checkQueryLevel(p.Query, p.Prefetch, p.ScoreThreshold); err != nil {
			return err
		}
	}
	return nil
}
