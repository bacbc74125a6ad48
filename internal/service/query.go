package service

import (
	"context"
	"math"

	"github.com/shoal-db/shoal/internal/api"
	coll "github.com/shoal-db/shoal/internal/collection"
)

// checkQuery enforces the limits on a query that need no collection:
// filter depth everywhere and prefetch nesting. Limits and offsets are
// saturated at math.MaxInt32 (as the gRPC adapter converts Qdrant's u64
// ones), so that no sum of them overflows; fitLimits checks them against
// the maximum once the collection is held (after strict mode has seen
// them as given).
func (s *Service) checkQuery(req *api.QueryRequest) error {
	if req == nil {
		return api.ErrBadInput("missing query")
	}
	saturate(req.Limit)
	saturate(req.Offset)
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return err
	}
	if err := s.checkPrefetches(req.Prefetch, 1); err != nil {
		return err
	}
	return api.CheckQueryShape(req)
}

func (s *Service) checkPrefetches(ps []api.Prefetch, depth int) error {
	if len(ps) == 0 {
		return nil
	}
	if depth > s.limits.MaxPrefetchDepth {
		return api.ErrBadInput("prefetches are nested deeper than %d levels", s.limits.MaxPrefetchDepth)
	}
	for i := range ps {
		p := &ps[i]
		saturate(p.Limit)
		if err := s.checkFilterDepth(p.Filter); err != nil {
			return err
		}
		if err := s.checkPrefetches(p.Prefetch, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// saturate caps a limit or offset at math.MaxInt32.
func saturate(v *int) {
	if v != nil && *v > math.MaxInt32 {
		*v = math.MaxInt32
	}
}

// fitLimits enforces the service's maximum (Limits.MaxLimit) on a query's
// limit plus offset and on its prefetches' limits. Qdrant takes any u64
// limit (its own suite asks for 18446744073709551615); no query returns
// more points than the collection holds, so a limit or offset above the
// maximum is first clamped to the collection's point count (an exact
// count, taken only then): the answer is the same, and only a collection
// larger than the maximum still refuses it. Strict mode has checked the
// limits as given before (withRead runs it first).
func (s *Service) fitLimits(ctx context.Context, c *coll.Collection, req *api.QueryRequest) error {
	limit, offset := 10, 0
	if req.Limit != nil {
		limit = *req.Limit
	}
	if req.Offset != nil {
		offset = *req.Offset
	}
	if limit+offset > s.limits.MaxLimit || prefetchOver(req.Prefetch, s.limits.MaxLimit) {
		n, err := c.Count(ctx, nil, true)
		if err != nil {
			return err
		}
		count := int(min(n, math.MaxInt32))
		if offset > count {
			offset = count
			req.Offset = &offset
		}
		if limit > max(count-offset, 1) {
			limit = max(count-offset, 1)
			req.Limit = &limit
		}
		clampPrefetches(req.Prefetch, max(count, 1))
	}
	if n := limit + offset; n > s.limits.MaxLimit {
		return api.ErrBadInput("limit + offset %d exceeds the maximum of %d", n, s.limits.MaxLimit)
	}
	return checkPrefetchLimits(req.Prefetch, s.limits.MaxLimit)
}

// fitLimit is fitLimits for the one limit of a scroll or a distance
// matrix (neither returns more points, or neighbours of a point, than the
// collection holds; a facet may list more values than points, so its
// limit is not clamped).
func (s *Service) fitLimit(ctx context.Context, c *coll.Collection, what string, v *int) error {
	if v == nil || *v <= s.limits.MaxLimit {
		return nil
	}
	n, err := c.Count(ctx, nil, true)
	if err != nil {
		return err
	}
	if count := max(int(min(n, math.MaxInt32)), 1); *v > count {
		*v = count
	}
	return checkMax(what, v, s.limits.MaxLimit)
}

func prefetchOver(ps []api.Prefetch, maximum int) bool {
	for i := range ps {
		if (ps[i].Limit != nil && *ps[i].Limit > maximum) || prefetchOver(ps[i].Prefetch, maximum) {
			return true
		}
	}
	return false
}

func clampPrefetches(ps []api.Prefetch, count int) {
	for i := range ps {
		if l := ps[i].Limit; l != nil && *l > count {
			v := count
			ps[i].Limit = &v
		}
		clampPrefetches(ps[i].Prefetch, count)
	}
}

func checkPrefetchLimits(ps []api.Prefetch, maximum int) error {
	for i := range ps {
		if l := ps[i].Limit; l != nil && *l > maximum {
			return api.ErrBadInput("prefetch limit %d exceeds the maximum of %d", *l, maximum)
		}
		if err := checkPrefetchLimits(ps[i].Prefetch, maximum); err != nil {
			return err
		}
	}
	return nil
}

// Query runs one universal query.
func (s *Service) Query(ctx context.Context, collection string, req *api.QueryRequest, rp api.ReadParams) (*api.QueryResponse, error) {
	if err := s.checkQuery(req); err != nil {
		return nil, err
	}
	if err := s.checkLookups(ctx, req.LookupFrom, req.Prefetch); err != nil {
		return nil, err
	}
	return withRead(s, ctx, collection, rp, queryCost(req), s.queryChecks(req), func(ctx context.Context, c *coll.Collection) (*api.QueryResponse, error) {
		if err := s.fitLimits(ctx, c, req); err != nil {
			return nil, err
		}
		hits, err := c.Query(ctx, req)
		if err != nil {
			return nil, err
		}
		return &api.QueryResponse{Points: hits}, nil
	})
}

// QueryBatch runs several queries; the first error fails the batch.
func (s *Service) QueryBatch(ctx context.Context, collection string, reqs []api.QueryRequest, rp api.ReadParams) ([]api.QueryResponse, error) {
	lists, err := s.queryBatch(ctx, collection, reqs, rp)
	if err != nil {
		return nil, err
	}
	out := make([]api.QueryResponse, len(lists))
	for i, l := range lists {
		out[i] = api.QueryResponse{Points: l}
	}
	return out, nil
}

func (s *Service) queryBatch(ctx context.Context, collection string, reqs []api.QueryRequest, rp api.ReadParams) ([][]api.ScoredPoint, error) {
	if len(reqs) > s.limits.MaxBatchQueries {
		return nil, api.ErrBadInput("too many queries in one batch: %d, the limit is %d", len(reqs), s.limits.MaxBatchQueries)
	}
	for i := range reqs {
		if err := s.checkQuery(&reqs[i]); err != nil {
			return nil, err
		}
		if err := s.checkLookups(ctx, reqs[i].LookupFrom, reqs[i].Prefetch); err != nil {
			return nil, err
		}
	}
	return withRead(s, ctx, collection, rp, batchCost(reqs), s.batchChecks(reqs), func(ctx context.Context, c *coll.Collection) ([][]api.ScoredPoint, error) {
		for i := range reqs {
			if err := s.fitLimits(ctx, c, &reqs[i]); err != nil {
				return nil, err
			}
		}
		return c.QueryBatch(ctx, reqs)
	})
}

// QueryGroups runs a query and groups its hits by a payload value.
func (s *Service) QueryGroups(ctx context.Context, collection string, req *api.QueryGroupsRequest, rp api.ReadParams) (*api.GroupsResult, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing query")
	}
	if err := s.checkQuery(&req.QueryRequest); err != nil {
		return nil, err
	}
	if err := s.checkLookups(ctx, req.LookupFrom, req.Prefetch); err != nil {
		return nil, err
	}
	saturate(req.GroupSize)
	return withRead(s, ctx, collection, rp, 1, s.groupsChecks(req), func(ctx context.Context, c *coll.Collection) (*api.GroupsResult, error) {
		if err := s.fitLimits(ctx, c, &req.QueryRequest); err != nil {
			return nil, err
		}
		if req.Limit != nil && req.GroupSize != nil && *req.Limit**req.GroupSize > s.limits.MaxLimit {
			return nil, api.ErrBadInput("limit × group_size exceeds the maximum of %d", s.limits.MaxLimit)
		}
		return c.QueryGroups(ctx, req)
	})
}

// checkLookups refuses a query whose lookup_from (or a prefetch's) names a
// collection that does not exist or that the caller may not read, as
// Qdrant does whether or not the query gives any point id to look up
// (404 "Collection `x` doesn't exist!").
func (s *Service) checkLookups(ctx context.Context, lookup *api.LookupFrom, prefetch api.Prefetches) error {
	if lookup != nil && lookup.Collection != "" {
		_, release, err := s.resolver(ctx, lookup.Collection)
		if err != nil {
			if api.KindOf(err) == api.KindNotFound {
				// Qdrant's text for a missing lookup_from collection
				// differs from its route's "doesn't exist!".
				return api.ErrNotFound("Collection %s not found", lookup.Collection)
			}
			return err
		}
		release()
	}
	for i := range prefetch {
		if err := s.checkLookups(ctx, prefetch[i].LookupFrom, prefetch[i].Prefetch); err != nil {
			return err
		}
	}
	return nil
}

// searchToQuery translates a legacy search into a query.
func searchToQuery(r *api.SearchRequest) api.QueryRequest {
	name := r.Vector.Name
	limit := r.Limit
	return api.QueryRequest{
		Query:          &api.Query{Nearest: &api.VectorInput{Vector: r.Vector.Vector, Sparse: r.Vector.Sparse}},
		Using:          &name,
		Filter:         r.Filter,
		Params:         r.Params,
		ScoreThreshold: r.ScoreThreshold,
		Limit:          &limit,
		Offset:         r.Offset,
		WithPayload:    r.WithPayload,
		WithVector:     r.WithVector,
	}
}

// recommendToQuery translates a legacy recommend into a query.
func recommendToQuery(r *api.RecommendRequest) api.QueryRequest {
	limit := r.Limit
	return api.QueryRequest{
		Query:          &api.Query{Recommend: &api.RecommendInput{Positive: r.Positive, Negative: r.Negative, Strategy: r.Strategy}},
		Using:          r.Using,
		Filter:         r.Filter,
		Params:         r.Params,
		ScoreThreshold: r.ScoreThreshold,
		Limit:          &limit,
		Offset:         r.Offset,
		WithPayload:    r.WithPayload,
		WithVector:     r.WithVector,
		LookupFrom:     r.LookupFrom,
	}
}

// discoverToQuery translates a legacy discover into a query: a discover
// query with a target, a context query without.
func discoverToQuery(r *api.DiscoverRequest) api.QueryRequest {
	limit := r.Limit
	q := &api.Query{Context: r.Context}
	if q.Context == nil {
		q.Context = []api.ContextPair{}
	}
	if r.Target != nil {
		q = &api.Query{Discover: &api.DiscoverInput{Target: *r.Target, Context: q.Context}}
	}
	return api.QueryRequest{
		Query:       q,
		Using:       r.Using,
		Filter:      r.Filter,
		Params:      r.Params,
		Limit:       &limit,
		Offset:      r.Offset,
		WithPayload: r.WithPayload,
		WithVector:  r.WithVector,
		LookupFrom:  r.LookupFrom,
	}
}

// searchGroupsToQuery translates a legacy grouped search into a grouped
// query.
func searchGroupsToQuery(r *api.SearchGroupsRequest) api.QueryGroupsRequest {
	size := r.GroupSize
	return api.QueryGroupsRequest{QueryRequest: searchToQuery(&r.SearchRequest),
		GroupBy: r.GroupBy, GroupSize: &size, WithLookup: r.WithLookup}
}

// recommendGroupsToQuery translates a legacy grouped recommendation into a
// grouped query.
func recommendGroupsToQuery(r *api.RecommendGroupsRequest) api.QueryGroupsRequest {
	size := r.GroupSize
	return api.QueryGroupsRequest{QueryRequest: recommendToQuery(&r.RecommendRequest),
		GroupBy: r.GroupBy, GroupSize: &size, WithLookup: r.WithLookup}
}

// legacy runs a legacy request as the query toQuery translates it into; a
// nil request fails with a bad-input error naming what is missing.
func legacy[R any](s *Service, ctx context.Context, collection string, req *R, what string, toQuery func(*R) api.QueryRequest, rp api.ReadParams) ([]api.ScoredPoint, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing %s", what)
	}
	q := toQuery(req)
	res, err := s.Query(ctx, collection, &q, rp)
	if err != nil {
		return nil, err
	}
	return res.Points, nil
}

// legacyBatch runs a batch of legacy requests as the queries toQuery
// translates them into.
func legacyBatch[R any](s *Service, ctx context.Context, collection string, reqs []R, toQuery func(*R) api.QueryRequest, rp api.ReadParams) ([][]api.ScoredPoint, error) {
	qs := make([]api.QueryRequest, len(reqs))
	for i := range reqs {
		qs[i] = toQuery(&reqs[i])
	}
	return s.queryBatch(ctx, collection, qs, rp)
}

// legacyGroups runs a legacy grouped request as the grouped query toQuery
// translates it into; a nil request fails with a bad-input error naming
// what is missing.
func legacyGroups[R any](s *Service, ctx context.Context, collection string, req *R, what string, toQuery func(*R) api.QueryGroupsRequest, rp api.ReadParams) (*api.GroupsResult, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing %s", what)
	}
	q := toQuery(req)
	return s.QueryGroups(ctx, collection, &q, rp)
}

