package shard

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
)

// ErrTruncated reports that the op log no longer holds the requested start.
var ErrTruncated = errors.New("shard: operation log truncated")

func seqFromOpKey(k []byte) uint64 { return binary.BigEndian.Uint64(k[1:]) }

// ReadOps calls fn for each logged operation with sequence >= from, in
// order. It returns ErrTruncated if the log no longer reaches back to from.
func (s *Shard) ReadOps(ctx context.Context, from uint64, fn func(seq uint64, op *api.UpdateOperation) error) error {
	if from == 0 {
		from = 1
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if s.db == nil {
		return errStoreClosed
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	v, closer, err := snap.Get(metaKey)
	if err != nil {
		return fmt.Errorf("cannot read shard meta: %w", err)
	}
	m, err := decodeMeta(v)
	closer.Close()
	if err != nil {
		return err
	}
	if from > m.LastSeq {
		return nil
	}
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: opKey(from), UpperBound: []byte{prefixOp + 1}})
	if err != nil {
		return fmt.Errorf("cannot read op log: %w", err)
	}
	defer it.Close()
	want := from
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		seq := seqFromOpKey(it.Key())
		if seq != want {
			if want == from {
				return ErrTruncated
			}
			return fmt.Errorf("cannot read op log: gap at sequence %d (found %d): %w", want, seq, errCorrupt)
		}
		val, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("cannot read operation %d: %w", seq, err)
		}
		op, err := decodeOp(val, func(off uint32, name string) ([]float32, error) {
			v, closer, err := snap.Get(vectorKey(off, name))
			if err != nil {
				return nil, fmt.Errorf("cannot read vector %q at offset %d of operation %d: %w", name, off, seq, err)
			}
			defer closer.Close()
			return decodeFloats(v)
		})
		if err != nil {
			return fmt.Errorf("cannot read operation %d: %w", seq, err)
		}
		if err := fn(seq, op); err != nil {
			return err
		}
		want++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("cannot read op log: %w", err)
	}
	if want == from {
		return ErrTruncated
	}
	return nil
}

// record builds the record of the point at off, its payload read by r.
// Caller holds mu.
func (s *Shard) record(r *payloadReader, off uint32, withPayload *api.PayloadSelector, withVector *api.VectorSelector) api.Record {
	return api.Record{ID: s.ids.at(off), Payload: r.selected(off, withPayload), Vector: s.selectVectors(off, withVector), Sparse: s.selectSparse(off, withVector), Multi: s.selectMulti(off, withVector)}
}

// selectSparse returns the sparse vectors selected by sel at off (the
// slices are immutable, like the offsets).
func (s *Shard) selectSparse(off uint32, sel *api.VectorSelector) api.SparseVectors {
	if sel == nil || !sel.Enable || len(s.sparse) == 0 {
		return nil
	}
	return s.sparseAt(off, sel.Names)
}

// selectVectors copies the vectors selected by sel at off.
func (s *Shard) selectVectors(off uint32, sel *api.VectorSelector) api.Vectors {
	if sel == nil || !sel.Enable {
		return nil
	}
	v := s.vectorsAt(off, sel.Names)
	for n, vec := range v {
		v[n] = slices.Clone(vec)
	}
	return v
}

// Get returns the points with the given ids that exist, in the order given.
func (s *Shard) Get(ctx context.Context, ids []api.PointID, withPayload *api.PayloadSelector, withVector *api.VectorSelector) ([]api.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]api.Record, 0, len(ids))
	r := s.payloadReader()
	for _, id := range ids {
		if off, ok := s.ids.lookup(id); ok {
			out = append(out, s.record(r, off, withPayload, withVector))
		}
	}
	return out, r.err
}

// ScrollRequest pages through points in id order from Offset, or in payload
// order when OrderBy is set.
type ScrollRequest struct {
	Offset      *api.PointID
	Limit       int
	Filter      *api.Filter
	WithPayload *api.PayloadSelector
	WithVector  *api.VectorSelector
	OrderBy     *api.OrderBy
}

