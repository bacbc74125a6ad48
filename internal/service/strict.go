package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	coll "github.com/shoal-db/shoal/internal/collection"
)

// Strict mode (Qdrant's strict_mode_config): the limits a collection puts
// on the requests it accepts, enforced here for both adapters. Each check
// runs on the held collection, so it sees the configuration in force.

// resolveStrictMode validates a strict_mode_config body and merges it over
// the current one (nil on create), returning the canonical JSON stored in
// the collection's config (null when unset). Keys this server cannot
// enforce are refused.
func resolveStrictMode(cur, req json.RawMessage) (json.RawMessage, error) {
	d, err := api.ParseStrictMode(req)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return cur, nil
	}
	if d.MaxResidentMemoryPercent != nil {
		return nil, api.ErrBadInput("strict_mode_config.max_resident_memory_percent is not supported by this server (deprecated in Qdrant 1.19)")
	}
	base, err := api.ParseStrictMode(cur)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(base.Merge(d))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// strictOf returns the collection's strict mode when it is enabled, else
// nil. Configurations that cannot be enabled (no "enabled" key) are not
// decoded, so collections without strict mode pay nothing per request.
func strictOf(c *coll.Collection) *api.StrictModeConfig {
	raw := c.Config().StrictModeConfig
	if !bytes.Contains(raw, []byte(`"enabled"`)) {
		return nil
	}
	sm, err := api.ParseStrictMode(raw)
	if err != nil || !sm.On() {
		return nil
	}
	return sm
}

// payloadIndexes returns the payload index definitions of the collection.
func (s *Service) payloadIndexes(c *coll.Collection) map[string]api.PayloadFieldSchema {
	if m := s.state().Collections[c.Name()]; m != nil {
		return m.PayloadIndexes
	}
	return nil
}

// strictCheck is one request's checks against an enabled strict mode.
type strictCheck func(sm *api.StrictModeConfig, c *coll.Collection) error

// checkStrict runs the checks that every request shares (timeout, rate
// limit of the given kind and cost) and then the request's own, when the
// collection has strict mode on.
func (s *Service) checkStrict(c *coll.Collection, timeout int, write bool, cost int, check strictCheck) error {
	sm := strictOf(c)
	if sm == nil {
		return nil
	}
	if timeout > 0 {
		if err := api.StrictLimit(timeout, sm.MaxTimeout, "timeout"); err != nil {
			return err
		}
	}
	limit := sm.ReadRateLimit
	if write {
		limit = sm.WriteRateLimit
	}
	if limit != nil {
		if err := s.rates.take(c.Name(), write, *limit, cost); err != nil {
			return err
		}
	}
	if check != nil {
		return check(sm, c)
	}
	return nil
}

// queryChecks checks a universal query: limit, prefetch limits, filters,
// formulas and search params at every level.
func (s *Service) queryChecks(req *api.QueryRequest) strictCheck {
	limit := 10
	if req.Limit != nil {
		limit = *req.Limit
	}
	return s.queryChecksLimit(req, limit)
}

// queryChecksLimit is queryChecks with the limit the request counts as
// (a group query counts limit × group_size).
func (s *Service) queryChecksLimit(req *api.QueryRequest, limit int) strictCheck {
	return func(sm *api.StrictModeConfig, c *coll.Collection) error {
		if err := api.StrictLimit(limit, sm.MaxQueryLimit, "limit"); err != nil {
			return err
		}
		idx := s.payloadIndexes(c)
		if err := sm.CheckFilter(req.Filter, false, idx); err != nil {
			return err
		}
		if err := sm.CheckSearchParams(req.Params); err != nil {
			return err
		}
		if err := sm.CheckFormula(req.Query, idx); err != nil {
			return err
		}
		return checkPrefetchesStrict(sm, req.Prefetch, idx)
	}
}

func checkPrefetchesStrict(sm *api.StrictModeConfig, ps []api.Prefetch, idx map[string]api.PayloadFieldSchema) error {
	for i := range ps {
		p := &ps[i]
		if p.Limit != nil {
			if err := api.StrictLimit(*p.Limit, sm.MaxQueryLimit, "limit"); err != nil {
				return err
			}
		}
		if err := sm.CheckFilter(p.Filter, false, idx); err != nil {
			return err
		}
		if err := sm.CheckSearchParams(p.Params); err != nil {
			return err
		}
		if err := sm.CheckFormula(p.Query, idx); err != nil {
			return err
		}
		if err := checkPrefetchesStrict(sm, p.Prefetch, idx); err != nil {
			return err
		}
	}
	return nil
}

