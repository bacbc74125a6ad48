package collection

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
)

// maxGroupScan caps how many hits a groups query examines.
const maxGroupScan = 100_000

// QueryGroups runs a query and groups its hits by the payload value at
// group_by: at most limit groups (ordered by their best hit) of at most
// group_size hits each. A point whose value is an array joins the group of
// every element; values that are neither strings nor integers are skipped.
// The query is re-run with a growing limit until the groups are full or the
// collection is exhausted.
func (c *Collection) QueryGroups(ctx context.Context, req *api.QueryGroupsRequest) (*api.GroupsResult, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	if req.GroupBy == "" {
		return nil, api.ErrBadInput("group_by must not be empty")
	}
	if _, err := filterPathOK(req.GroupBy); err != nil {
		return nil, err
	}
	limit, _, err := limitOffset(req.Limit, nil, DefaultQueryLimit)
	if err != nil {
		return nil, err
	}
	size := DefaultGroupSize
	if req.GroupSize != nil {
		size = *req.GroupSize
	}
	if size < 1 {
		return nil, api.ErrBadInput("group_size must be at least 1, got %d", size)
	}
	if err := c.checkVectorSelector(req.WithVector); err != nil {
		return nil, err
	}
	// Only points that have a value at the key can form groups.
	base := req.QueryRequest
	base.Filter = andFilters(base.Filter, &api.Filter{MustNot: []api.Condition{{IsEmpty: &api.KeyRef{Key: req.GroupBy}}}})
	scan := min(limit*size*2, maxGroupScan)
	var groups []*api.PointGroup
	for {
		st, err := c.topStage(&base, scan)
		if err != nil {
			return nil, err
		}
		r, err := c.runStage(ctx, st)
		if err != nil {
			return nil, err
		}
		withKey, err := c.enrich(ctx, r.hits, &api.PayloadSelector{Enable: true, Include: []string{req.GroupBy}}, nil)
		if err != nil {
			return nil, err
		}
		groups = GroupHits(withKey, req.GroupBy, limit, size)
		if len(r.hits) < scan || scan >= maxGroupScan || groupsFull(groups, limit, size) {
			break
		}
		scan = min(scan*4, maxGroupScan)
	}
	// Attach the requested payloads and vectors.
	res := &api.GroupsResult{Groups: make([]api.PointGroup, 0, len(groups))}
	for _, g := range groups {
		hits, err := c.enrich(ctx, g.Hits, req.WithPayload, req.WithVector)
		if err != nil {
			return nil, err
		}
		g.Hits = hits
		res.Groups = append(res.Groups, *g)
	}
	if req.WithLookup != nil {
		if err := c.lookupGroups(ctx, req.WithLookup, res.Groups); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func filterPathOK(key string) (bool, error) {
	if _, err := filter.ParsePath(key); err != nil {
		return false, api.ErrBadInput("Invalid json path: '%s'", key)
	}
	return true, nil
}

func groupsFull(groups []*api.PointGroup, limit, size int) bool {
	if len(groups) < limit {
		return false
	}
	for _, g := range groups {
		if len(g.Hits) < size {
			return false
		}
	}
	return true
}

// GroupHits groups ranked hits (best first, payloads holding key) by their
// values at key: groups are ordered by their best hit, hold at most size
// hits each, and at most limit groups are returned. Strings and integers
// form groups; other values are skipped.
func GroupHits(hits []api.ScoredPoint, key string, limit, size int) []*api.PointGroup {
	var groups []*api.PointGroup
	byKey := map[string]*api.PointGroup{}
	for _, h := range hits {
		seen := map[string]bool{}
		for _, v := range filter.Values(h.Payload, key) {
			k, id, ok := groupKey(v)
			if !ok || seen[k] {
				continue
			}
			seen[k] = true
			g, exists := byKey[k]
			if !exists {
				if len(groups) >= limit {
					continue
				}
				g = &api.PointGroup{ID: id}
				byKey[k] = g
				groups = append(groups, g)
			}
			if len(g.Hits) < size {
				g.Hits = append(g.Hits, h)
			}
		}
	}
	return groups
}

// groupKey returns a map key and the group id (string or json.Number) of a
// payload value usable as a group, or ok=false.
func groupKey(v any) (key string, id any, ok bool) {
	switch x := v.(type) {
	case string:
		return "s:" + x, x, true
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return "i:" + strconv.FormatInt(n, 10), json.Number(strconv.FormatInt(n, 10)), true
		}
		if u, err := strconv.ParseUint(x.String(), 10, 64); err == nil {
			return "i:" + strconv.FormatUint(u, 10), json.Number(strconv.FormatUint(u, 10)), true
		}
	}
	return "", nil, false
}

// lookupGroups fetches each group's id as a point of another collection.
func (c *Collection) lookupGroups(ctx context.Context, wl *api.WithLookup, groups []api.PointGroup) error {
	src := c
	if wl.Collection != c.name {
		if c.res == nil {
			return api.ErrBadInput("with_lookup is not available")
		}
		other, release, err := c.res(ctx, wl.Collection)
		if err != nil {
			return err
		}
		defer release()
		src = other
	}
	var ids []api.PointID
	idOf := make([]*api.PointID, len(groups))
	for i, g := range groups {
		if id, ok := groupPointID(g.ID); ok {
			idOf[i] = &id
			ids = append(ids, id)
		}
	}
	wp := wl.WithPayload
	if wp == nil {
		wp = api.PayloadAll
	}
	recs, err := src.get(ctx, ids, wp, wl.WithVectors)
	if err != nil {
		return err
	}
	byID := make(map[api.PointID]api.Record, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	for i := range groups {
		if idOf[i] == nil {
			continue
		}
		if r, ok := byID[*idOf[i]]; ok {
			groups[i].Lookup = &r
		}
	}
	return nil
}

func groupPointID(v any) (api.PointID, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseUint(x.String(), 10, 64); err == nil {
			return api.NumID(n), true
		}
	case string:
		if u, err := uuid.Parse(x); err == nil {
			return api.UUIDID(u), true
		}
		if n, err := strconv.ParseUint(x, 10, 64); err == nil {
			return api.NumID(n), true
		}
	}
	return api.PointID{}, false
}