// Scroll returns up to req.Limit records (with OrderValue set when ordered
// by a field). The caller asks for limit+1 to learn the next page offset.
func (s *Shard) Scroll(ctx context.Context, req ScrollRequest) ([]api.Record, error) {
	if req.Limit <= 0 {
		return []api.Record{}, nil
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
	if s.db == nil && req.OrderBy == nil {
		return nil, errStoreClosed
	}
	if req.OrderBy != nil {
		return s.scrollOrdered(ctx, req, m)
	}
	lower := []byte{prefixPoint}
	if req.Offset != nil {
		lower = pointKey(*req.Offset)
	}
	// With payloads on disk the records are read from the payload view,
	// the store as published, and each one's payload taken from it.
	var src pebble.Reader = s.db
	if s.opts.OnDiskPayload {
		if s.view == nil {
			return nil, errStoreClosed
		}
		src = s.view
	}
	r := s.payloadReader()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{prefixPoint + 1}})
	if err != nil {
		return nil, fmt.Errorf("cannot scroll points: %w", err)
	}
	defer it.Close()
	out := []api.Record{}
	n := 0
	for ok := it.First(); ok && len(out) < req.Limit; ok = it.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		id, okID := api.PointIDFromKey(it.Key()[1:])
		if !okID {
			continue
		}
		// The in-memory state is authoritative for readers: a record
		// committed but not yet published is skipped.
		off, ok := s.ids.lookup(id)
		if !ok {
			continue
		}
		if s.opts.OnDiskPayload && (m.ReadsPayload() || (req.WithPayload != nil && req.WithPayload.Enable)) {
			v, err := it.ValueAndErr()
			if err != nil {
				return nil, fmt.Errorf("cannot scroll points: %w", err)
			}
			h, err := decodePointHeader(v, true)
			if err != nil {
				return nil, fmt.Errorf("cannot read point %s: %w", id, err)
			}
			if h.Offset != off {
				return nil, fmt.Errorf("cannot read point %s: its record is at offset %d, the shard has it at %d: %w", id, h.Offset, off, errCorrupt)
			}
			r.use(off, h.Payload)
		}
		if !r.match(m, off) {
			if r.err != nil {
				return nil, r.err
			}
			continue
		}
		out = append(out, s.record(r, off, req.WithPayload, req.WithVector))
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("cannot scroll points: %w", err)
	}
	return out, r.err
}

// orderEntry is one (value, point) pair of an ordered scroll.
type orderEntry struct {
	val float64
	off uint32
}

func (s *Shard) scrollOrdered(ctx context.Context, req ScrollRequest, m *filter.Matcher) ([]api.Record, error) {
	ob := req.OrderBy
	desc := false
	switch ob.Direction {
	case "", "asc":
	case "desc":
		desc = true
	default:
		return nil, api.ErrBadInput("order_by direction must be asc or desc, got %q", ob.Direction)
	}
	schema := s.pidx.schemas[ob.Key]
	var start *float64
	if ob.StartFrom != nil {
		f, ok := orderNumber(ob.StartFrom, schema.Type)
		if !ok {
			return nil, api.ErrBadInput("order_by start_from must be a number or a datetime")
		}
		start = &f
	}
	out := []api.Record{}
	n := 0
	var ctxErr error
	pr := s.payloadReader()
	err := s.pidx.set.Ordered(ob.Key, desc, start, func(off uint32, v float64) bool {
		if n++; n%4096 == 0 {
			if ctxErr = ctx.Err(); ctxErr != nil {
				return false
			}
		}
		if !s.live.has(off) || !pr.match(m, off) {
			return pr.err == nil
		}
		r := s.record(pr, off, req.WithPayload, req.WithVector)
		r.OrderValue = orderValue(v, schema.Type)
		out = append(out, r)
		return len(out) < req.Limit && pr.err == nil
	})
	if err != nil {
		return nil, err
	}
	if pr.err != nil {
		return nil, pr.err
	}
	return out, ctxErr
}

// orderNumber reads an order_by value: a number, or for datetime keys an
// RFC 3339 string (as Unix microseconds).
func orderNumber(v any, t api.PayloadSchemaType) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		if t == api.SchemaDatetime {
			tm, err := api.ParseDatetime(x)
			if err != nil {
				return 0, false
			}
			return float64(tm.UnixMicro()), true
		}
	}
	return 0, false
}