// batchChecks checks a batch of queries: search_max_batchsize, then each.
func (s *Service) batchChecks(reqs []api.QueryRequest) strictCheck {
	return func(sm *api.StrictModeConfig, c *coll.Collection) error {
		if err := api.StrictLimit(len(reqs), sm.SearchMaxBatchsize, "batch size"); err != nil {
			return err
		}
		for i := range reqs {
			if err := s.queryChecks(&reqs[i])(sm, c); err != nil {
				return err
			}
		}
		return nil
	}
}

// groupsChecks checks a group query, and that group_by has an index that
// serves match conditions while unindexed retrieval filters are refused.
func (s *Service) groupsChecks(req *api.QueryGroupsRequest) strictCheck {
	groups, size := 10, 3
	if req.Limit != nil {
		groups = *req.Limit
	}
	if req.GroupSize != nil {
		size = *req.GroupSize
	}
	return func(sm *api.StrictModeConfig, c *coll.Collection) error {
		if err := s.queryChecksLimit(&req.QueryRequest, groups*size)(sm, c); err != nil {
			return err
		}
		if sm.UnindexedFilteringRetrieve == nil || *sm.UnindexedFilteringRetrieve {
			return nil
		}
		help := "Create an index supporting `match` for this key."
		schema, ok := s.payloadIndexes(c)[req.GroupBy]
		if !ok {
			return api.ErrStrictMode(fmt.Sprintf("Index required but not found for \"%s\"", req.GroupBy), help)
		}
		switch schema.Type {
		case api.SchemaKeyword, api.SchemaInteger, api.SchemaUUID, api.SchemaBool:
			return nil
		}
		kind := string(schema.Type)
		if kind != "" {
			kind = string(kind[0]-'a'+'A') + kind[1:]
		}
		return api.ErrStrictMode(fmt.Sprintf("Index of type \"%s\" found for \"%s\"", kind, req.GroupBy), help)
	}
}

// limitFilterChecks checks a read with a limit (none checked when unset,
// as Qdrant does for scroll and facet), a filter and an exact flag.
func (s *Service) limitFilterChecks(limit *int, f *api.Filter, exact bool) strictCheck {
	return func(sm *api.StrictModeConfig, c *coll.Collection) error {
		if limit != nil {
			if err := api.StrictLimit(*limit, sm.MaxQueryLimit, "limit"); err != nil {
				return err
			}
		}
		if err := sm.CheckFilter(f, false, s.payloadIndexes(c)); err != nil {
			return err
		}
		return sm.CheckExact(exact)
	}
}

// writeChecks checks a batch of write operations.
func (s *Service) writeChecks(ops []api.UpdateOperation) strictCheck {
	return func(sm *api.StrictModeConfig, c *coll.Collection) error {
		idx := s.payloadIndexes(c)
		for i := range ops {
			if err := s.writeCheck(sm, c, &ops[i], idx); err != nil {
				return err
			}
		}
		return nil
	}
}

func (s *Service) writeCheck(sm *api.StrictModeConfig, c *coll.Collection, op *api.UpdateOperation, idx map[string]api.PayloadFieldSchema) error {
	switch {
	case op.Upsert != nil:
		u := op.Upsert
		if err := api.StrictLimit(len(u.Points), sm.UpsertMaxBatchsize, "upsert limit"); err != nil {
			return err
		}
		if err := checkSizeLimits(sm, c); err != nil {
			return err
		}
		for i := range u.Points {
			p := &u.Points[i]
			if err := checkVectorLimits(sm, p.Sparse, p.Multi); err != nil {
				return err
			}
		}
		return sm.CheckFilter(u.UpdateFilter, true, idx)
	case op.UpdateVectors != nil:
		u := op.UpdateVectors
		if err := api.StrictLimit(len(u.Points), sm.UpsertMaxBatchsize, "update limit"); err != nil {
			return err
		}
		if err := checkSizeLimits(sm, c); err != nil {
			return err
		}
		for i := range u.Points {
			p := &u.Points[i]
			if err := checkVectorLimits(sm, p.Sparse, p.Multi); err != nil {
				return err
			}
		}
		return sm.CheckFilter(u.UpdateFilter, true, idx)
	case op.Delete != nil:
		return sm.CheckFilter(op.Delete.Filter, true, idx)
	case op.SetPayload != nil:
		return sm.CheckFilter(op.SetPayload.Filter, true, idx)
	case op.OverwritePayload != nil:
		return sm.CheckFilter(op.OverwritePayload.Filter, true, idx)
	case op.DeletePayload != nil:
		return sm.CheckFilter(op.DeletePayload.Filter, true, idx)
	case op.ClearPayload != nil:
		return sm.CheckFilter(op.ClearPayload.Filter, true, idx)
	case op.DeleteVectors != nil:
		return sm.CheckFilter(op.DeleteVectors.Filter, true, idx)
	}
	return nil
}

