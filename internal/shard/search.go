package shard

import (
	"container/heap"
	"context"
	"math"
	"slices"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
	"github.com/shoal-db/shoal/internal/index"
)

// Scorer scores a stored vector for custom queries (recommend best_score and
// sum_scores, discover, context). Higher is better. The HNSW graph is
// traversed by this score, as Qdrant does.
type Scorer func(vec []float32) float32

// CustomScore is a custom query's scorer as data: Kind is best_score or
// sum_scores (Pos, Neg), discover (Target, Pairs) or context (Pairs). Each
// pair is a positive and a negative vector.
type CustomScore struct {
	Kind   string         `json:"kind"`
	Pos    [][]float32    `json:"pos,omitempty"`
	Neg    [][]float32    `json:"neg,omitempty"`
	Target []float32      `json:"target,omitempty"`
	Pairs  [][2][]float32 `json:"pairs,omitempty"`
	// Weights and A are relevance feedback's (Target, Pairs): the score is
	// A × sim(Target) + Σ Weights[i] × (sim(Pairs[i][0]) − sim(Pairs[i][1])).
	Weights []float32 `json:"weights,omitempty"`
	A       float32   `json:"a,omitempty"`
	// MultiPos and MultiNeg are the examples of a best_score or sum_scores
	// recommendation on a multi-vector name: multi-vectors, each compared
	// with a point's by MaxSim (Pos and Neg are then empty).
	MultiPos [][][]float32 `json:"multi_pos,omitempty"`
	MultiNeg [][][]float32 `json:"multi_neg,omitempty"`
}

// multiExamples reports whether cs is a recommendation over multi-vector
// examples (see MultiPos).
func (cs *CustomScore) multiExamples() bool {
	return cs != nil && (len(cs.MultiPos) > 0 || len(cs.MultiNeg) > 0)
}

// Custom score kinds.
const (
	CustomBestScore = "best_score"
	CustomSumScores = "sum_scores"
	CustomDiscover  = "discover"
	CustomContext   = "context"
	CustomFeedback  = "feedback"
)

// SearchRequest is one vector search on one shard.
type SearchRequest struct {
	// Using names the vector searched.
	Using string
	// Vector is the query for nearest search (already normalised for
	// Cosine). Ignored when Scorer is set.
	Vector []float32
	// Scorer, when set, replaces distance to Vector.
	Scorer Scorer `json:"-"`
	// Custom describes Scorer as data, so that a search can be sent to a
	// shard on another peer, which rebuilds Scorer from it.
	Custom *CustomScore `json:",omitempty"`
	// Sparse is the query when Using names a sparse vector: sorted by
	// index, valid, already weighted by IDF when the vector's modifier
	// says so. SparseFullScan is that vector's full_scan_threshold.
	Sparse         *api.SparseVector
	SparseFullScan int
	// Multi is the query when Using names a multi-vector (vectors
	// already normalised for Cosine).
	Multi  [][]float32
	Filter *api.Filter
	// Limit is the number of hits wanted (the caller's offset+limit).
	Limit          int
	Params         api.SearchParams
	ScoreThreshold *float32
	WithPayload    *api.PayloadSelector
	WithVector     *api.VectorSelector
}

// hit is a candidate found by a search: an offset and its distance (lower
// is better).
type hit struct {
	off  uint32
	dist float32
}

// topK keeps the k best hits (a max-heap on distance).
type topK struct {
	k int
	h []hit
}

func (t *topK) Len() int { return len(t.h) }
func (t *topK) Less(i, j int) bool {
	if t.h[i].dist != t.h[j].dist {
		return t.h[i].dist > t.h[j].dist
	}
	return t.h[i].off > t.h[j].off
}
func (t *topK) Swap(i, j int) { t.h[i], t.h[j] = t.h[j], t.h[i] }
func (t *topK) Push(x any)    { t.h = append(t.h, x.(hit)) }
func (t *topK) Pop() any {
	x := t.h[len(t.h)-1]
	t.h = t.h[:len(t.h)-1]
	return x
}