func orderValue(f float64, t api.PayloadSchemaType) any {
	if t != api.SchemaFloat && f == float64(int64(f)) {
		return json.Number(strconv.FormatInt(int64(f), 10))
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

// matching calls fn for each live offset matching m (all when m is nil).
// Caller holds mu.
func (s *Shard) matching(ctx context.Context, r *payloadReader, m *filter.Matcher, fn func(off uint32)) error {
	n := 0
	var err error
	s.live.each(func(off uint32) bool {
		if n++; n%4096 == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		if r.match(m, off) {
			fn(off)
		}
		return r.err == nil
	})
	if err != nil {
		return err
	}
	return r.err
}

// matchingFilter is matching with the candidates of the payload indexes
// when they can narrow f down. Caller holds mu.
func (s *Shard) matchingFilter(ctx context.Context, r *payloadReader, f *api.Filter, m *filter.Matcher, fn func(off uint32)) error {
	if f != nil {
		if cands, exact, ok := s.pidx.set.Candidates(f, s.nLive); ok {
			for i, off := range cands {
				if i%4096 == 4095 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				// With an exact answer from the indexes, no payload is read.
				if s.live.has(off) && (exact || r.match(m, off)) {
					fn(off)
				}
				if r.err != nil {
					return r.err
				}
			}
			return nil
		}
	}
	return s.matching(ctx, r, m, fn)
}

// Count counts points matching filter (all points when nil). Without exact
// it may return an estimate from the payload indexes.
func (s *Shard) Count(ctx context.Context, f *api.Filter, exact bool) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	if f == nil {
		return uint64(s.nLive), nil
	}
	m, err := s.pidx.compile(f)
	if err != nil {
		return 0, err
	}
	if !exact {
		return uint64(s.pidx.estimate(f, s.nLive).Exp), nil
	}
	var n uint64
	err = s.matchingFilter(ctx, s.payloadReader(), f, m, func(uint32) { n++ })
	return n, err
}

// Facet counts the values at key among points matching filter, most
// frequent first, at most limit (ties by value).
func (s *Shard) Facet(ctx context.Context, key string, f *api.Filter, limit int, exact bool) ([]api.FacetHit, error) {
	if _, err := filter.ParsePath(key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	m, err := s.pidx.compile(f)
	if err != nil {
		return nil, err
	}
	pr := s.payloadReader()
	var allow func(uint32) bool
	if m != nil {
		allow = func(off uint32) bool {
			return s.live.has(off) && pr.match(m, off)
		}
	} else {
		allow = s.live.has
	}
	if hits, ok := s.pidx.set.Facet(key, allow, limit); ok {
		if pr.err != nil {
			return nil, pr.err
		}
		if hits == nil {
			hits = []api.FacetHit{}
		}
		return hits, nil
	}
	type fkey struct {
		kind byte // 0 string, 1 number, 2 bool
		s    string
	}
	counts := map[fkey]uint64{}
	seen := map[fkey]bool{}
	err = s.matchingFilter(ctx, pr, f, m, func(off uint32) {
		clear(seen)
		for _, v := range filter.Values(pr.at(off), key) {
			var k fkey
			switch x := v.(type) {
			case string:
				k = fkey{0, x}
			case json.Number:
				if _, err := x.Int64(); err != nil {
					continue
				}
				k = fkey{1, x.String()}
			case bool:
				k = fkey{2, strconv.FormatBool(x)}
			default:
				continue
			}
			if !seen[k] {
				seen[k] = true
				counts[k]++
			}
		}
	})
	if err != nil {
		return nil, err
	}
	hits := make([]api.FacetHit, 0, len(counts))
	keys := make([]fkey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if counts[a] != counts[b] {
			return counts[a] > counts[b]
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.kind == 1 {
			x, _ := strconv.ParseInt(a.s, 10, 64)
			y, _ := strconv.ParseInt(b.s, 10, 64)
			return x < y
		}
		return a.s < b.s
	})
	if limit <= 0 {
		limit = len(keys)
	}
	for _, k := range keys[:min(limit, len(keys))] {
		var v any
		switch k.kind {
		case 0:
			v = k.s
		case 1:
			v = json.Number(k.s)
		case 2:
			v = k.s == "true"
		}
		hits = append(hits, api.FacetHit{Value: v, Count: counts[k]})
	}
	return hits, nil
}

// Sample returns up to n ids chosen uniformly at random among points
// matching filter.
func (s *Shard) Sample(ctx context.Context, n int, f *api.Filter) ([]api.PointID, error) {
	if n <= 0 {
		return []api.PointID{}, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	m, err := s.pidx.compile(f)
	if err != nil {
		return nil, err
	}
	// Reservoir sampling over the matching points.
	out := make([]api.PointID, 0, n)
	seen := 0
	err = s.matchingFilter(ctx, s.payloadReader(), f, m, func(off uint32) {
		seen++
		if len(out) < n {
			out = append(out, s.ids.at(off))
		} else if j := rand.IntN(seen); j < n {
			out[j] = s.ids.at(off)
		}
	})
	if err != nil {
		return nil, err
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}
