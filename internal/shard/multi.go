package shard

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// multiSpace is one multi-vector name (multivector_config max_sim) of the
// shard. Every inner vector is one row of an index.Store (in the name's
// datatype; on the heap, or for on_disk names mapped from an unlinked
// file in the shard directory, as dense on_disk vectors), and a point's
// multi-vector is a run of consecutive rows. Rows are handed out in
// order and never reused: those of a point that changed or left stay
// until a compaction rebuilds the space (the store is a cache of the
// durable 0x03 records, rebuilt from them on Open). It has no graph:
// searches score the filtered set exactly by MaxSim. Guarded by the
// shard's mu (writers hold it exclusively, readers shared).
type multiSpace struct {
	name   string
	dim    int
	dist   api.Distance
	dtype  index.Datatype
	onDisk bool
	dir    string
	kern   func(q, d []float32) float32        // Dist(dist) on float32 rows
	tkern  func(q []float32, b []byte) float32 // the same on float16 or uint8 rows
	store  *index.Store
	spans  map[uint32]multiSpan // by point offset
	rows   uint32               // rows handed out (the next free row)
}

// multiSpan is where a point's multi-vector lies in the rows.
type multiSpan struct{ row, n uint32 }

// newMultiSpace returns an empty multi-vector space for the vector params
// p, keeping an on_disk store's file in dir.
func newMultiSpace(name string, p api.VectorParams, dir string) (*multiSpace, error) {
	if p.Size <= 0 || p.Size > api.MaxVectorDim {
		return nil, fmt.Errorf("vector %q has invalid size %d", name, p.Size)
	}
	if !p.Distance.Valid() {
		return nil, fmt.Errorf("vector %q has invalid distance %q", name, p.Distance)
	}
	ms := &multiSpace{
		name: name, dim: p.Size, dist: p.Distance, dtype: StoreType(p),
		onDisk: p.OnDisk != nil && *p.OnDisk, dir: dir,
		kern: vecmath.Kernel(p.Distance), spans: map[uint32]multiSpan{},
	}
	switch ms.dtype {
	case index.Float16:
		ms.tkern = vecmath.KernelF16(p.Distance)
	case index.Uint8:
		ms.tkern = vecmath.KernelU8(p.Distance)
	case index.Turbo4:
		return nil, fmt.Errorf("multi-vector %q: datatype turbo4 is not supported for multi-vectors", name)
	}
	st, err := ms.newStore()
	if err != nil {
		return nil, fmt.Errorf("cannot create the store of multi-vector %q: %w", name, err)
	}
	ms.store = st
	return ms, nil
}

func (ms *multiSpace) newStore() (*index.Store, error) {
	if ms.onDisk {
		return index.NewTypedFileStore(ms.dim, ms.dtype, ms.dir)
	}
	return index.NewTypedStore(ms.dim, ms.dtype), nil
}

// has reports whether the point at off holds the multi-vector.
func (ms *multiSpace) has(off uint32) bool {
	_, ok := ms.spans[off]
	return ok
}

// set stores vs (validated: at least one vector, each of the dimension)
// as the multi-vector of the point at off, in new rows. Caller holds mu
// exclusively (or owns the space).
func (ms *multiSpace) set(off uint32, vs [][]float32) {
	if uint64(ms.rows)+uint64(len(vs)) > math.MaxUint32 {
		panic(fmt.Sprintf("shard: multi-vector %q has no rows left (%d used)", ms.name, ms.rows))
	}
	sp := multiSpan{row: ms.rows, n: uint32(len(vs))}
	ms.store.Grow(int(sp.row + sp.n))
	for i, v := range vs {
		ms.store.Set(sp.row+uint32(i), v)
	}
	ms.rows += sp.n
	ms.spans[off] = sp
}

// remove forgets the multi-vector of the point at off (its rows stay
// until a compaction).
func (ms *multiSpace) remove(off uint32) { delete(ms.spans, off) }

// get returns the multi-vector of the point at off: for float32 rows
// slices of the store (rows never change, so they stay valid while the
// store is open; the caller must not modify them), decoded copies for
// float16 and uint8 rows.
func (ms *multiSpace) get(off uint32) ([][]float32, bool) {
	sp, ok := ms.spans[off]
	if !ok {
		return nil, false
	}
	out := make([][]float32, sp.n)
	for i := range out {
		out[i] = ms.store.Vector(sp.row + uint32(i))
	}
	return out, true
}