// writeCost is the rate-limit cost of a batch of writes: the points or ids
// each names; an operation that selects its points by filter costs the
// expected number of points matching the filter (estimate, as Qdrant's
// cardinality estimation: an unindexed condition expects half the points),
// at least one.
func writeCost(ops []api.UpdateOperation, estimate func(*api.Filter) int) int {
	n := 0
	for i := range ops {
		op := &ops[i]
		k := 0
		var f *api.Filter
		switch {
		case op.Upsert != nil:
			k = len(op.Upsert.Points)
		case op.UpdateVectors != nil:
			k = len(op.UpdateVectors.Points)
		case op.Delete != nil:
			k, f = len(op.Delete.Points), op.Delete.Filter
		case op.SetPayload != nil:
			k, f = len(op.SetPayload.Points), op.SetPayload.Filter
		case op.OverwritePayload != nil:
			k, f = len(op.OverwritePayload.Points), op.OverwritePayload.Filter
		case op.DeletePayload != nil:
			k, f = len(op.DeletePayload.Points), op.DeletePayload.Filter
		case op.ClearPayload != nil:
			k, f = len(op.ClearPayload.Points), op.ClearPayload.Filter
		case op.DeleteVectors != nil:
			k, f = len(op.DeleteVectors.Points), op.DeleteVectors.Filter
		}
		if k == 0 && f != nil && estimate != nil {
			k = estimate(f)
		}
		n += max(k, 1)
	}
	return n
}

// The read rate limiter's costs, as Qdrant counts them: a retrieve costs
// one token per id; a scroll one plus one per filter condition; a query
// one per example its recommend, discover, context or relevance feedback
// queries give (at every prefetch level), at least one; a batch the sum of
// its queries' costs.
func retrieveCost(ids []api.PointID) int { return max(len(ids), 1) }

func scrollCost(f *api.Filter) int { return 1 + f.ConditionCount() }

func queryCost(req *api.QueryRequest) int {
	n := queryExamples(req.Query)
	var walk func(ps api.Prefetches)
	walk = func(ps api.Prefetches) {
		for i := range ps {
			n += queryExamples(ps[i].Query)
			walk(ps[i].Prefetch)
		}
	}
	walk(req.Prefetch)
	return max(n, 1)
}

func queryExamples(q *api.Query) int {
	if q == nil {
		return 0
	}
	switch {
	case q.Recommend != nil:
		return len(q.Recommend.Positive) + len(q.Recommend.Negative)
	case q.Discover != nil:
		return 1 + 2*len(q.Discover.Context)
	case q.Context != nil:
		return 2 * len(q.Context)
	case q.Feedback != nil:
		return 1 + len(q.Feedback.Feedback)
	}
	return 0
}

func batchCost(reqs []api.QueryRequest) int {
	n := 0
	for i := range reqs {
		n += queryCost(&reqs[i])
	}
	return max(n, 1)
}

// writeRateCost is writeCost with filters estimated on c, or 1 per
// operation when c has no write rate limit (nothing to estimate for).
func writeRateCost(ctx context.Context, c *coll.Collection, ops []api.UpdateOperation) int {
	sm := strictOf(c)
	if sm == nil || sm.WriteRateLimit == nil {
		return writeCost(ops, nil)
	}
	return writeCost(ops, func(f *api.Filter) int {
		n, err := c.Count(ctx, f, false)
		if err != nil {
			return 1 // the operation itself reports the filter's error
		}
		return int(n)
	})
}

// checkSizeLimits refuses inserts once the collection holds
// max_points_count points, its dense vectors take
// max_collection_vector_size_bytes (4 bytes per dimension, as stored) or
// its payloads max_collection_payload_size_bytes (their JSON, as the
// point records hold them).
func checkSizeLimits(sm *api.StrictModeConfig, c *coll.Collection) error {
	if sm.MaxPointsCount == nil && sm.MaxCollectionVectorSizeBytes == nil && sm.MaxCollectionPayloadSizeBytes == nil {
		return nil
	}
	st := c.Stats()
	if m := sm.MaxPointsCount; m != nil && st.Points >= uint64(*m) {
		return api.ErrBadRequest("Max points count limit of %d reached!", *m)
	}
	if m := sm.MaxCollectionVectorSizeBytes; m != nil {
		cfg := c.Config()
		var size int64
		for name, p := range cfg.Params.Vectors {
			size += int64(st.Vectors[name]) * int64(p.Size) * 4
		}
		if size >= *m {
			mb := float32(*m) / (1024 * 1024)
			return api.ErrBadRequest("Max vector storage size limit of %sMB reached!", formatMB(mb))
		}
	}
	if m := sm.MaxCollectionPayloadSizeBytes; m != nil && st.PayloadBytes >= uint64(max(*m, 0)) {
		mb := float32(*m) / (1024 * 1024)
		return api.ErrBadRequest("Max payload storage size limit of %sMB reached!", formatMB(mb))
	}
	return nil
}

