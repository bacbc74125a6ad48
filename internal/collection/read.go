package collection

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// DefaultScrollLimit and the other defaults are Qdrant's.
const (
	DefaultScrollLimit = 10
	DefaultFacetLimit  = 10
	DefaultQueryLimit  = 10
	DefaultGroupSize   = 3
	DefaultMatrixLimit = 3
	DefaultSample      = 10
)

// Get returns the points with the given ids that exist, in the order asked,
// each once.
func (c *Collection) Get(ctx context.Context, ids []api.PointID, withPayload *api.PayloadSelector, withVector *api.VectorSelector) ([]api.Record, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	return c.get(ctx, ids, withPayload, withVector)
}

func (c *Collection) get(ctx context.Context, ids []api.PointID, withPayload *api.PayloadSelector, withVector *api.VectorSelector) ([]api.Record, error) {
	if err := c.checkVectorSelector(withVector); err != nil {
		return nil, err
	}
	by := make([][]api.PointID, c.n)
	seen := make(map[api.PointID]bool, len(ids))
	order := make([]api.PointID, 0, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		order = append(order, id)
		s := c.router.ShardOf(id)
		by[s] = append(by[s], id)
	}
	results := make([][]api.Record, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		if len(by[i]) == 0 {
			return nil
		}
		recs, err := s.Get(ctx, by[i], withPayload, withVector)
		results[i] = recs
		return err
	})
	if err != nil {
		return nil, err
	}
	found := make(map[api.PointID]api.Record, len(ids))
	for _, recs := range results {
		for _, r := range recs {
			found[r.ID] = r
		}
	}
	out := make([]api.Record, 0, len(found))
	for _, id := range order {
		if r, ok := found[id]; ok {
			out = append(out, r)
		}
	}
	return emptyPayloads(out, withPayload), nil
}

// emptyPayloads gives the records a point without payload has, as Qdrant
// does, when payloads were asked for: an empty (not absent) payload.
func emptyPayloads(recs []api.Record, wp *api.PayloadSelector) []api.Record {
	if wp != nil && wp.Enable {
		for i := range recs {
			if recs[i].Payload == nil {
				recs[i].Payload = api.Payload{}
			}
		}
	}
	return recs
}

func (c *Collection) checkVectorSelector(sel *api.VectorSelector) error {
	if sel == nil {
		return nil
	}
	for _, name := range sel.Names {
		if err := c.checkVectorName(name); err != nil {
			return err
		}
	}
	return nil
}

// Scroll pages through the points in id order (or by a payload value with
// order_by). NextPageOffset is set in id order when more points follow.
func (c *Collection) Scroll(ctx context.Context, req *api.ScrollRequest) (*api.ScrollResult, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	limit := DefaultScrollLimit
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 1 {
		return nil, api.ErrBadInput("limit must be at least 1, got %d", limit)
	}
	if err := checkFilter(req.Filter); err != nil {
		return nil, err
	}
	if err := c.checkVectorSelector(req.WithVector); err != nil {
		return nil, err
	}
	wp := req.WithPayload
	if wp == nil {
		wp = api.PayloadAll // Qdrant's scroll returns payloads by default
	}
	if req.OrderBy != nil {
		if req.Offset != nil {
			return nil, api.ErrBadInput("Cannot use an `offset` when using `order_by`. The alternative for paging is to use `order_by.start_from` and a filter to exclude the IDs that you've already seen for the `order_by.start_from` value")
		}
		if err := checkOrderBy(req.OrderBy); err != nil {
			return nil, err
		}
		recs, err := c.scrollOrdered(ctx, req.OrderBy, req.Filter, limit, wp, req.WithVector)
		if err != nil {
			return nil, err
		}
		return &api.ScrollResult{Points: emptyPayloads(recs, wp)}, nil
	}
	sr := shard.ScrollRequest{Offset: req.Offset, Limit: limit + 1, Filter: req.Filter, WithPayload: wp, WithVector: req.WithVector}
	recs, err := c.scrollByID(ctx, sr)
	if err != nil {
		return nil, err
	}
	res := &api.ScrollResult{Points: emptyPayloads(recs, wp)}
	if len(recs) > limit {
		next := recs[limit].ID
		res.NextPageOffset = &next
		res.Points = recs[:limit]
	}
	return res, nil
}

func checkOrderBy(o *api.OrderBy) error {
	if o.Key == "" {
		return api.ErrBadInput("order_by key must not be empty")
	}
	switch o.Direction {
	case "", "asc", "desc":
	default:
		return api.ErrBadInput("order_by direction must be asc or desc, got %q", o.Direction)
	}
	return nil
}

// scrollByID merges the shards' id-ordered pages and keeps sr.Limit records.
func (c *Collection) scrollByID(ctx context.Context, sr shard.ScrollRequest) ([]api.Record, error) {
	results := make([][]api.Record, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		recs, err := s.Scroll(ctx, sr)
		results[i] = recs
		return err
	})
	if err != nil {
		return nil, err
	}
	var all []api.Record
	for _, r := range results {
		all = append(all, r...)
	}
	if len(results) > 1 {
		sort.Slice(all, func(i, j int) bool { return all[i].ID.Compare(all[j].ID) < 0 })
	}
	if len(all) > sr.Limit {
		all = all[:sr.Limit]
	}
	return all, nil
}