// dist returns the internal MaxSim distance (lower is better) between
// query and the multi-vector at off: the sum over the query's vectors of
// the smallest distance (vecmath.Dist) to any of the point's vectors.
// The score reported is vecmath.ScoreFromDist of it: for Cosine and Dot
// the sum of the best dot products, for Euclid the square root of the
// sum of the smallest squared distances, for Manhattan the sum of the
// smallest distances, as Qdrant scores max_sim.
func (ms *multiSpace) maxSimDist(query [][]float32, sp multiSpan) float32 {
	var sum float32
	for _, q := range query {
		best := float32(math.Inf(1))
		for r := sp.row; r < sp.row+sp.n; r++ {
			var d float32
			if ms.tkern != nil {
				d = ms.tkern(q, ms.store.Raw(r))
			} else {
				d = ms.kern(q, ms.store.Get(r))
			}
			best = min(best, d)
		}
		if sp.n > 0 {
			sum += best
		}
	}
	return sum
}

// customScore is the best_score or sum_scores recommendation score of the
// point at sp for multi-vector examples, Qdrant's formulas with MaxSim as
// the similarity: the negated summed internal distance (the sum of the
// best dot products for Dot and Cosine, the negated squared distances
// for Euclid, the negated distances for Manhattan). best_score with s+
// the best similarity to a positive and s- to a negative is
// ScaledFastSigmoid(s+) when s+ > s-, else -ScaledFastSigmoid(s-);
// sum_scores is Σ sim(positive) - Σ sim(negative).
func (ms *multiSpace) customScore(cs *CustomScore, sp multiSpan) float32 {
	sim := func(ex [][]float32) float32 { return -ms.maxSimDist(ex, sp) }
	if cs.Kind == CustomSumScores {
		var s float32
		for _, p := range cs.MultiPos {
			s += sim(p)
		}
		for _, n := range cs.MultiNeg {
			s -= sim(n)
		}
		return s
	}
	bp, bn := float32(math.Inf(-1)), float32(math.Inf(-1))
	for _, p := range cs.MultiPos {
		bp = max(bp, sim(p))
	}
	for _, n := range cs.MultiNeg {
		bn = max(bn, sim(n))
	}
	if bp > bn {
		return vecmath.ScaledFastSigmoid(bp)
	}
	return -vecmath.ScaledFastSigmoid(bn)
}

// adopt takes n's rows (a compaction's rebuilt space of the same name),
// closing its own store (readers hold mu shared, so none is reading it;
// a writer's plan that read rows from it was published before, as
// compaction holds writeMu). n is left without a store. Caller holds mu
// exclusively.
func (ms *multiSpace) adopt(n *multiSpace) {
	old := ms.store
	ms.store, ms.spans, ms.rows = n.store, n.spans, n.rows
	n.store = nil
	_ = old.Close()
}

// close releases the store's file (an on_disk store).
func (ms *multiSpace) close() error { return ms.store.Close() }

// closeMulti releases the multi-vector stores of a shard that failed to
// load.
func (s *Shard) closeMulti() {
	for _, ms := range s.multi {
		if ms.store != nil {
			_ = ms.close()
		}
	}
}

// MaxSimDist returns the internal MaxSim distance (lower is better) of the
// multi-vectors query and doc under d: the sum over query's vectors of the
// smallest vecmath.Dist(d) to any of doc's vectors (vectors of a Cosine
// name are normalised on the way in). vecmath.ScoreFromDist turns it into
// the score Qdrant reports.
func MaxSimDist(d api.Distance, query, doc [][]float32) float32 {
	dist := vecmath.Dist(d)
	var sum float32
	for _, q := range query {
		best := float32(math.Inf(1))
		for _, v := range doc {
			best = min(best, dist(q, v))
		}
		if len(doc) > 0 {
			sum += best
		}
	}
	return sum
}

// MaxSim scores a multi-vector doc against query as Qdrant reports it
// under distance d (see MaxSimDist): for Cosine and Dot the sum over the
// query's vectors of the best dot product with any of doc's vectors.
func MaxSim(d api.Distance, query, doc [][]float32) float32 {
	return vecmath.ScoreFromDist(d, MaxSimDist(d, query, doc))
}

// encodeMulti is the value of a multi-vector's 0x03 record: its vectors'
// floats one after another (count × dim float32); the count is the
// record's length over 4 × dim.
func encodeMulti(vs [][]float32, dim int) []byte {
	b := make([]byte, 4*dim*len(vs))
	for i, v := range vs {
		putFloats(b[4*dim*i:], v)
	}
	return b
}