// Search is the legacy nearest-neighbour search.
func (s *Service) Search(ctx context.Context, collection string, req *api.SearchRequest, rp api.ReadParams) ([]api.ScoredPoint, error) {
	return legacy(s, ctx, collection, req, "search request", searchToQuery, rp)
}

// SearchBatch runs several legacy searches.
func (s *Service) SearchBatch(ctx context.Context, collection string, reqs []api.SearchRequest, rp api.ReadParams) ([][]api.ScoredPoint, error) {
	return legacyBatch(s, ctx, collection, reqs, searchToQuery, rp)
}

// SearchGroups is the legacy grouped search.
func (s *Service) SearchGroups(ctx context.Context, collection string, req *api.SearchGroupsRequest, rp api.ReadParams) (*api.GroupsResult, error) {
	return legacyGroups(s, ctx, collection, req, "search request", searchGroupsToQuery, rp)
}

// Recommend is the legacy recommendation search.
func (s *Service) Recommend(ctx context.Context, collection string, req *api.RecommendRequest, rp api.ReadParams) ([]api.ScoredPoint, error) {
	return legacy(s, ctx, collection, req, "recommend request", recommendToQuery, rp)
}

// RecommendBatch runs several legacy recommendations.
func (s *Service) RecommendBatch(ctx context.Context, collection string, reqs []api.RecommendRequest, rp api.ReadParams) ([][]api.ScoredPoint, error) {
	return legacyBatch(s, ctx, collection, reqs, recommendToQuery, rp)
}

// RecommendGroups is the legacy grouped recommendation.
func (s *Service) RecommendGroups(ctx context.Context, collection string, req *api.RecommendGroupsRequest, rp api.ReadParams) (*api.GroupsResult, error) {
	return legacyGroups(s, ctx, collection, req, "recommend request", recommendGroupsToQuery, rp)
}

// Discover is the legacy discovery search.
func (s *Service) Discover(ctx context.Context, collection string, req *api.DiscoverRequest, rp api.ReadParams) ([]api.ScoredPoint, error) {
	return legacy(s, ctx, collection, req, "discover request", discoverToQuery, rp)
}

// DiscoverBatch runs several legacy discovery searches.
func (s *Service) DiscoverBatch(ctx context.Context, collection string, reqs []api.DiscoverRequest, rp api.ReadParams) ([][]api.ScoredPoint, error) {
	return legacyBatch(s, ctx, collection, reqs, discoverToQuery, rp)
}