// scrollOrdered merges the shards' pages ordered by a payload value.
func (c *Collection) scrollOrdered(ctx context.Context, ob *api.OrderBy, f *api.Filter, limit int, wp *api.PayloadSelector, wv *api.VectorSelector) ([]api.Record, error) {
	sr := shard.ScrollRequest{Limit: limit, Filter: f, WithPayload: wp, WithVector: wv, OrderBy: ob}
	results := make([][]api.Record, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		recs, err := s.Scroll(ctx, sr)
		results[i] = recs
		return err
	})
	if err != nil {
		return nil, err
	}
	var all []api.Record
	for _, r := range results {
		all = append(all, r...)
	}
	desc := ob.Direction == "desc"
	sort.SliceStable(all, func(i, j int) bool {
		cmp := compareOrderValues(all[i].OrderValue, all[j].OrderValue)
		if cmp == 0 {
			return all[i].ID.Compare(all[j].ID) < 0
		}
		if desc {
			return cmp > 0
		}
		return cmp < 0
	})
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// orderNumber converts an order value (json.Number, float64, ints) to float64.
func orderNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// compareOrderValues orders numbers numerically and anything else by its
// text; numbers sort before non-numbers.
func compareOrderValues(a, b any) int {
	fa, oka := orderNumber(a)
	fb, okb := orderNumber(b)
	switch {
	case oka && okb:
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	case oka:
		return -1
	case okb:
		return 1
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// Count counts the points matching the filter over all shards.
func (c *Collection) Count(ctx context.Context, f *api.Filter, exact bool) (uint64, error) {
	if err := c.acquire(ctx); err != nil {
		return 0, err
	}
	defer c.release()
	if err := checkFilter(f); err != nil {
		return 0, err
	}
	counts := make([]uint64, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		n, err := s.Count(ctx, f, exact)
		counts[i] = n
		return err
	})
	var total uint64
	for _, n := range counts {
		total += n
	}
	return total, err
}

// Facet counts the values at key among the points matching the filter.
func (c *Collection) Facet(ctx context.Context, req *api.FacetRequest) (*api.FacetResponse, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	if req.Key == "" {
		return nil, api.ErrBadInput("facet key must not be empty")
	}
	if err := checkFilter(req.Filter); err != nil {
		return nil, err
	}
	limit := DefaultFacetLimit
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 1 {
		return nil, api.ErrBadInput("limit must be at least 1, got %d", limit)
	}
	exact := req.Exact != nil && *req.Exact
	// With several shards every shard reports all its values (limit 0), so
	// that the merged counts are exact: a value just outside one shard's
	// top list may still be in the overall top.
	perShard := limit
	if c.n > 1 {
		perShard = 0
	}
	results := make([][]api.FacetHit, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		hits, err := s.Facet(ctx, req.Key, req.Filter, perShard, exact)
		results[i] = hits
		return err
	})
	if err != nil {
		return nil, err
	}
	return &api.FacetResponse{Hits: MergeFacets(results, limit)}, nil
}

// MergeFacets sums the counts of equal values over the lists and returns the
// limit most frequent, ties broken by value in ascending order.
func MergeFacets(lists [][]api.FacetHit, limit int) []api.FacetHit {
	type acc struct {
		value any
		count uint64
	}
	byKey := map[string]*acc{}
	var order []string
	for _, hits := range lists {
		for _, h := range hits {
			k := facetKey(h.Value)
			a, ok := byKey[k]
			if !ok {
				a = &acc{value: h.Value}
				byKey[k] = a
				order = append(order, k)
			}
			a.count += h.Count
		}
	}
	out := make([]api.FacetHit, 0, len(order))
	for _, k := range order {
		a := byKey[k]
		out = append(out, api.FacetHit{Value: a.value, Count: a.count})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return compareFacetValues(out[i].Value, out[j].Value) < 0
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func facetKey(v any) string {
	switch x := v.(type) {
	case string:
		return "s:" + x
	case bool:
		return fmt.Sprintf("b:%v", x)
	}
	if f, ok := orderNumber(v); ok {
		return fmt.Sprintf("n:%v", f)
	}
	return fmt.Sprintf("o:%v", v)
}

func compareFacetValues(a, b any) int {
	sa, oka := a.(string)
	sb, okb := b.(string)
	if oka && okb {
		return strings.Compare(sa, sb)
	}
	ba, oka := a.(bool)
	bb, okb := b.(bool)
	if oka && okb {
		switch {
		case ba == bb:
			return 0
		case !ba:
			return -1
		}
		return 1
	}
	return compareOrderValues(a, b)
}

// sample returns up to n ids drawn at random among the points matching f:
// each shard draws up to n of its own, and the union is shuffled with every
// shard weighted by its share of the matching points.
func (c *Collection) sample(ctx context.Context, n int, f *api.Filter) ([]api.PointID, error) {
	if n <= 0 {
		return nil, nil
	}
	samples := make([][]api.PointID, c.n)
	counts := make([]uint64, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		ids, err := s.Sample(ctx, n, f)
		if err != nil {
			return err
		}
		samples[i] = ids
		if c.n > 1 {
			counts[i], err = s.Count(ctx, f, false)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if c.n == 1 {
		return samples[0], nil
	}
	// Draw without replacement: pick a shard with probability proportional
	// to its remaining matching points, then take its next sampled id.
	remaining := make([]float64, c.n)
	var total float64
	for i := range c.routes() {
		if len(samples[i]) == 0 {
			continue
		}
		remaining[i] = float64(max(counts[i], uint64(len(samples[i]))))
		total += remaining[i]
	}
	out := make([]api.PointID, 0, n)
	for len(out) < n && total > 0 {
		r := rand.Float64() * total
		pick := -1
		for i, w := range remaining {
			if w <= 0 {
				continue
			}
			pick = i
			if r < w {
				break
			}
			r -= w
		}
		out = append(out, samples[pick][0])
		samples[pick] = samples[pick][1:]
		total -= remaining[pick]
		if len(samples[pick]) == 0 {
			remaining[pick] = 0
		} else {
			remaining[pick]--
			total += remaining[pick]
		}
	}
	return out, nil
}
