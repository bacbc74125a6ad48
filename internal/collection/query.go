package collection

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// DefaultPrefetchLimit is the limit of a prefetch that gives none.
const DefaultPrefetchLimit = 10

// stage is one level of a query: its prefetches run first, then the query
// ranks (or re-ranks) their results.
type stage struct {
	prefetch  []api.Prefetch
	query     *api.Query
	using     string
	filter    *api.Filter // this level's filter, already AND-ed with the outer ones
	params    *api.SearchParams
	threshold *float32
	limit     int
	lookup    *api.LookupFrom
	// withPayload and withVector, when set on a stage without prefetches,
	// let the shards attach payloads and vectors to the hits directly.
	withPayload *api.PayloadSelector
	withVector  *api.VectorSelector
}

// ranked is a stage's result, best first.
type ranked struct {
	hits     []api.ScoredPoint
	higher   bool // whether a larger score is better
	selected bool // payloads and vectors already attached as selected
}

// Query runs a universal query and returns the hits after offset, with
// payloads and vectors as selected.
func (c *Collection) Query(ctx context.Context, req *api.QueryRequest) ([]api.ScoredPoint, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	return c.query(ctx, req)
}

// QueryBatch runs several queries in parallel; the first error fails all.
func (c *Collection) QueryBatch(ctx context.Context, reqs []api.QueryRequest) ([][]api.ScoredPoint, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	out := make([][]api.ScoredPoint, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = c.query(ctx, &reqs[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *Collection) query(ctx context.Context, req *api.QueryRequest) ([]api.ScoredPoint, error) {
	limit, offset, err := limitOffset(req.Limit, req.Offset, DefaultQueryLimit)
	if err != nil {
		return nil, err
	}
	if err := c.checkVectorSelector(req.WithVector); err != nil {
		return nil, err
	}
	st, err := c.topStage(req, offset+limit)
	if err != nil {
		return nil, err
	}
	st.withPayload, st.withVector = req.WithPayload, req.WithVector
	r, err := c.runStage(ctx, st)
	if err != nil {
		return nil, err
	}
	hits := r.hits
	if offset >= len(hits) {
		hits = nil
	} else {
		hits = hits[offset:]
	}
	if len(hits) > limit {
		hits = hits[:limit]
	}
	if r.selected {
		return normalizeSelected(hits, req.WithPayload), nil
	}
	return c.enrich(ctx, hits, req.WithPayload, req.WithVector)
}

// normalizeSelected gives hits selected by the shards the shape enrich
// gives: an empty (not absent) payload when payloads were asked for.
func normalizeSelected(hits []api.ScoredPoint, wp *api.PayloadSelector) []api.ScoredPoint {
	if hits == nil {
		hits = []api.ScoredPoint{}
	}
	if wp != nil && wp.Enable {
		for i := range hits {
			if hits[i].Payload == nil {
				hits[i].Payload = api.Payload{}
			}
		}
	}
	return hits
}

func limitOffset(l, o *int, def int) (limit, offset int, err error) {
	limit = def
	if l != nil {
		limit = *l
	}
	if limit < 1 {
		return 0, 0, api.ErrBadInput("limit must be at least 1, got %d", limit)
	}
	if o != nil {
		offset = *o
	}
	if offset < 0 {
		return 0, 0, api.ErrBadInput("offset must not be negative, got %d", offset)
	}
	return limit, offset, nil
}

func (c *Collection) topStage(req *api.QueryRequest, limit int) (stage, error) {
	if err := checkFilter(req.Filter); err != nil {
		return stage{}, err
	}
	st := stage{prefetch: req.Prefetch, query: req.Query, filter: req.Filter, params: req.Params,
		threshold: req.ScoreThreshold, limit: limit, lookup: req.LookupFrom}
	if req.Using != nil {
		st.using = *req.Using
	}
	return st, nil
}

// runStage executes one level: its prefetches (in parallel), then its query
// over their results, or over the whole collection without prefetches.
func (c *Collection) runStage(ctx context.Context, st stage) (ranked, error) {
	if err := ctx.Err(); err != nil {
		return ranked{}, err
	}
	if st.query != nil && needsVector(st.query) {
		if err := c.checkVectorName(st.using); err != nil {
			return ranked{}, err
		}
	}
	if st.query != nil && st.query.MMR != nil {
		return c.mmrStage(ctx, st)
	}
	if len(st.prefetch) == 0 {
		return c.runLeaf(ctx, st)
	}
	subs := make([]ranked, len(st.prefetch))
	errs := make([]error, len(st.prefetch))
	var wg sync.WaitGroup
	for i := range st.prefetch {
		p := &st.prefetch[i]
		if err := checkFilter(p.Filter); err != nil {
			return ranked{}, err
		}
		sub := stage{prefetch: p.Prefetch, query: p.Query, filter: andFilters(st.filter, p.Filter), params: p.Params,
			threshold: p.ScoreThreshold, limit: DefaultPrefetchLimit, lookup: p.LookupFrom}
		if p.Using != nil {
			sub.using = *p.Using
		}
		if p.Limit != nil {
			if *p.Limit < 1 {
				return ranked{}, api.ErrBadInput("prefetch limit must be at least 1, got %d", *p.Limit)
			}
			sub.limit = *p.Limit
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			subs[i], errs[i] = c.runStage(ctx, sub)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return ranked{}, err
		}
	}
	return c.rerank(ctx, st, subs)
}

func needsVector(q *api.Query) bool {
	return q.Nearest != nil || q.Recommend != nil || q.Discover != nil || q.Context != nil || q.Feedback != nil
}

// runLeaf executes a query with no prefetch over the whole collection.
func (c *Collection) runLeaf(ctx context.Context, st stage) (ranked, error) {
	q := st.query
	switch {
	case q == nil:
		// No query: points in id order, as Qdrant does.
		recs, err := c.scrollByID(ctx, shard.ScrollRequest{Limit: st.limit, Filter: st.filter})
		if err != nil {
			return ranked{}, err
		}
		return ranked{hits: recordsToHits(recs), higher: true}, nil
	case q.OrderBy != nil:
		if err := checkOrderBy(q.OrderBy); err != nil {
			return ranked{}, err
		}
		recs, err := c.scrollOrdered(ctx, q.OrderBy, st.filter, st.limit, nil, nil)
		if err != nil {
			return ranked{}, err
		}
		return ranked{hits: recordsToHits(recs), higher: true}, nil
	case q.Fusion != "" || q.RRF != nil:
		return ranked{}, api.ErrBadInput("Fusion queries need at least one prefetch")
	case q.Formula != nil:
		return ranked{}, api.ErrBadInput("Formula queries need at least one prefetch")
	case q.Sample != "":
		ids, err := c.sample(ctx, st.limit, st.filter)
		if err != nil {
			return ranked{}, err
		}
		hits := make([]api.ScoredPoint, len(ids))
		for i, id := range ids {
			hits[i] = api.ScoredPoint{ID: id}
		}
		return ranked{hits: hits, higher: true}, nil
	}
	return c.scoreQuery(ctx, st, nil)
}

// rerank applies a stage's query to its prefetches' results.
func (c *Collection) rerank(ctx context.Context, st stage, subs []ranked) (ranked, error) {
	q := st.query
	lists := make([][]api.ScoredPoint, len(subs))
	for i, s := range subs {
		lists[i] = s.hits
	}
	switch {
	case q == nil:
		if len(subs) != 1 {
			return ranked{}, api.ErrBadInput("A query is needed to merge several prefetches; use fusion")
		}
		r := subs[0]
		if len(r.hits) > st.limit {
			r.hits = r.hits[:st.limit]
		}
		return r, nil
	case q.Formula != nil:
		return c.formulaStage(ctx, st, subs)
	case q.Fusion != "" || q.RRF != nil:
		var fused []api.ScoredPoint
		switch {
		case q.RRF != nil:
			k := DefaultRRFK
			if q.RRF.K != nil {
				k = *q.RRF.K
			}
			var err error
			fused, err = FuseRRF(lists, k, q.RRF.Weights)
			if err != nil {
				return ranked{}, err
			}
		case q.Fusion == "rrf":
			fused, _ = FuseRRF(lists, DefaultRRFK, nil)
		case q.Fusion == "dbsf":
			fused = FuseDBSF(lists)
		default:
			return ranked{}, api.ErrBadInput("unknown fusion %q", q.Fusion)
		}
		out := fused[:0]
		for _, h := range fused {
			if st.threshold == nil || h.Score >= *st.threshold {
				out = append(out, h)
			}
		}
		if len(out) > st.limit {
			out = out[:st.limit]
		}
		return ranked{hits: out, higher: true}, nil
	}
	ids := candidateIDs(lists)
	if len(ids) == 0 {
		return ranked{higher: true}, nil
	}
	only := &api.Filter{Must: []api.Condition{{HasID: ids}}}
	switch {
	case q.OrderBy != nil:
		if err := checkOrderBy(q.OrderBy); err != nil {
			return ranked{}, err
		}
		recs, err := c.scrollOrdered(ctx, q.OrderBy, only, st.limit, nil, nil)
		if err != nil {
			return ranked{}, err
		}
		return ranked{hits: recordsToHits(recs), higher: true}, nil
	case q.Sample != "":
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		if len(ids) > st.limit {
			ids = ids[:st.limit]
		}
		hits := make([]api.ScoredPoint, len(ids))
		for i, id := range ids {
			hits[i] = api.ScoredPoint{ID: id}
		}
		return ranked{hits: hits, higher: true}, nil
	}
	// A vector query re-scores exactly the prefetched candidates.
	st.filter = only
	st.params = exactParams(st.params)
	return c.scoreQuery(ctx, st, ids)
}

func exactParams(p *api.SearchParams) *api.SearchParams {
	out := api.SearchParams{}
	if p != nil {
		out = *p
	}
	out.Exact = true
	return &out
}

func candidateIDs(lists [][]api.ScoredPoint) []api.PointID {
	seen := map[api.PointID]bool{}
	var ids []api.PointID
	for _, l := range lists {
		for _, h := range l {
			if !seen[h.ID] {
				seen[h.ID] = true
				ids = append(ids, h.ID)
			}
		}
	}
	return ids
}

func recordsToHits(recs []api.Record) []api.ScoredPoint {
	hits := make([]api.ScoredPoint, len(recs))
	for i, r := range recs {
		hits[i] = api.ScoredPoint{ID: r.ID, OrderValue: r.OrderValue}
	}
	return hits
}

// scoreQuery runs a vector query (nearest, recommend, discover, context)
// over the points matching st.filter. candidates, when set, are the only
// points considered (the limit then covers them all).
func (c *Collection) scoreQuery(ctx context.Context, st stage, candidates []api.PointID) (ranked, error) {
	if c.isSparse(st.using) {
		return c.sparseQuery(ctx, st, candidates)
	}
	if c.isMulti(st.using) {
		return c.multiQuery(ctx, st, candidates)
	}
	q := st.query
	params, err := c.vectorParams(st.using)
	if err != nil {
		return ranked{}, err
	}
	dist := params.Distance
	req := shard.SearchRequest{Using: st.using, Filter: st.filter, Limit: st.limit, ScoreThreshold: st.threshold}
	if st.params != nil {
		req.Params = *st.params
	}
	higher := dist.HigherIsBetter()
	var exclude []api.PointID
	switch {
	case q.Nearest != nil:
		vecs, ex, err := c.resolveInputs(ctx, []api.VectorInput{*q.Nearest}, st.using, st.lookup)
		if err != nil {
			return ranked{}, err
		}
		req.Vector, exclude = vecs[0], ex
	case q.Recommend != nil:
		r := q.Recommend
		all := append(append([]api.VectorInput{}, r.Positive...), r.Negative...)
		vecs, ex, err := c.resolveInputs(ctx, all, st.using, st.lookup)
		if err != nil {
			return ranked{}, err
		}
		exclude = ex
		pos, neg := vecs[:len(r.Positive)], vecs[len(r.Positive):]
		switch r.Strategy {
		case "", api.StrategyAverageVector:
			v, err := AverageVector(pos, neg)
			if err != nil {
				return ranked{}, err
			}
			if dist == api.DistanceCosine {
				v = normalized(v)
			}
			req.Vector = v
		case api.StrategyBestScore:
			if len(all) == 0 {
				return ranked{}, api.ErrBadInput("At least one positive or negative example is required")
			}
			req.Custom = &shard.CustomScore{Kind: shard.CustomBestScore, Pos: pos, Neg: neg}
		case api.StrategySumScores:
			if len(all) == 0 {
				return ranked{}, api.ErrBadInput("At least one positive or negative example is required")
			}
			req.Custom = &shard.CustomScore{Kind: shard.CustomSumScores, Pos: pos, Neg: neg}
		default:
			return ranked{}, api.ErrBadInput("unknown recommend strategy %q", r.Strategy)
		}
	case q.Discover != nil:
		d := q.Discover
		all := []api.VectorInput{d.Target}
		for _, p := range d.Context {
			all = append(all, p.Positive, p.Negative)
		}
		vecs, ex, err := c.resolveInputs(ctx, all, st.using, st.lookup)
		if err != nil {
			return ranked{}, err
		}
		exclude = ex
		req.Custom = &shard.CustomScore{Kind: shard.CustomDiscover, Target: vecs[0], Pairs: toPairs(vecs[1:])}
	case q.Context != nil:
		var all []api.VectorInput
		for _, p := range q.Context {
			all = append(all, p.Positive, p.Negative)
		}
		vecs, ex, err := c.resolveInputs(ctx, all, st.using, st.lookup)
		if err != nil {
			return ranked{}, err
		}
		exclude = ex
		req.Custom = &shard.CustomScore{Kind: shard.CustomContext, Pairs: toPairs(vecs)}
	case q.Feedback != nil:
		f := q.Feedback
		all := []api.VectorInput{f.Target}
		scores := make([]float32, len(f.Feedback))
		for i, it := range f.Feedback {
			all = append(all, it.Example)
			scores[i] = it.Score
		}
		vecs, ex, err := c.resolveInputs(ctx, all, st.using, st.lookup)
		if err != nil {
			return ranked{}, err
		}
		exclude = ex
		n := f.Strategy.Naive
		pairs, weights := FeedbackPairs(vecs[1:], scores, n.B, n.C)
		req.Custom = &shard.CustomScore{Kind: shard.CustomFeedback, Target: vecs[0], Pairs: pairs, Weights: weights, A: n.A}
	default:
		return ranked{}, api.ErrBadInput("unsupported query")
	}
	if req.Custom != nil {
		req.Scorer, higher = CustomScorer(dist, req.Custom), true
	}
	return c.searchStage(ctx, st, req, candidates, exclude, higher)
}

func toPairs(vecs [][]float32) [][2][]float32 {
	out := make([][2][]float32, 0, len(vecs)/2)
	for i := 0; i+1 < len(vecs); i += 2 {
		out = append(out, [2][]float32{vecs[i], vecs[i+1]})
	}
	return out
}

// CustomScorer builds the scorer that cs describes for vectors compared
// by d (nil for an unknown kind, which the query engine never produces).
func CustomScorer(d api.Distance, cs *shard.CustomScore) shard.Scorer {
	pairs := make([]Pair, len(cs.Pairs))
	for i, p := range cs.Pairs {
		pairs[i] = Pair{Pos: p[0], Neg: p[1]}
	}
	switch cs.Kind {
	case shard.CustomBestScore:
		return BestScore(d, cs.Pos, cs.Neg)
	case shard.CustomSumScores:
		return SumScores(d, cs.Pos, cs.Neg)
	case shard.CustomDiscover:
		return DiscoverScore(d, cs.Target, pairs)
	case shard.CustomContext:
		return ContextScore(d, pairs)
	case shard.CustomFeedback:
		if len(cs.Weights) != len(pairs) {
			return nil
		}
		return FeedbackScore(d, cs.A, cs.Target, pairs, cs.Weights)
	}
	return nil
}

// searchShards fans a search out to every shard and merges the per-shard
// top lists into the overall top req.Limit.
func (c *Collection) searchShards(ctx context.Context, req shard.SearchRequest, higher bool) ([]api.ScoredPoint, error) {
	results := make([][]api.ScoredPoint, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		hits, err := s.Search(ctx, req)
		results[i] = hits
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(results) == 1 {
		return results[0], nil
	}
	var all []api.ScoredPoint
	for _, r := range results {
		all = append(all, r...)
	}
	sortHits(all, higher)
	if len(all) > req.Limit {
		all = all[:req.Limit]
	}
	return all, nil
}

// resolveInputs turns query inputs into vectors of the named vector: raw
// vectors are checked (dimension, finite) and normalised for Cosine; point
// ids are looked up in this collection (vector using), or in lookup's
// collection (lookup's vector name, else the unnamed vector). Ids looked up here are returned for
// exclusion from the results, as Qdrant excludes them.
func (c *Collection) resolveInputs(ctx context.Context, inputs []api.VectorInput, using string, lookup *api.LookupFrom) ([][]float32, []api.PointID, error) {
	params, err := c.vectorParams(using)
	if err != nil {
		return nil, nil, err
	}
	out := make([][]float32, len(inputs))
	var ids []api.PointID
	for i, in := range inputs {
		if in.ID != nil {
			ids = append(ids, *in.ID)
			continue
		}
		if in.Sparse != nil || in.Multi != nil {
			return nil, nil, api.ErrBadInput("vector %q is dense: query it with one dense vector", using)
		}
		v, err := c.checkVector(using, in.Vector)
		if err != nil {
			return nil, nil, err
		}
		out[i] = v
	}
	if len(ids) == 0 {
		return out, nil, nil
	}
	src, name := c, using
	if lookup != nil {
		// Qdrant: without lookup_from.vector the default (unnamed) vector
		// of the lookup collection is used.
		name = api.DefaultVectorName
		if lookup.Vector != nil {
			name = *lookup.Vector
		}
		if lookup.Collection != c.name {
			if c.res == nil {
				return nil, nil, api.ErrBadInput("lookup_from is not available")
			}
			other, release, err := c.res(ctx, lookup.Collection)
			if err != nil {
				return nil, nil, err
			}
			defer release()
			src = other
		}
	}
	// Qdrant reads the points first: a missing point is 404 even when the
	// vector name is unknown too.
	_, nameErr := src.vectorParams(name)
	sel := &api.VectorSelector{Enable: true, Names: []string{name}}
	if nameErr != nil {
		sel = nil
	}
	recs, err := src.get(ctx, ids, nil, sel)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		if !containsRecord(recs, id) {
			return nil, nil, api.ErrPointNotFound(id)
		}
	}
	if nameErr != nil {
		return nil, nil, nameErr
	}
	byID := make(map[api.PointID][]float32, len(recs))
	for _, r := range recs {
		if v, ok := r.Vector[name]; ok {
			byID[r.ID] = v
		}
	}
	for i, in := range inputs {
		if in.ID == nil {
			continue
		}
		v, ok := byID[*in.ID]
		if !ok {
			if !containsRecord(recs, *in.ID) {
				return nil, nil, api.ErrPointNotFound(*in.ID)
			}
			return nil, nil, api.ErrBadInput("Vector %q of point %s not found", name, in.ID.String())
		}
		if len(v) != params.Size {
			return nil, nil, api.ErrBadInput("Vector dimension error: expected dim: %d, got %d", params.Size, len(v))
		}
		out[i] = v
		if params.Distance == api.DistanceCosine && src != c {
			out[i] = normalized(v)
		}
	}
	var exclude []api.PointID
	if src == c {
		exclude = ids
	}
	return out, exclude, nil
}

func containsRecord(recs []api.Record, id api.PointID) bool {
	for _, r := range recs {
		if r.ID == id {
			return true
		}
	}
	return false
}

// andFilters returns a filter matching what both a and b match (nil means
// everything). Must and must_not clauses merge flatly; two filters that both
// have should or min_should clauses are nested.
func andFilters(a, b *api.Filter) *api.Filter {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	if b.Should != nil || b.MinShould != nil {
		if a.Should != nil || a.MinShould != nil {
			return &api.Filter{Must: []api.Condition{{Filter: a}, {Filter: b}}}
		}
		a, b = b, a
	}
	out := *a
	out.Must = append(append([]api.Condition{}, a.Must...), b.Must...)
	out.MustNot = append(append([]api.Condition{}, a.MustNot...), b.MustNot...)
	return &out
}

// enrich attaches payloads and vectors, as selected, to the final hits.
func (c *Collection) enrich(ctx context.Context, hits []api.ScoredPoint, wp *api.PayloadSelector, wv *api.VectorSelector) ([]api.ScoredPoint, error) {
	if hits == nil {
		hits = []api.ScoredPoint{}
	}
	wantPayload := wp != nil && wp.Enable
	wantVector := wv != nil && wv.Enable
	if len(hits) == 0 || (!wantPayload && !wantVector) {
		for i := range hits {
			hits[i].Payload, hits[i].Vector = nil, nil
		}
		return hits, nil
	}
	ids := make([]api.PointID, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	recs, err := c.get(ctx, ids, wp, wv)
	if err != nil {
		return nil, err
	}
	byID := make(map[api.PointID]*api.Record, len(recs))
	for i := range recs {
		byID[recs[i].ID] = &recs[i]
	}
	for i := range hits {
		hits[i].Payload, hits[i].Vector = nil, nil
		if r, ok := byID[hits[i].ID]; ok {
			if wantPayload {
				hits[i].Payload = r.Payload
				if hits[i].Payload == nil {
					hits[i].Payload = api.Payload{}
				}
			}
			if wantVector {
				hits[i].Vector = r.Vector
			}
		}
	}
	return hits, nil
}

// searchStage runs one stage's search on every shard: points in exclude
// are filtered out, a re-scoring stage (candidates set) asks for every
// candidate, a final one for its payload and vector selection; the merged
// hits are cut to the stage's limit.
func (c *Collection) searchStage(ctx context.Context, st stage, req shard.SearchRequest, candidates, exclude []api.PointID, higher bool) (ranked, error) {
	if len(exclude) > 0 {
		req.Filter = andFilters(req.Filter, &api.Filter{MustNot: []api.Condition{{HasID: exclude}}})
	}
	selected := false
	if candidates != nil {
		req.Limit = len(candidates)
	} else if st.withPayload != nil || st.withVector != nil {
		req.WithPayload, req.WithVector, selected = st.withPayload, st.withVector, true
	}
	hits, err := c.searchShards(ctx, req, higher)
	if err != nil {
		return ranked{}, err
	}
	if len(hits) > st.limit {
		hits = hits[:st.limit]
	}
	return ranked{hits: slices.Clip(hits), higher: higher, selected: selected}, nil
}
