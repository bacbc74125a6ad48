package shard

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// multiSpace is one multi-vector name (multivector_config max_sim) of the
// shard: each point's list of vectors by offset. It has no graph: searches
// score the filtered set exactly by MaxSim. Guarded by the shard's mu;
// rebuilt from the store on Open.
type multiSpace struct {
	name string
	dim  int
	vecs map[uint32][][]float32
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

// MaxSim scores a multi-vector doc against query: the sum over the query's
// vectors of the best dot product with any of doc's vectors (vectors of a
// Cosine name are normalised on the way in, so the dot product is their
// cosine).
func MaxSim(query, doc [][]float32) float32 {
	var sum float32
	for _, q := range query {
		best := float32(math.Inf(-1))
		for _, d := range doc {
			best = max(best, vecmath.Dot(q, d))
		}
		if len(doc) > 0 {
			sum += best
		}
	}
	return sum
}

// multiAt returns the multi-vectors at off (all names when names is nil).
// Caller holds mu or writeMu.
func (s *Shard) multiAt(off uint32, names []string) api.MultiVectors {
	var out api.MultiVectors
	add := func(name string, ms *multiSpace) {
		if vs, ok := ms.vecs[off]; ok {
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
		c := make([][]float32, len(vs))
		for i, v := range vs {
			c[i] = slices.Clone(v)
		}
		out[name] = c
	}
	return out
}

// searchMultiHits answers a search of a multi-vector name: every live
// point holding it that matches the filter is scored by MaxSim (higher is
// better), exactly; the payload indexes' candidates narrow the scan when
// they can.
func (s *Shard) searchMultiHits(ctx context.Context, ms *multiSpace, req SearchRequest) ([]api.ScoredPoint, error) {
	if req.Multi == nil {
		return nil, api.ErrBadInput("vector %q is a multi-vector: query it with a list of vectors [[...], ...]", req.Using)
	}
	if req.Scorer != nil {
		return nil, api.ErrBadInput("recommend, discover and context queries on the multi-vector %q are not supported by this server", req.Using)
	}
	for _, q := range req.Multi {
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
	t := &topK{k: req.Limit}
	score := func(off uint32) {
		vs, ok := ms.vecs[off]
		if !ok || !s.live.has(off) || (m != nil && !m.Match(s.ids.at(off), s.payloads[off], s.hasVectorFunc(off))) {
			return
		}
		t.offer(hit{off, -MaxSim(req.Multi, vs)})
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
		return nil
	}
	if cands, ok := s.pidx.set.Candidates(req.Filter, s.nLive); req.Filter != nil && ok {
		for _, off := range cands {
			if err := visit(off); err != nil {
				return nil, err
			}
		}
	} else {
		for off := range ms.vecs {
			if err := visit(off); err != nil {
				return nil, err
			}
		}
	}
	hits := t.sorted()
	out := make([]api.ScoredPoint, 0, len(hits))
	for _, h := range hits {
		sc := -h.dist
		if th := req.ScoreThreshold; th != nil && sc < *th {
			break
		}
		out = append(out, api.ScoredPoint{
			ID:      s.ids.at(h.off),
			Version: s.version[h.off],
			Score:   sc,
			Payload: filter.Select(s.payloads[h.off], req.WithPayload),
			Vector:  s.selectVectors(h.off, req.WithVector),
			Sparse:  s.selectSparse(h.off, req.WithVector),
			Multi:   s.selectMulti(h.off, req.WithVector),
		})
	}
	return out, nil
}
