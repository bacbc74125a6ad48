package rest

import (
	"net/http"

	"github.com/shoal-db/shoal/internal/api"
)

// batch is the body of every …/batch search endpoint.
type batch[T any] struct {
	Searches []T `json:"searches"`
}

// ResolveAliases resolves the aliases of every search of the batch.
func (b *batch[T]) ResolveAliases() error {
	for i := range b.Searches {
		if a, ok := any(&b.Searches[i]).(api.AliasResolver); ok {
			if err := a.ResolveAliases(); err != nil {
				return err
			}
		}
	}
	return nil
}

func nonNilPoints(ps []api.ScoredPoint) []api.ScoredPoint {
	if ps == nil {
		return []api.ScoredPoint{}
	}
	return ps
}

func nonNilLists(ls [][]api.ScoredPoint) [][]api.ScoredPoint {
	if ls == nil {
		return [][]api.ScoredPoint{}
	}
	for i := range ls {
		ls[i] = nonNilPoints(ls[i])
	}
	return ls
}

func nonNilGroups(g *api.GroupsResult) *api.GroupsResult {
	if g.Groups == nil {
		g.Groups = []api.PointGroup{}
	}
	for i := range g.Groups {
		g.Groups[i].Hits = nonNilPoints(g.Groups[i].Hits)
	}
	return g
}

func (h *Handler) query(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.QueryRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.Query(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	res.Points = nonNilPoints(res.Points)
	return res, nil
}

func (h *Handler) queryBatch(w http.ResponseWriter, r *http.Request) (any, error) {
	var req batch[api.QueryRequest]
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.QueryBatch(r.Context(), coll(r), req.Searches, rp)
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = []api.QueryResponse{}
	}
	for i := range res {
		res[i].Points = nonNilPoints(res[i].Points)
	}
	return res, nil
}

func (h *Handler) queryGroups(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.QueryGroupsRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.QueryGroups(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	return nonNilGroups(res), nil
}

// searchRequest is the legacy search body with Qdrant's alias "top" for
// "limit" (`#[serde(alias = "top")]`), which old clients and the spec's
// own introduction still use.
type searchRequest struct {
	api.SearchRequest
	Top *int `json:"top,omitempty"`
}

func (s *searchRequest) resolve() api.SearchRequest {
	if s.Limit == 0 && s.Top != nil {
		s.Limit = *s.Top
	}
	return s.SearchRequest
}

// recommendRequest is the legacy recommend body with the "top" alias.
type recommendRequest struct {
	api.RecommendRequest
	Top *int `json:"top,omitempty"`
}

func (s *recommendRequest) resolve() api.RecommendRequest {
	if s.Limit == 0 && s.Top != nil {
		s.Limit = *s.Top
	}
	return s.RecommendRequest
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) (any, error) {
	var req searchRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	sr := req.resolve()
	res, err := h.svc.Search(r.Context(), coll(r), &sr, rp)
	return nonNilPoints(res), err
}

func (h *Handler) searchBatch(w http.ResponseWriter, r *http.Request) (any, error) {
	var req batch[searchRequest]
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	reqs := make([]api.SearchRequest, len(req.Searches))
	for i := range req.Searches {
		reqs[i] = req.Searches[i].resolve()
	}
	res, err := h.svc.SearchBatch(r.Context(), coll(r), reqs, rp)
	return nonNilLists(res), err
}

func (h *Handler) searchGroups(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.SearchGroupsRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.SearchGroups(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	return nonNilGroups(res), nil
}

func (h *Handler) recommend(w http.ResponseWriter, r *http.Request) (any, error) {
	var req recommendRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	rr := req.resolve()
	res, err := h.svc.Recommend(r.Context(), coll(r), &rr, rp)
	return nonNilPoints(res), err
}

func (h *Handler) recommendBatch(w http.ResponseWriter, r *http.Request) (any, error) {
	var req batch[recommendRequest]
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	reqs := make([]api.RecommendRequest, len(req.Searches))
	for i := range req.Searches {
		reqs[i] = req.Searches[i].resolve()
	}
	res, err := h.svc.RecommendBatch(r.Context(), coll(r), reqs, rp)
	return nonNilLists(res), err
}

func (h *Handler) recommendGroups(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.RecommendGroupsRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.RecommendGroups(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	return nonNilGroups(res), nil
}

func (h *Handler) discover(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.DiscoverRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.Discover(r.Context(), coll(r), &req, rp)
	return nonNilPoints(res), err
}

func (h *Handler) discoverBatch(w http.ResponseWriter, r *http.Request) (any, error) {
	var req batch[api.DiscoverRequest]
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.DiscoverBatch(r.Context(), coll(r), req.Searches, rp)
	return nonNilLists(res), err
}
