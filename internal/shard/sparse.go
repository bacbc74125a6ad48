package shard

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
	"github.com/shoal-db/shoal/internal/index/sparse"
)

// sparseSpace is one sparse vector name of the shard: its inverted index,
// which also holds the vectors by offset. Guarded by the shard's mu, like
// the dense spaces' per-offset state; rebuilt from the store on Open.
type sparseSpace struct {
	name string
	idx  *sparse.Index
}

func toIndexVector(v api.SparseVector) sparse.Vector {
	return sparse.Vector{Indices: v.Indices, Values: v.Values}
}

func fromIndexVector(v sparse.Vector) api.SparseVector {
	return api.SparseVector{Indices: v.Indices, Values: v.Values}
}

// encodeSparse is the value of a sparse vector's 0x03 record: u32 count n,
// n × u32 index, n × float32 value (sorted by index), little-endian.
func encodeSparse(v api.SparseVector) []byte {
	b := make([]byte, 4+8*len(v.Indices))
	binary.LittleEndian.PutUint32(b, uint32(len(v.Indices)))
	p := b[4:]
	for i, x := range v.Indices {
		binary.LittleEndian.PutUint32(p[4*i:], x)
	}
	p = p[4*len(v.Indices):]
	for i, x := range v.Values {
		binary.LittleEndian.PutUint32(p[4*i:], math.Float32bits(x))
	}
	return b
}

// decodeSparse decodes encodeSparse's output, checking that indices are
// strictly increasing.
func decodeSparse(b []byte) (api.SparseVector, error) {
	if len(b) < 4 {
		return api.SparseVector{}, fmt.Errorf("cannot decode sparse vector: %w", errCorrupt)
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > (len(b)-4)/8 || len(b) != 4+8*n {
		return api.SparseVector{}, fmt.Errorf("cannot decode sparse vector of %d entries in %d bytes: %w", n, len(b), errCorrupt)
	}
	v := api.SparseVector{Indices: make([]uint32, n), Values: make([]float32, n)}
	p := b[4:]
	for i := range n {
		v.Indices[i] = binary.LittleEndian.Uint32(p[4*i:])
		if i > 0 && v.Indices[i] <= v.Indices[i-1] {
			return api.SparseVector{}, fmt.Errorf("cannot decode sparse vector: indices not increasing: %w", errCorrupt)
		}
	}
	p = p[4*n:]
	for i := range n {
		v.Values[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return v, nil
}

// sparseAt returns the sparse vectors at off (all names when names is
// nil; names that are not sparse are ignored). Caller holds mu or writeMu.
func (s *Shard) sparseAt(off uint32, names []string) api.SparseVectors {
	var out api.SparseVectors
	add := func(name string, ss *sparseSpace) {
		if v, ok := ss.idx.Get(off); ok {
			if out == nil {
				out = api.SparseVectors{}
			}
			out[name] = fromIndexVector(v)
		}
	}
	if names == nil {
		for name, ss := range s.sparse {
			add(name, ss)
		}
		return out
	}
	for _, name := range names {
		if ss := s.sparse[name]; ss != nil {
			add(name, ss)
		}
	}
	return out
}

// SparseStats returns, for the sparse vector name, the number of points
// holding it and, for each of dims, how many of them have an entry for it:
// the statistics the collection computes IDF from.
func (s *Shard) SparseStats(ctx context.Context, name string, dims []uint32) (n int, df []int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	ss := s.sparse[name]
	if ss == nil {
		return 0, nil, api.ErrBadInput("Not existing vector name error: %s", name)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, nil, ErrClosed
	}
	df = make([]int, len(dims))
	for i, d := range dims {
		df[i] = ss.idx.DocFreq(d)
	}
	return ss.idx.Len(), df, nil
}

// searchSparse answers a search of a sparse vector name. The query is
// sorted and valid (and already weighted by IDF when the collection says
// so). Only points sharing a dimension with the query are hits, scored by
// dot product (higher is better), exactly on every path.
//
// The planner scores the filtered set directly when asked (exact), or when
// the filter's cardinality is below req.SparseFullScan or no larger than
// the postings the index would read; otherwise it walks the postings with
// the filter as a predicate (payload index candidates first, as for dense
// searches). Payloads for m are read by pr; the caller checks its error.
// Caller holds mu.
func (s *Shard) searchSparse(ctx context.Context, ss *sparseSpace, req SearchRequest, m *filter.Matcher, pr *payloadReader) ([]sparse.Result, error) {
	q := toIndexVector(*req.Sparse)
	allow := func(off uint32) bool {
		return s.live.has(off) && pr.match(m, off)
	}
	exact := req.Params.Exact
	var cands []uint32
	haveCands, exactCands := false, false
	if req.Filter != nil {
		est := s.pidx.estimate(req.Filter, ss.idx.Len())
		if est.Max < req.SparseFullScan || est.Exp <= ss.idx.PostingLen(q) {
			exact = true
		}
		cands, exactCands, haveCands = s.pidx.set.Candidates(req.Filter, s.nLive)
		if exactCands {
			allow = s.live.has // the indexes answered the whole filter
		}
	}
	if !exact {
		s.plansGraph.Add(1)
		if haveCands {
			var cset bitset
			if len(cands) > 0 {
				cset = make(bitset, cands[len(cands)-1]/64+1)
			}
			for _, off := range cands {
				cset.set(off)
			}
			inner := allow
			allow = func(off uint32) bool { return cset.has(off) && inner(off) }
		}
		return ss.idx.Search(q, req.Limit, allow), nil
	}
	s.plansExact.Add(1)
	if haveCands {
		return ss.idx.SearchCandidates(q, req.Limit, cands, allow), nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ss.idx.SearchScan(q, req.Limit, allow), nil
}
