package rest

import (
	"net/http"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// Path parameter names, as in Qdrant's spec.
const (
	pColl  = "collection_name"
	pID    = "id"
	pField = "field_name"
)

// routes registers every route. Patterns use the spec's parameter names so
// that the "endpoint" metric label equals the spec's path template.
func (h *Handler) routes() {
	const c = "/collections/{collection_name}"

	// Service.
	h.raw("GET /{$}", routeOpen, h.root)
	h.raw("GET /healthz", routeOpen, h.healthz)
	h.raw("GET /livez", routeOpen, h.healthz)
	h.raw("GET /readyz", routeOpen, h.readyz)
	h.raw("GET /metrics", routeRaw, h.metrics)
	h.api("GET /telemetry", h.telemetryData)
	h.api("GET /issues", func(http.ResponseWriter, *http.Request) (any, error) {
		return map[string]any{"issues": []any{}}, nil
	})
	h.api("DELETE /issues", func(http.ResponseWriter, *http.Request) (any, error) { return true, nil })
	quotas := func(http.ResponseWriter, *http.Request) (any, error) {
		return nil, api.ErrBadRequest("resource quotas are not supported by this server")
	}
	h.api("GET /quotas", quotas)
	h.api("PUT /quotas", quotas)

	// Collections.
	h.api("GET /collections", h.listCollections)
	h.api("GET "+c, h.collectionInfo)
	h.api("PUT "+c, h.createCollection)
	h.api("PATCH "+c, h.updateCollection)
	h.api("DELETE "+c, h.deleteCollection)
	h.api("GET "+c+"/exists", h.collectionExists)
	h.api("GET "+c+"/optimizations", h.optimizations)

	// Aliases.
	h.api("POST /collections/aliases", h.updateAliases)
	h.api("GET /aliases", h.listAliases)
	h.api("GET "+c+"/aliases", h.collectionAliases)

	// Payload indexes and vector names.
	h.api("PUT "+c+"/index", h.createFieldIndex)
	h.api("DELETE "+c+"/index/{field_name}", h.deleteFieldIndex)
	h.api("PUT "+c+"/vectors/{vector_name}", h.createVectorName)
	h.api("DELETE "+c+"/vectors/{vector_name}", h.deleteVectorName)

	// Points.
	h.api("PUT "+c+"/points", h.upsertPoints)
	h.api("GET "+c+"/points/{id}", h.getPoint)
	h.api("POST "+c+"/points", h.getPoints)
	h.api("POST "+c+"/points/delete", h.deletePoints)
	h.api("PUT "+c+"/points/vectors", h.updateVectors)
	h.api("POST "+c+"/points/vectors/delete", h.deleteVectors)
	h.api("POST "+c+"/points/payload", h.setPayload)
	h.api("PUT "+c+"/points/payload", h.overwritePayload)
	h.api("POST "+c+"/points/payload/delete", h.deletePayload)
	h.api("POST "+c+"/points/payload/clear", h.clearPayload)
	h.api("POST "+c+"/points/batch", h.batchUpdate)
	h.api("POST "+c+"/points/scroll", h.scroll)
	h.api("POST "+c+"/points/count", h.count)
	h.api("POST "+c+"/facet", h.facet)
	h.api("POST "+c+"/points/search/matrix/pairs", h.matrixPairs)
	h.api("POST "+c+"/points/search/matrix/offsets", h.matrixOffsets)

	// Universal query.
	h.api("POST "+c+"/points/query", h.query)
	h.api("POST "+c+"/points/query/batch", h.queryBatch)
	h.api("POST "+c+"/points/query/groups", h.queryGroups)

	// Legacy search families (removed from the v1.19 spec, still served).
	h.api("POST "+c+"/points/search", h.search)
	h.api("POST "+c+"/points/search/batch", h.searchBatch)
	h.api("POST "+c+"/points/search/groups", h.searchGroups)
	h.api("POST "+c+"/points/recommend", h.recommend)
	h.api("POST "+c+"/points/recommend/batch", h.recommendBatch)
	h.api("POST "+c+"/points/recommend/groups", h.recommendGroups)
	h.api("POST "+c+"/points/discover", h.discover)
	h.api("POST "+c+"/points/discover/batch", h.discoverBatch)

	// Cluster (standalone answers: local shards only) and shard keys.
	h.api("GET /cluster", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return h.svc.ClusterStatus(r.Context())
	})
	standalone := func(http.ResponseWriter, *http.Request) (any, error) { return nil, api.ErrStandalone }
	h.api("GET /cluster/telemetry", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		st, err := h.svc.ClusterStatus(r.Context())
		if _, member := st.(*api.ClusterStatus); err == nil && !member {
			return nil, api.ErrStandalone
		}
		return st, err
	})
	h.api("POST /cluster/recover", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		if err := h.svc.RecoverPeer(r.Context()); err != nil {
			return nil, err
		}
		return true, nil
	})
	h.api("DELETE /cluster/peer/{peer_id}", h.removePeer)
	// Shoal's own: green/yellow/red from the replica states.
	h.api("GET /cluster/health", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return h.svc.ClusterHealth(r.Context())
	})
	h.api("GET /cluster/metadata/keys", standalone)
	h.api("GET "+c+"/cluster", h.collectionClusterInfo)
	h.api("POST "+c+"/cluster", h.updateCollectionCluster)
	h.api("GET "+c+"/cluster/digests", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return h.svc.ReplicaDigests(r.Context(), coll(r))
	})
	h.api("GET "+c+"/shards", h.listShardKeys)
	h.api("PUT "+c+"/shards", h.shardKeyUnsupported)
	h.api("POST "+c+"/shards/delete", h.shardKeyUnsupported)

	// Snapshots, served by Options.Snapshots.
	h.snapshotRoutes()

	// Anything else: Qdrant-shaped 404.
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorStatus(w, time.Now(), http.StatusNotFound, "Not found: no route for "+r.Method+" "+r.URL.Path)
	})
}
