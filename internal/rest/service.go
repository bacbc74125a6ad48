package rest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/service"
)

// versionInfo is Qdrant's VersionInfo plus Shoal's own version.
type versionInfo struct {
	Title        string `json:"title"`
	Version      string `json:"version"`
	Commit       string `json:"commit,omitempty"`
	ShoalVersion string `json:"shoal_version,omitempty"`
}

func (h *Handler) root(w http.ResponseWriter, r *http.Request) {
	// GET / answers VersionInfo bare, without the envelope, as Qdrant does.
	writeJSON(w, http.StatusOK, versionInfo{
		Title:        api.QdrantTitle,
		Version:      api.QdrantVersion,
		Commit:       h.commit,
		ShoalVersion: h.version,
	})
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeText(w, http.StatusOK, "healthz check passed")
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.ready() {
		writeText(w, http.StatusOK, "all shards are ready")
		return
	}
	writeText(w, http.StatusServiceUnavailable, "some shards are not ready")
}

func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	g := h.gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slogErrorLog{h}}).ServeHTTP(w, r)
}

// slogErrorLog adapts the logger for promhttp.
type slogErrorLog struct{ h *Handler }

func (l slogErrorLog) Println(v ...any) { l.h.log.Error("cannot serve metrics", "err", v) }

// The /telemetry answer, in the shape of the spec's TelemetryData.
type telemetryData struct {
	ID          string               `json:"id"`
	App         appTelemetry         `json:"app"`
	Collections collectionsTelemetry `json:"collections"`
	Cluster     map[string]any       `json:"cluster,omitempty"`
	Requests    *requestsTelemetry   `json:"requests,omitempty"`
}

type appTelemetry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Startup string `json:"startup"`
}

type collectionsTelemetry struct {
	NumberOfCollections int                   `json:"number_of_collections"`
	Collections         []collectionTelemetry `json:"collections,omitempty"`
}

type collectionTelemetry struct {
	ID     string                `json:"id"`
	Config *api.CollectionConfig `json:"config,omitempty"`
	Shards []replicaSetTelemetry `json:"shards,omitempty"`
}

type replicaSetTelemetry struct {
	ID              int                  `json:"id"`
	Local           *localShardTelemetry `json:"local"`
	Remote          []any                `json:"remote"`
	ReplicateStates map[string]string    `json:"replicate_states"`
}

type localShardTelemetry struct {
	VariantName          string `json:"variant_name,omitempty"`
	Status               string `json:"status,omitempty"`
	TotalOptimizedPoints uint64 `json:"total_optimized_points"`
}

type requestsTelemetry struct {
	REST webAPITelemetry `json:"rest"`
	GRPC webAPITelemetry `json:"grpc"`
}

type webAPITelemetry struct {
	Responses map[string]map[string]operationStats `json:"responses"`
}

// telemetryData answers GET /telemetry?details_level=N: level 0 reports the
// counts, level ≥ 1 adds the per-collection entries and the REST request
// statistics, level ≥ 2 adds each collection's configuration and shard
// summaries.
func (h *Handler) telemetryData(w http.ResponseWriter, r *http.Request) (any, error) {
	level := 0
	if v := r.URL.Query().Get("details_level"); v != "" {
		n, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			return nil, queryError("invalid digit found in string")
		}
		level = int(n)
	}
	for _, p := range []string{"anonymize", "per_collection"} {
		switch r.URL.Query().Get(p) {
		case "", "true", "false":
		default:
			return nil, queryError("provided string was not `true` or `false`")
		}
	}
	t, err := h.svc.Telemetry(r.Context())
	if err != nil {
		return nil, err
	}
	if t == nil {
		t = &service.Telemetry{}
	}
	out := telemetryData{
		ID: h.telemetry,
		App: appTelemetry{
			Name:    "shoal",
			Version: h.appVersion(),
			Startup: h.started.UTC().Format(time.RFC3339Nano),
		},
		Collections: collectionsTelemetry{NumberOfCollections: len(t.Collections)},
		Cluster:     map[string]any{"enabled": false},
	}
	if level >= 1 {
		for _, c := range t.Collections {
			ct := collectionTelemetry{ID: c.Name}
			if level >= 2 {
				ct.Shards = shardSummaries(c)
				// A collection deleted since Telemetry was read has no
				// config to report; its entry stays without one.
				if info, err := h.svc.CollectionInfo(r.Context(), c.Name); err == nil {
					ct.Config = &info.Config
				}
			}
			out.Collections.Collections = append(out.Collections.Collections, ct)
		}
		out.Requests = &requestsTelemetry{
			REST: webAPITelemetry{Responses: h.stats.snapshot()},
			GRPC: webAPITelemetry{Responses: responseTelemetry(h.grpcResp.Snapshot(), func(v []string) (string, string) { return v[0], v[1] })},
		}
	}
	return out, nil
}

func (h *Handler) appVersion() string {
	if h.version != "" {
		return h.version
	}
	return api.QdrantVersion
}

// shardSummaries describes a collection's local shards. Point counts are
// known per collection only (service.CollectionTelemetry), so shard entries
// carry none.
func shardSummaries(c service.CollectionTelemetry) []replicaSetTelemetry {
	n := max(c.Shards, 1)
	out := make([]replicaSetTelemetry, n)
	status := "green"
	if c.Status != "" {
		status = string(c.Status)
	}
	for i := range out {
		out[i] = replicaSetTelemetry{
			ID:              i,
			Local:           &localShardTelemetry{VariantName: "local_shard", Status: status},
			Remote:          []any{},
			ReplicateStates: map[string]string{},
		}
	}
	return out
}

// writeJSON writes v as a bare JSON document.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := jsonMarshal(v)
	if err != nil {
		writeErrorStatus(w, time.Now(), http.StatusInternalServerError, api.Message(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
