package rest

import (
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/google/uuid"
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
	Memory      *memoryTelemetry     `json:"memory,omitempty"`
	Hardware    *hardwareTelemetry   `json:"hardware,omitempty"`
}

type appTelemetry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Startup string `json:"startup"`
}

type collectionsTelemetry struct {
	NumberOfCollections int   `json:"number_of_collections"`
	Collections         []any `json:"collections,omitempty"`
}

// collectionAggregated is the spec's CollectionsAggregatedTelemetry, the
// per-collection entry of details level 1.
type collectionAggregated struct {
	Vectors          uint64               `json:"vectors"`
	OptimizersStatus string               `json:"optimizers_status"`
	Params           api.CollectionParams `json:"params"`
}

// collectionTelemetry is the spec's CollectionTelemetry, the entry of
// details level 2 and more. InitTimeMS is always null: the time a
// collection took to load is not measured.
type collectionTelemetry struct {
	ID         string                `json:"id"`
	InitTimeMS *uint64               `json:"init_time_ms"`
	Config     *api.CollectionConfig `json:"config,omitempty"`
	Shards     []replicaSetTelemetry `json:"shards,omitempty"`
	Transfers  any                   `json:"transfers,omitempty"`  // []any{} from level 3
	Resharding any                   `json:"resharding,omitempty"` // likewise
}

type replicaSetTelemetry struct {
	ID              int                  `json:"id"`
	Key             any                  `json:"key"`
	Local           *localShardTelemetry `json:"local"`
	Remote          []any                `json:"remote"`
	ReplicateStates map[string]string    `json:"replicate_states"`
	PartialSnapshot any                  `json:"partial_snapshot"`
}

// localShardTelemetry is the spec's LocalShardTelemetry. Sizes are not
// tracked per shard (null); the point and vector counts are the
// collection's when it has one shard, else null.
type localShardTelemetry struct {
	VariantName          string             `json:"variant_name,omitempty"`
	Status               string             `json:"status,omitempty"`
	TotalOptimizedPoints uint64             `json:"total_optimized_points"`
	VectorsSizeBytes     *uint64            `json:"vectors_size_bytes"`
	PayloadsSizeBytes    *uint64            `json:"payloads_size_bytes"`
	NumPoints            *uint64            `json:"num_points"`
	NumVectors           *uint64            `json:"num_vectors"`
	Segments             []segmentTelemetry `json:"segments,omitempty"` // from details level 4
	Optimizations        optimizerTelemetry `json:"optimizations"`
	AsyncScorer          *bool              `json:"async_scorer"`
}

// segmentTelemetry is the spec's SegmentTelemetry. A Shoal shard has no
// segments: its storage is one unit (a Pebble store with the in-memory
// vectors, graphs and payload indexes), reported as the shard's one
// segment. Counts are the shard's (a multi-vector counts once per point);
// vectors_size_bytes is the element bytes of the live dense vectors
// (multi-vector rows are not counted); payload, RAM and disk sizes are not
// measured (0); no deleted vectors are reported (deleted points leave
// nothing searchable) and no index search statistics are kept.
type segmentTelemetry struct {
	Info                segmentInfo   `json:"info"`
	Config              segmentConfig `json:"config"`
	VectorIndexSearches []any         `json:"vector_index_searches"`
	PayloadFieldIndices []any         `json:"payload_field_indices"`
}

type segmentInfo struct {
	UUID              string                          `json:"uuid"`
	SegmentType       string                          `json:"segment_type"`
	NumVectors        uint64                          `json:"num_vectors"`
	NumPoints         uint64                          `json:"num_points"`
	NumIndexedVectors uint64                          `json:"num_indexed_vectors"`
	NumDeletedVectors uint64                          `json:"num_deleted_vectors"`
	VectorsSizeBytes  uint64                          `json:"vectors_size_bytes"`
	PayloadsSizeBytes uint64                          `json:"payloads_size_bytes"`
	RAMUsageBytes     uint64                          `json:"ram_usage_bytes"`
	DiskUsageBytes    uint64                          `json:"disk_usage_bytes"`
	IsAppendable      bool                            `json:"is_appendable"`
	IndexSchema       map[string]api.PayloadIndexInfo `json:"index_schema"`
	VectorData        map[string]vectorDataInfo       `json:"vector_data"`
}