func decodeMulti(b []byte, dim int) ([][]float32, error) {
	if dim <= 0 || len(b)%(4*dim) != 0 {
		return nil, fmt.Errorf("cannot decode multi-vector of %d bytes with dimension %d: %w", len(b), dim, errCorrupt)
	}
	flat, err := decodeFloats(b)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(flat)/dim)
	for i := range out {
		out[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return out, nil
}

// multiAt returns the multi-vectors at off (all names when names is nil),
// as multiSpace.get. Caller holds mu or writeMu.
func (s *Shard) multiAt(off uint32, names []string) api.MultiVectors {
	var out api.MultiVectors
	add := func(name string, ms *multiSpace) {
		if vs, ok := ms.get(off); ok {
			if out == nil {
				out = api.MultiVectors{}
			}
			out[name] = vs
		}
	}
	if names == nil {
		for name, ms := range s.multi {
			add(name, ms)
		}
		return out
	}
	for _, name := range names {
		if ms := s.multi[name]; ms != nil {
			add(name, ms)
		}
	}
	return out
}

// selectMulti returns copies of the multi-vectors selected by sel at off.
func (s *Shard) selectMulti(off uint32, sel *api.VectorSelector) api.MultiVectors {
	if sel == nil || !sel.Enable || len(s.multi) == 0 {
		return nil
	}
	out := s.multiAt(off, sel.Names)
	for name, vs := range out {
		if s.multi[name].dtype != index.Float32 {
			continue // decoded copies already
		}
		c := make([][]float32, len(vs))
		for i, v := range vs {
			c[i] = slices.Clone(v)
		}
		out[name] = c
	}
	return out
}

// searchMultiHits answers a search of a multi-vector name: every live
// point holding it that matches the filter is scored by MaxSim, exactly;
// the payload indexes' candidates narrow the scan when they can.
func (s *Shard) searchMultiHits(ctx context.Context, ms *multiSpace, req SearchRequest) ([]api.ScoredPoint, error) {
	custom := req.Custom.multiExamples()
	if custom && req.Custom.Kind != CustomBestScore && req.Custom.Kind != CustomSumScores {
		return nil, api.ErrBadInput("%s queries on the multi-vector %q are not supported by this server", req.Custom.Kind, req.Using)
	}
	if req.Multi == nil && !custom {
		return nil, api.ErrBadInput("vector %q is a multi-vector: query it with a list of vectors [[...], ...]", req.Using)
	}
	if req.Scorer != nil && !custom {
		return nil, api.ErrBadInput("discover and context queries on the multi-vector %q are not supported by this server", req.Using)
	}
	rows := req.Multi
	if custom {
		for _, ex := range append(append([][][]float32{}, req.Custom.MultiPos...), req.Custom.MultiNeg...) {
			rows = append(rows, ex...)
		}
	}
	for _, q := range rows {
		if len(q) != ms.dim {
			return nil, api.ErrBadInput("Vector dimension error: expected dim: %d, got %d", ms.dim, len(q))
		}
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
	t := &topK{k: min(req.Limit, s.nLive)}
	if t.k == 0 {
		return []api.ScoredPoint{}, nil
	}
	pr := s.payloadReader()
	cands, exact, haveCands := s.pidx.set.Candidates(req.Filter, s.nLive)
	score := func(off uint32) {
		sp, ok := ms.spans[off]
		// With an exact answer from the indexes, no payload is read.
		if !ok || !s.live.has(off) || !(exact || pr.match(m, off)) {
			return
		}
		if custom {
			// Higher scores are better: the hit's distance is the negated
			// score.
			t.offer(hit{off, -ms.customScore(req.Custom, sp)})
			return
		}
		t.offer(hit{off, ms.maxSimDist(req.Multi, sp)})
	}
	s.plansExact.Add(1)
	n := 0
	visit := func(off uint32) error {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		score(off)
		return pr.err
	}
	if req.Filter != nil && haveCands {
		for _, off := range cands {
			if err := visit(off); err != nil {
				return nil, err
			}
		}
	} else {
		for off := range ms.spans {
			if err := visit(off); err != nil {
				return nil, err
			}
		}
	}
	hits := t.sorted()
	out := make([]api.ScoredPoint, 0, len(hits))
	higher := ms.dist.HigherIsBetter() || custom
	for _, h := range hits {
		sc := vecmath.ScoreFromDist(ms.dist, h.dist)
		if custom {
			sc = -h.dist
		}
		if th := req.ScoreThreshold; th != nil && ((higher && sc < *th) || (!higher && sc > *th)) {
			break
		}
		out = append(out, api.ScoredPoint{
			ID:      s.ids.at(h.off),
			Version: s.version[h.off],
			Score:   sc,
			Payload: pr.selected(h.off, req.WithPayload),
			Vector:  s.selectVectors(h.off, req.WithVector),
			Sparse:  s.selectSparse(h.off, req.WithVector),
			Multi:   s.selectMulti(h.off, req.WithVector),
		})
	}
	if pr.err != nil {
		return nil, pr.err
	}
	return out, nil
}

// VectorOnDisk reports whether the vectors of the dense or multi-vector
// name are kept in a memory-mapped file (on_disk) rather than on the
// heap; ok is false when the shard has no such dense or multi-vector.
func (s *Shard) VectorOnDisk(name string) (onDisk, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sp := s.spaces[name]; sp != nil {
		return sp.store.OnDisk(), true
	}
	if ms := s.multi[name]; ms != nil {
		return ms.store.OnDisk(), true
	}
	return false, false
}