func (t *topK) offer(h hit) {
	if len(t.h) < t.k {
		heap.Push(t, h)
		return
	}
	w := t.h[0]
	if h.dist < w.dist || (h.dist == w.dist && h.off < w.off) {
		t.h[0] = h
		heap.Fix(t, 0)
	}
}

// sorted returns the hits best first.
func (t *topK) sorted() []hit {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b hit) int {
		if a.dist != b.dist {
			if a.dist < b.dist {
				return -1
			}
			return 1
		}
		return int(int64(a.off) - int64(b.off))
	})
	return out
}

// Search returns the best hits by Qdrant score (Cosine/Dot: higher is
// better; Euclid/Manhattan: distance, lower is better, reported as Qdrant
// does), at most Limit, best first.
func (s *Shard) Search(ctx context.Context, req SearchRequest) ([]api.ScoredPoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ss := s.sparse[req.Using]; ss != nil {
		return s.searchSparseHits(ctx, ss, req)
	}
	if ms := s.multi[req.Using]; ms != nil {
		return s.searchMultiHits(ctx, ms, req)
	}
	sp := s.spaces[req.Using]
	if sp == nil {
		return nil, api.ErrBadInput("Not existing vector name error: %s", req.Using)
	}
	if req.Sparse != nil || req.Multi != nil {
		return nil, api.ErrBadInput("vector %q is dense: query it with a dense vector", req.Using)
	}
	if req.Scorer == nil && len(req.Vector) != sp.dim {
		return nil, api.ErrBadInput("Vector dimension error: expected dim: %d, got %d", sp.dim, len(req.Vector))
	}
	if req.Limit <= 0 {
		return []api.ScoredPoint{}, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	m, err := s.pidx.compile(req.Filter)
	if err != nil {
		return nil, err
	}
	var distOf func(off uint32) float32
	if req.Scorer != nil {
		distOf = func(off uint32) float32 { return -req.Scorer(sp.store.Vector(off)) }
	} else {
		q := sp.store.Query(req.Vector)
		distOf = func(off uint32) float32 { return sp.distTo(q, off) }
	}
	qs, err := sp.quantPlan(req)
	if err != nil {
		return nil, err
	}
	pr := s.payloadReader()
	hits, err := s.plan(ctx, sp, req, m, pr, distOf, qs)
	if err == nil {
		err = pr.err
	}
	if err != nil {
		return nil, err
	}
	out := make([]api.ScoredPoint, 0, len(hits))
	for _, h := range hits {
		score := -h.dist
		if req.Scorer == nil {
			score = sp.score(h.dist)
		}
		if t := req.ScoreThreshold; t != nil {
			better := req.Scorer != nil || sp.dist.HigherIsBetter()
			if (better && score < *t) || (!better && score > *t) {
				break
			}
		}
		out = append(out, api.ScoredPoint{
			ID:      s.ids.at(h.off),
			Version: s.version[h.off],
			Score:   score,
			Payload: pr.selected(h.off, req.WithPayload),
			Vector:  s.selectVectors(h.off, req.WithVector),
			Sparse:  s.selectSparse(h.off, req.WithVector),
			Multi:   s.selectMulti(h.off, req.WithVector),
		})
	}
	return out, pr.err
}

// searchSparseHits is Search for a sparse vector name.
func (s *Shard) searchSparseHits(ctx context.Context, ss *sparseSpace, req SearchRequest) ([]api.ScoredPoint, error) {
	if req.Sparse == nil {
		return nil, api.ErrBadInput("vector %q is sparse: query it with a sparse vector {indices, values}", req.Using)
	}
	if req.Scorer != nil {
		return nil, api.ErrBadInput("recommend, discover and context queries on the sparse vector %q are not supported by this server", req.Using)
	}
	if req.Limit <= 0 {
		return []api.ScoredPoint{}, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	m, err := s.pidx.compile(req.Filter)
	if err != nil {
		return nil, err
	}
	pr := s.payloadReader()
	hits, err := s.searchSparse(ctx, ss, req, m, pr)
	if err == nil {
		err = pr.err
	}
	if err != nil {
		return nil, err
	}
	out := make([]api.ScoredPoint, 0, len(hits))
	for _, h := range hits {
		if t := req.ScoreThreshold; t != nil && h.Score < *t {
			break
		}
		out = append(out, api.ScoredPoint{
			ID:      s.ids.at(h.Off),
			Version: s.version[h.Off],
			Score:   h.Score,
			Payload: pr.selected(h.Off, req.WithPayload),
			Vector:  s.selectVectors(h.Off, req.WithVector),
			Sparse:  s.selectSparse(h.Off, req.WithVector),
			Multi:   s.selectMulti(h.Off, req.WithVector),
		})
	}
	return out, pr.err
}

// graphCostFactor is the planner's cost of a graph search in distance
// computations per unit of ef at selectivity 1 (measured on fashion-mnist,
// 60k x 784: an unfiltered ef=100 search costs about as much as 2,200
// exact distances). A filtered graph search costs about factor·ef/s for
// selectivity s; the exact scan of the filtered set costs its size.
const graphCostFactor = 22

// plan chooses between an exact scan and the HNSW graph and returns the best
// hits, best first. Caller holds mu.
//
// Exact when asked (params.exact), when the space has no usable graph,
// when it holds fewer vectors than full_scan_threshold, or, with a filter,
// when the filter's cardinality (upper bound) is below full_scan_threshold
// or scanning the expected filtered set is cheaper than the filtered graph
// search (graphCostFactor). The exact scan takes the filtered set from the
// payload indexes' candidates when they can narrow it down. Otherwise the
// graph is searched with the filter as allow-predicate (ef widened with
// the selectivity), and the unindexed tail is always scanned exactly and
// merged in.
//
// With qs (scalar, product or binary quantization), the graph is traversed and the tail
// scanned by the codes for qs.k candidates (limit × oversampling), which
// the original vectors re-score when qs.rescore; the exact paths score the
// original vectors.
// plan runs a dense search: exact or by the graph, as the filter's
// estimated cardinality and the graph's state decide. Payloads for m are
// read by pr; the caller checks pr's error. Caller holds mu.
func (s *Shard) plan(ctx context.Context, sp *space, req SearchRequest, m *filter.Matcher, pr *payloadReader, distOf func(uint32) float32, qs *quantSearch) ([]hit, error) {
	held := func(off uint32) bool { return s.live.has(off) && sp.has.has(off) }
	allow := func(off uint32) bool { return held(off) && pr.match(m, off) }
	k := req.Limit
	t := &topK{k: k}
	g := sp.graph.Load()
	total := sp.count
	exact := req.Params.Exact || !sp.indexing || !sp.graphUsable(g) || total < sp.fullScanVectors()
	ef := sp.hnsw.EfConstruct
	if req.Params.HnswEf != nil && *req.Params.HnswEf > 0 {
		ef = *req.Params.HnswEf
	}
	ef = max(ef, k)
	if req.Filter != nil && !exact {
		est := s.pidx.estimate(req.Filter, total)
		selectivity := 1.0
		if total > 0 {
			selectivity = min(max(float64(est.Exp)/float64(total), 1e-6), 1)
		}
		if selectivity < 1 {
			// A filtered search finds fewer allowed nodes per visited
			// node; widen the candidate list, within bounds.
			ef = min(max(ef, int(float64(ef)/math.Sqrt(selectivity))), max(4*ef, k))
		}
		cost := s.opts.graphCost
		if cost == 0 {
			cost = graphCostFactor
		}
		if est.Max < sp.fullScanVectors() || float64(est.Exp) <= cost*float64(ef)/selectivity {
			exact = true
		}
	}
	if exact {
		s.plansExact.Add(1)
		if req.Filter != nil {
			if cands, exactCands, ok := s.pidx.set.Candidates(req.Filter, s.nLive); ok {
				test := allow
				if exactCands {
					test = held // the indexes answered the whole filter
				}
				for i, off := range cands {
					if i%4096 == 4095 {
						if err := ctx.Err(); err != nil {
							return nil, err
						}
					}
					if test(off) {
						t.offer(hit{off, distOf(off)})
					}
				}
				return t.sorted(), nil
			}
		}
		err := s.scanExact(ctx, sp, m, pr, func(off uint32) { t.offer(hit{off, distOf(off)}) })
		if err != nil {
			return nil, err
		}
		return t.sorted(), nil
	}
	s.plansGraph.Add(1)
	// The tail is taken before the graph search: whatever leaves it
	// meanwhile is in the graph by the time the search runs.
	tail := sp.tail()
	if req.Filter != nil {
		// Evaluate the filter only on the payload indexes' candidates: a
		// filtered graph search visits many rejected nodes, and a bitset
		// test is much cheaper than the matcher.
		if cands, exactCands, ok := s.pidx.set.Candidates(req.Filter, s.nLive); ok {
			var cset bitset
			if len(cands) > 0 {
				cset = make(bitset, cands[len(cands)-1]/64+1)
			}
			for _, off := range cands {
				cset.set(off)
			}
			inner := allow
			if exactCands {
				inner = held // the indexes answered the whole filter
			}
			allow = func(off uint32) bool { return cset.has(off) && inner(off) }
		}
	}
	var res []index.Result
	tailDist := distOf
	switch {
	case qs != nil:
		t = &topK{k: qs.k}
		res = g.SearchScorer(qs.scorer, qs.k, max(ef, qs.k), allow)
		tailDist = qs.dist
	case req.Scorer != nil:
		res = g.SearchFunc(distOf, k, ef, allow)
	default:
		res = g.Search(req.Vector, k, ef, allow)
	}
	seen := make(map[uint32]struct{}, len(res))
	for _, r := range res {
		seen[r.Off] = struct{}{}
		t.offer(hit{r.Off, r.Dist})
	}
	for _, off := range tail {
		if _, dup := seen[off]; dup {
			continue
		}
		if allow(off) {
			t.offer(hit{off, tailDist(off)})
		}
	}
	if qs != nil {
		cands := t.h
		t = &topK{k: k}
		buf := make([]float32, sp.dim)
		for _, h := range cands {
			switch {
			case qs.rescore && sp.dtype == index.Turbo4:
				// The kernel on the codes (distOf's query is rotated):
				// decoding takes a rotation per vector.
				h.dist = distOf(h.off)
			case qs.rescore:
				// By pread for an on_disk store: see index.Store.ReadInto.
				h.dist = sp.distFn(req.Vector, sp.store.ReadInto(h.off, buf))
			}
			t.offer(h)
		}
	}
	// Safety net: a graph that returns fewer hits than certainly exist
	// (a disconnected or mis-entered graph) is not trusted; the exact scan
	// answers instead.
	if t.Len() < k {
		atLeast := total
		if req.Filter != nil {
			atLeast = s.pidx.estimate(req.Filter, total).Min
		}
		if t.Len() < min(k, atLeast) {
			s.plansFallback.Add(1)
			t = &topK{k: k}
			if err := s.scanExact(ctx, sp, m, pr, func(off uint32) { t.offer(hit{off, distOf(off)}) }); err != nil {
				return nil, err
			}
		}
	}
	return t.sorted(), nil
}

// scanExact calls fn for every live offset holding sp's vector and matching
// m (payloads read by pr, whose error ends the scan).
func (s *Shard) scanExact(ctx context.Context, sp *space, m *filter.Matcher, pr *payloadReader, fn func(off uint32)) error {
	n := 0
	var err error
	s.live.each(func(off uint32) bool {
		if n++; n%4096 == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		if !sp.has.has(off) {
			return true
		}
		if !pr.match(m, off) {
			return pr.err == nil
		}
		fn(off)
		return true
	})
	if err != nil {
		return err
	}
	return pr.err
}