// formatMB prints a float32 as Rust's Display does: the shortest decimal
// that reads back to it, never with an exponent.
func formatMB(f float32) string { return strconv.FormatFloat(float64(f), 'f', -1, 32) }

// checkVectorLimits enforces sparse_config max_length and
// multivector_config max_vectors on one point's vectors.
func checkVectorLimits(sm *api.StrictModeConfig, sparse api.SparseVectors, multi api.MultiVectors) error {
	for name, v := range sparse {
		if l, ok := sm.SparseConfig[name]; ok && l.MaxLength != nil {
			if n := len(v.Indices); n > *l.MaxLength || len(v.Values) > *l.MaxLength {
				return api.ErrBadRequest("Sparse vector '%s' has a limit of %d indices, but %d were provided!", name, *l.MaxLength, n)
			}
		}
	}
	for name, v := range multi {
		if l, ok := sm.MultivectorConfig[name]; ok && l.MaxVectors != nil && len(v) > *l.MaxVectors {
			return api.ErrBadRequest("Multivector '%s' has a limit of %d vectors, but %d were provided!", name, *l.MaxVectors, len(v))
		}
	}
	return nil
}

// rateLimiters holds a token bucket per collection and kind (read,
// write): capacity is the per-minute limit, refilled continuously.
type rateLimiters struct {
	mu      sync.Mutex
	buckets map[rateKey]*bucket
	now     func() time.Time
}

type rateKey struct {
	collection string
	write      bool
}

type bucket struct {
	limit  int
	tokens float64
	at     time.Time
}

// take takes cost tokens from the collection's bucket of the kind, or
// fails with Qdrant's 429.
func (r *rateLimiters) take(collection string, write bool, limit, cost int) error {
	kind := "Read"
	if write {
		kind = "Write"
	}
	if cost > limit {
		return &api.Error{Kind: api.KindRateLimited, Message: fmt.Sprintf("Rate limiting exceeded: %s rate limit exceeded, request larger than rate limiter capacity, please try to split your request", kind)}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.buckets == nil {
		r.buckets = map[rateKey]*bucket{}
	}
	now := time.Now()
	if r.now != nil {
		now = r.now()
	}
	k := rateKey{collection, write}
	b := r.buckets[k]
	if b == nil || b.limit != limit {
		b = &bucket{limit: limit, tokens: float64(limit), at: now}
		r.buckets[k] = b
	}
	perSec := float64(limit) / 60
	b.tokens = math.Min(float64(limit), b.tokens+now.Sub(b.at).Seconds()*perSec)
	b.at = now
	if b.tokens < float64(cost) {
		wait := math.Ceil((float64(cost) - b.tokens) / perSec)
		return &api.Error{Kind: api.KindRateLimited, Message: fmt.Sprintf("Rate limiting exceeded: %s rate limit exceeded: Operation requires %d tokens but only %.1f were available. Retry after %ds", kind, cost, b.tokens, int(wait)), RetryAfter: int(wait)}
	}
	b.tokens -= float64(cost)
	return nil
}

// drop forgets the buckets of a deleted collection.
func (r *rateLimiters) drop(collection string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.buckets, rateKey{collection, false})
	delete(r.buckets, rateKey{collection, true})
}

// indexCountCheck refuses a new payload index once the collection has
// max_payload_index_count of them (replacing an index of the same key is
// not a new one).
func (s *Service) indexCountCheck(field string) strictCheck {
	return func(sm *api.StrictModeConfig, c *coll.Collection) error {
		m := sm.MaxPayloadIndexCount
		if m == nil {
			return nil
		}
		idx := s.payloadIndexes(c)
		if _, ok := idx[field]; ok || len(idx) < *m {
			return nil
		}
		return api.ErrStrictMode(fmt.Sprintf("Collection already has the maximum number of payload indices (%d)", *m),
			"Please delete an existing index before creating a new one.")
	}
}