type vectorDataInfo struct {
	NumVectors        uint64 `json:"num_vectors"`
	NumIndexedVectors uint64 `json:"num_indexed_vectors"`
	NumDeletedVectors uint64 `json:"num_deleted_vectors"`
}

type segmentConfig struct {
	VectorData         map[string]vectorDataConfig `json:"vector_data"`
	PayloadStorageType map[string]string           `json:"payload_storage_type"`
}

type vectorDataConfig struct {
	Size              int                    `json:"size"`
	Distance          api.Distance           `json:"distance"`
	StorageType       string                 `json:"storage_type"`
	Index             map[string]any         `json:"index"`
	Datatype          *string                `json:"datatype,omitempty"`
	MultivectorConfig *api.MultiVectorConfig `json:"multivector_config,omitempty"`
}

// optimizerTelemetry is the spec's OptimizerTelemetry: the indexers'
// status; no optimization timings are kept.
type optimizerTelemetry struct {
	Status        string         `json:"status"`
	Optimizations operationStats `json:"optimizations"`
}

// memoryTelemetry is the spec's MemoryTelemetry, from the Go runtime's
// memory statistics: allocated is the live heap, active the heap spans in
// use, resident all memory obtained from the system less what was
// returned, retained the heap released back to it, metadata the runtime's
// own structures.
type memoryTelemetry struct {
	ActiveBytes    uint64 `json:"active_bytes"`
	AllocatedBytes uint64 `json:"allocated_bytes"`
	MetadataBytes  uint64 `json:"metadata_bytes"`
	ResidentBytes  uint64 `json:"resident_bytes"`
	RetainedBytes  uint64 `json:"retained_bytes"`
}

// hardwareTelemetry is the spec's HardwareTelemetry; no per-collection
// hardware counters are kept, so collection_data is empty.
type hardwareTelemetry struct {
	CollectionData map[string]any `json:"collection_data"`
}

func readMemoryTelemetry() *memoryTelemetry {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return &memoryTelemetry{
		ActiveBytes:    m.HeapInuse,
		AllocatedBytes: m.HeapAlloc,
		MetadataBytes:  m.MSpanSys + m.MCacheSys + m.BuckHashSys + m.GCSys + m.OtherSys,
		ResidentBytes:  m.Sys - m.HeapReleased,
		RetainedBytes:  m.HeapReleased,
	}
}

type requestsTelemetry struct {
	REST webAPITelemetry `json:"rest"`
	GRPC webAPITelemetry `json:"grpc"`
}

type webAPITelemetry struct {
	Responses map[string]map[string]operationStats `json:"responses"`
}

// telemetryData answers GET /telemetry?details_level=N as Qdrant does:
// level 0 reports the counts and the request statistics, level 1 adds the
// memory and hardware sections and one aggregated entry per collection
// (vector count, optimizer status, parameters), level 2 gives each
// collection's id and configuration instead, and level 3 or more adds its
// shards (transfers and resharding empty).
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
		Requests: &requestsTelemetry{
			REST: webAPITelemetry{Responses: h.stats.snapshot()},
			GRPC: webAPITelemetry{Responses: responseTelemetry(h.grpcResp.Snapshot(), func(v []string) (string, string) { return v[0], v[1] })},
		},
	}
	if level == 0 {
		return out, nil
	}
	out.Memory = readMemoryTelemetry()
	out.Hardware = &hardwareTelemetry{CollectionData: map[string]any{}}
	out.Collections.Collections = []any{}
	for _, c := range t.Collections {
		// A collection deleted since Telemetry was read has no
		// configuration to report; it is left out.
		info, err := h.svc.CollectionInfo(r.Context(), c.Name)
		if err != nil {
			continue
		}
		if level == 1 {
			var vectors uint64
			for _, n := range c.VectorCounts {
				vectors += n
			}
			out.Collections.Collections = append(out.Collections.Collections, collectionAggregated{
				Vectors: vectors, OptimizersStatus: "ok", Params: info.Config.Params})
			continue
		}
		ct := collectionTelemetry{ID: c.Name, Config: &info.Config}
		if level >= 3 {
			ct.Shards = shardSummaries(c)
			ct.Transfers, ct.Resharding = []any{}, []any{}
		}
		if level >= 4 {
			for i := range ct.Shards {
				if st, ok := c.LocalShards[i]; ok && ct.Shards[i].Local != nil {
					ct.Shards[i].Local.Segments = []segmentTelemetry{shardSegment(c.Name, i, st, &info.Config)}
				}
			}
		}
		out.Collections.Collections = append(out.Collections.Collections, ct)
	}
	return out, nil
}

