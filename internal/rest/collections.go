package rest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/service"
)

// body reads and decodes the request body into v.
func (h *Handler) body(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	if err := decodeJSON(b, v); err != nil {
		return err
	}
	if a, ok := v.(api.AliasResolver); ok {
		return a.ResolveAliases()
	}
	return nil
}

func coll(r *http.Request) string { return r.PathValue(pColl) }

func (h *Handler) listCollections(w http.ResponseWriter, r *http.Request) (any, error) {
	cs, err := h.svc.ListCollections(r.Context())
	if err != nil {
		return nil, err
	}
	if cs == nil {
		cs = []api.CollectionDescription{}
	}
	return struct {
		Collections []api.CollectionDescription `json:"collections"`
	}{cs}, nil
}

func (h *Handler) collectionInfo(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.svc.CollectionInfo(r.Context(), coll(r))
}

func (h *Handler) createCollection(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CreateCollection
	if err := h.body(w, r, &req); err != nil {
		return nil, err
	}
	ctx, cancel, err := metaContext(r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := h.svc.CreateCollection(ctx, coll(r), &req); err != nil {
		return nil, err
	}
	return true, nil
}

func (h *Handler) updateCollection(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.UpdateCollection
	if err := h.body(w, r, &req); err != nil {
		return nil, err
	}
	ctx, cancel, err := metaContext(r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := h.svc.UpdateCollection(ctx, coll(r), &req); err != nil {
		return nil, err
	}
	return true, nil
}

func (h *Handler) deleteCollection(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel, err := metaContext(r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	return h.svc.DeleteCollection(ctx, coll(r))
}

func (h *Handler) collectionExists(w http.ResponseWriter, r *http.Request) (any, error) {
	ok, err := h.svc.CollectionExists(r.Context(), coll(r))
	if err != nil {
		return nil, err
	}
	return struct {
		Exists bool `json:"exists"`
	}{ok}, nil
}

// optimizations reports the collection's background index work
// (service.API.Optimizations). ?with lists the optional parts (queued,
// completed, idle_segments); ?completed_limit bounds completed (16).
func (h *Handler) optimizations(w http.ResponseWriter, r *http.Request) (any, error) {
	req := api.OptimizationsRequest{CompletedLimit: 16}
	q := r.URL.Query()
	if with := q.Get("with"); with != "" {
		for _, part := range strings.Split(with, ",") {
			switch strings.TrimSpace(part) {
			case "queued":
				req.WithQueued = true
			case "completed":
				req.WithCompleted = true
			case "idle_segments":
				req.WithIdleSegments = true
			default:
				return nil, queryError(fmt.Sprintf("unknown variant `%s`, expected one of `queued`, `completed`, `idle_segments`", strings.TrimSpace(part)))
			}
		}
	}
	if v := q.Get("completed_limit"); v != "" {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			return nil, queryError("invalid digit found in string")
		}
		req.CompletedLimit = int(n)
	}
	return h.svc.Optimizations(r.Context(), coll(r), req)
}

func (h *Handler) updateAliases(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.ChangeAliases
	if err := h.body(w, r, &req); err != nil {
		return nil, err
	}
	ctx, cancel, err := metaContext(r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := h.svc.UpdateAliases(ctx, req.Actions); err != nil {
		return nil, err
	}
	return true, nil
}

type aliasesResult struct {
	Aliases []api.AliasDescription `json:"aliases"`
}

func (h *Handler) listAliases(w http.ResponseWriter, r *http.Request) (any, error) {
	as, err := h.svc.ListAliases(r.Context())
	if err != nil {
		return nil, err
	}
	if as == nil {
		as = []api.AliasDescription{}
	}
	return aliasesResult{as}, nil
}

func (h *Handler) collectionAliases(w http.ResponseWriter, r *http.Request) (any, error) {
	as, err := h.svc.ListCollectionAliases(r.Context(), coll(r))
	if err != nil {
		return nil, err
	}
	if as == nil {
		as = []api.AliasDescription{}
	}
	return aliasesResult{as}, nil
}

func (h *Handler) createFieldIndex(w http.ResponseWriter, r *http.Request) (any, error) {
	wp, err := writeParams(r)
	if err != nil {
		return nil, err
	}
	var req api.CreateFieldIndex
	if err := h.body(w, r, &req); err != nil {
		return nil, err
	}
	return h.svc.CreateFieldIndex(r.Context(), coll(r), &req, wp)
}

func (h *Handler) deleteFieldIndex(w http.ResponseWriter, r *http.Request) (any, error) {
	wp, err := writeParams(r)
	if err != nil {
		return nil, err
	}
	return h.svc.DeleteFieldIndex(r.Context(), coll(r), r.PathValue(pField), wp)
}

// createVectorName adds a named vector to an existing collection.
func (h *Handler) createVectorName(w http.ResponseWriter, r *http.Request) (any, error) {
	wp, err := writeParams(r)
	if err != nil {
		return nil, err
	}
	var req api.CreateVectorName
	if err := h.body(w, r, &req); err != nil {
		return nil, err
	}
	return h.svc.CreateVectorName(r.Context(), coll(r), r.PathValue("vector_name"), &req, wp)
}

// deleteVectorName removes a named vector (and its data) from a collection.
func (h *Handler) deleteVectorName(w http.ResponseWriter, r *http.Request) (any, error) {
	wp, err := writeParams(r)
	if err != nil {
		return nil, err
	}
	return h.svc.DeleteVectorName(r.Context(), coll(r), r.PathValue("vector_name"), wp)
}

// collectionClusterInfo reports where the collection's shards live (on a
// standalone node: all local, with their point counts).
func (h *Handler) collectionClusterInfo(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.svc.CollectionClusterInfo(r.Context(), coll(r))
}

// updateCollectionCluster runs a cluster operation on a collection's
// replicas (a standalone node refuses it after the checks gRPC makes too).
func (h *Handler) updateCollectionCluster(w http.ResponseWriter, r *http.Request) (any, error) {
	var op api.ClusterOperations
	if err := h.body(w, r, &op); err != nil {
		return nil, err
	}
	ctx, cancel, err := metaContext(r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := h.svc.UpdateCollectionCluster(ctx, coll(r), &op); err != nil {
		return nil, err
	}
	return true, nil
}

// listShardKeys answers for auto-sharded collections, which have no shard
// keys.
func (h *Handler) listShardKeys(w http.ResponseWriter, r *http.Request) (any, error) {
	if _, err := h.svc.CollectionInfo(r.Context(), coll(r)); err != nil {
		return nil, err
	}
	return map[string]any{"shard_keys": nil}, nil
}

func (h *Handler) shardKeyUnsupported(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := service.CheckStandaloneChange(r.Context(), h.svc, coll(r)); err != nil {
		return nil, err
	}
	return nil, service.ErrNoShardKeys
}

// metaContext bounds a metadata change by Qdrant's timeout parameter ("wait
// for operation commit timeout in seconds"); in a cluster a change that
// cannot commit in time (no quorum) then fails with 503.
func metaContext(r *http.Request) (context.Context, context.CancelFunc, error) {
	t, err := parseTimeout(r)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := api.WithTimeout(r.Context(), t)
	return ctx, cancel, nil
}

// removePeer is DELETE /cluster/peer/{peer_id}?force=&timeout=.
func (h *Handler) removePeer(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := strconv.ParseUint(r.PathValue("peer_id"), 10, 64)
	if err != nil {
		return nil, api.ErrBadInput("peer_id must be an unsigned integer, got %q", r.PathValue("peer_id"))
	}
	force := false
	if v := r.URL.Query().Get("force"); v != "" {
		if force, err = strconv.ParseBool(v); err != nil {
			return nil, api.ErrBadInput("force must be true or false, got %q", v)
		}
	}
	ctx, cancel, err := metaContext(r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := h.svc.RemovePeer(ctx, id, force); err != nil {
		return nil, err
	}
	return true, nil
}