func (h *Handler) appVersion() string {
	if h.version != "" {
		return h.version
	}
	return api.QdrantVersion
}

// shardSegment describes local shard id of collection as its one segment
// (see segmentTelemetry); the uuid is derived from the collection name and
// shard id, so it stays the same between calls.
func shardSegment(collection string, id int, st service.ShardTelemetry, cfg *api.CollectionConfig) segmentTelemetry {
	info := segmentInfo{
		UUID:         uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("shoal:collection/%s/shard/%d", collection, id))).String(),
		SegmentType:  "plain",
		NumPoints:    st.Points,
		IsAppendable: true,
		IndexSchema:  st.PayloadSchema,
		VectorData:   map[string]vectorDataInfo{},
	}
	if info.IndexSchema == nil {
		info.IndexSchema = map[string]api.PayloadIndexInfo{}
	}
	conf := segmentConfig{VectorData: map[string]vectorDataConfig{}, PayloadStorageType: map[string]string{"type": "in_ram_mmap"}}
	if cfg.Params.OnDiskPayload {
		conf.PayloadStorageType["type"] = "mmap"
	}
	for name, p := range cfg.Params.Vectors {
		n, indexed := st.Vectors[name], st.Indexed[name]
		if p.MultivectorConfig != nil {
			n = st.Multi[name]
		}
		info.NumVectors += n
		info.NumIndexedVectors += indexed
		info.VectorData[name] = vectorDataInfo{NumVectors: n, NumIndexedVectors: indexed}
		elem := uint64(4)
		if p.Datatype != nil {
			switch *p.Datatype {
			case "float16":
				elem = 2
			case "uint8":
				elem = 1
			}
		}
		if p.MultivectorConfig == nil {
			info.VectorsSizeBytes += n * uint64(p.Size) * elem
		}
		storage := "Memory"
		if p.OnDisk != nil && *p.OnDisk {
			storage = "Mmap"
		}
		vc := vectorDataConfig{Size: p.Size, Distance: p.Distance, StorageType: storage, Datatype: p.Datatype, MultivectorConfig: p.MultivectorConfig,
			Index: map[string]any{"type": "plain", "options": map[string]any{}}}
		if p.MultivectorConfig == nil {
			// Dense vectors have an HNSW graph (multi-vectors are scored
			// exactly).
			vc.Index = map[string]any{"type": "hnsw", "options": p.HnswConfig.Apply(cfg.HnswConfig)}
		}
		conf.VectorData[name] = vc
	}
	if info.NumIndexedVectors > 0 {
		info.SegmentType = "indexed"
	}
	return segmentTelemetry{Info: info, Config: conf, VectorIndexSearches: []any{}, PayloadFieldIndices: []any{}}
}

// shardSummaries describes a collection's local shards. Point and vector
// counts are known per collection only (service.CollectionTelemetry), so
// they are given for a collection of one shard only.
func shardSummaries(c service.CollectionTelemetry) []replicaSetTelemetry {
	n := max(c.Shards, 1)
	out := make([]replicaSetTelemetry, n)
	status := "green"
	if c.Status != "" {
		status = string(c.Status)
	}
	var points, vectors *uint64
	if n == 1 {
		p, v := c.Points, uint64(0)
		for _, k := range c.VectorCounts {
			v += k
		}
		points, vectors = &p, &v
	}
	for i := range out {
		out[i] = replicaSetTelemetry{
			ID: i,
			Local: &localShardTelemetry{VariantName: "local_shard", Status: status, NumPoints: points, NumVectors: vectors,
				Optimizations: optimizerTelemetry{Status: "ok"}},
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
