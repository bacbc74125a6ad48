package api

import (
	"bytes"
	"encoding/json"
)

// Distance is a vector similarity function.
type Distance string

// Distances, spelled as in Qdrant's JSON.
const (
	DistanceCosine    Distance = "Cosine"
	DistanceEuclid    Distance = "Euclid"
	DistanceDot       Distance = "Dot"
	DistanceManhattan Distance = "Manhattan"
)

// Valid reports whether d is a known distance.
func (d Distance) Valid() bool {
	switch d {
	case DistanceCosine, DistanceEuclid, DistanceDot, DistanceManhattan:
		return true
	}
	return false
}

// HigherIsBetter reports whether a larger score means a closer match (Cosine,
// Dot) as opposed to a smaller distance (Euclid, Manhattan).
func (d Distance) HigherIsBetter() bool { return d == DistanceCosine || d == DistanceDot }

// MaxVectorDim is the largest vector size accepted (Qdrant's limit).
const MaxVectorDim = 65536

// HnswConfig is the HNSW index configuration.
type HnswConfig struct {
	M                  int   `json:"m"`
	EfConstruct        int   `json:"ef_construct"`
	FullScanThreshold  int   `json:"full_scan_threshold"` // KB of vectors below which search is exact
	MaxIndexingThreads int   `json:"max_indexing_threads"`
	OnDisk             *bool `json:"on_disk,omitempty"` // the graph's level-0 lists in a memory-mapped file (docs/format/shard.md)
	PayloadM           *int  `json:"payload_m,omitempty"`
}

// DefaultHnswConfig returns Qdrant's defaults.
func DefaultHnswConfig() HnswConfig {
	return HnswConfig{M: 16, EfConstruct: 100, FullScanThreshold: 10000}
}

// HnswConfigDiff changes some HNSW settings.
type HnswConfigDiff struct {
	M                  *int  `json:"m,omitempty"`
	EfConstruct        *int  `json:"ef_construct,omitempty"`
	FullScanThreshold  *int  `json:"full_scan_threshold,omitempty"`
	MaxIndexingThreads *int  `json:"max_indexing_threads,omitempty"`
	OnDisk             *bool `json:"on_disk,omitempty"`
	PayloadM           *int  `json:"payload_m,omitempty"`
	// Memory is Qdrant 1.19's placement of a vector's graph (cold, cached
	// or pinned; see MemoryCold), kept as given and translated into OnDisk.
	Memory *string `json:"memory,omitempty"`
}

// Apply returns c with the diff's set fields.
func (d *HnswConfigDiff) Apply(c HnswConfig) HnswConfig {
	if d == nil {
		return c
	}
	if d.M != nil {
		c.M = *d.M
	}
	if d.EfConstruct != nil {
		c.EfConstruct = *d.EfConstruct
	}
	if d.FullScanThreshold != nil {
		c.FullScanThreshold = *d.FullScanThreshold
	}
	if d.MaxIndexingThreads != nil {
		c.MaxIndexingThreads = *d.MaxIndexingThreads
	}
	if d.OnDisk != nil {
		c.OnDisk = d.OnDisk
	}
	if d.PayloadM != nil {
		c.PayloadM = d.PayloadM
	}
	return c
}

// VectorParams configures one named vector.
type VectorParams struct {
	Size               int                `json:"size"`
	Distance           Distance           `json:"distance"`
	HnswConfig         *HnswConfigDiff    `json:"hnsw_config,omitempty"`
	QuantizationConfig json.RawMessage    `json:"quantization_config,omitempty"` // ParseQuantization; the collection-level one when absent
	OnDisk             *bool              `json:"on_disk,omitempty"`
	Datatype           *string            `json:"datatype,omitempty"` // only "float32" is supported
	MultivectorConfig  *MultiVectorConfig `json:"multivector_config,omitempty"`
	// Memory is Qdrant 1.19's placement of the vectors (cold or cached;
	// pinned is refused), kept as given and translated into OnDisk.
	Memory *string `json:"memory,omitempty"`
}

// SparseModifier changes sparse query weights at search time.
type SparseModifier string

// Sparse modifiers.
const (
	ModifierNone SparseModifier = "none"
	ModifierIDF  SparseModifier = "idf" // weight each query dimension by its inverse document frequency in the collection
)

// SparseIndexParams configure a sparse vector's inverted index.
type SparseIndexParams struct {
	// FullScanThreshold: a search whose filter leaves fewer vectors than
	// this scores them directly instead of walking the postings.
	FullScanThreshold *int    `json:"full_scan_threshold,omitempty"`
	OnDisk            *bool   `json:"on_disk,omitempty"`  // accepted and reported; the index is held in memory
	Datatype          *string `json:"datatype,omitempty"` // only "float32" is supported
	Memory            *string `json:"memory,omitempty"`   // Qdrant 1.19's placement, kept as given and translated into OnDisk
}

// DefaultSparseFullScanThreshold is the full_scan_threshold of a sparse
// index that sets none.
const DefaultSparseFullScanThreshold = 5000

// SparseVectorParams configures one named sparse vector.
type SparseVectorParams struct {
	Index    *SparseIndexParams `json:"index,omitempty"`
	Modifier *SparseModifier    `json:"modifier,omitempty"`
}

// FullScanThreshold returns the threshold in force.
func (p SparseVectorParams) FullScanThreshold() int {
	if p.Index != nil && p.Index.FullScanThreshold != nil {
		return *p.Index.FullScanThreshold
	}
	return DefaultSparseFullScanThreshold
}

// IDF reports whether the idf modifier is on.
func (p SparseVectorParams) IDF() bool { return p.Modifier != nil && *p.Modifier == ModifierIDF }

// SparseVectorsConfig holds the sparse vectors' params by name.
type SparseVectorsConfig map[string]SparseVectorParams

// MultiVectorComparator scores a multi-vector against another.
type MultiVectorComparator string

// ComparatorMaxSim sums, over the query's vectors, the best score against
// any of the point's vectors (late interaction, as in ColBERT).
const ComparatorMaxSim MultiVectorComparator = "max_sim"

// MultiVectorConfig makes a named vector hold a list of vectors per point.
type MultiVectorConfig struct {
	Comparator MultiVectorComparator `json:"comparator"`
}

// VectorsConfig is one unnamed VectorParams or a map of named ones; Named
// holds the unnamed params under DefaultVectorName.
type VectorsConfig map[string]VectorParams

// Unnamed reports whether the config is the single-unnamed-vector form.
func (v VectorsConfig) Unnamed() bool {
	_, ok := v[DefaultVectorName]
	return ok && len(v) == 1
}

// UnmarshalJSON reads {size, distance, ...} or {name: {size, distance}}.
func (v *VectorsConfig) UnmarshalJSON(b []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return ErrBadInput("vectors config must be an object: %v", err)
	}
	if _, ok := probe["size"]; ok {
		var p VectorParams
		if err := json.Unmarshal(b, &p); err != nil {
			return ErrBadInput("invalid vector params: %v", err)
		}
		*v = VectorsConfig{DefaultVectorName: p}
		return nil
	}
	if _, ok := probe["distance"]; ok {
		return ErrBadInput("vector params need a size")
	}
	m := map[string]VectorParams{}
	if err := json.Unmarshal(b, &m); err != nil {
		return ErrBadInput("invalid named vector params: %v", err)
	}
	*v = m
	return nil
}

// MarshalJSON writes the unnamed form when there is only the unnamed vector.
func (v VectorsConfig) MarshalJSON() ([]byte, error) {
	if v.Unnamed() {
		return json.Marshal(v[DefaultVectorName])
	}
	return json.Marshal(map[string]VectorParams(v))
}

// OptimizersConfig is accepted and reported like Qdrant's; a shard reads
// DeletedThreshold, IndexingThreshold and MemmapThreshold, and the
// collection MaxOptimizationThreads (internal/shard, internal/collection).
type OptimizersConfig struct {
	DeletedThreshold       float64 `json:"deleted_threshold"`
	VacuumMinVectorNumber  int     `json:"vacuum_min_vector_number"`
	DefaultSegmentNumber   int     `json:"default_segment_number"`
	MaxSegmentSize         *int    `json:"max_segment_size,omitempty"`
	MemmapThreshold        *int    `json:"memmap_threshold,omitempty"`
	IndexingThreshold      *int    `json:"indexing_threshold,omitempty"`
	FlushIntervalSec       int     `json:"flush_interval_sec"`
	MaxOptimizationThreads *int    `json:"max_optimization_threads,omitempty"`
}

// Clone returns a copy of o that shares no pointer with it (decoding a
// JSON change into the copy then leaves o as it was).
func (o OptimizersConfig) Clone() OptimizersConfig {
	for _, p := range []**int{&o.MaxSegmentSize, &o.MemmapThreshold, &o.IndexingThreshold, &o.MaxOptimizationThreads} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return o
}

// DefaultOptimizersConfig returns Qdrant's defaults.
func DefaultOptimizersConfig() OptimizersConfig {
	it := 10000
	return OptimizersConfig{DeletedThreshold: 0.2, VacuumMinVectorNumber: 1000, FlushIntervalSec: 5, IndexingThreshold: &it}
}

// WalConfig is accepted and reported like Qdrant's.
type WalConfig struct {
	WalCapacityMB    int `json:"wal_capacity_mb"`
	WalSegmentsAhead int `json:"wal_segments_ahead"`
}

// DefaultWalConfig returns Qdrant's defaults.
func DefaultWalConfig() WalConfig { return WalConfig{WalCapacityMB: 32, WalSegmentsAhead: 0} }

// CreateCollection is the body of PUT /collections/{name}. Fields left nil
// take defaults. Diff-typed fields are merged onto the defaults.
type CreateCollection struct {
	Vectors                VectorsConfig         `json:"vectors"`
	ShardNumber            *int                  `json:"shard_number,omitempty"`
	ShardingMethod         *string               `json:"sharding_method,omitempty"` // "auto" (only) for now
	ReplicationFactor      *int                  `json:"replication_factor,omitempty"`
	WriteConsistencyFactor *int                  `json:"write_consistency_factor,omitempty"`
	OnDiskPayload          *bool                 `json:"on_disk_payload,omitempty"`
	Payload                *PayloadStorageParams `json:"payload,omitempty"`
	HnswConfig             *HnswConfigDiff       `json:"hnsw_config,omitempty"`
	WalConfig              json.RawMessage       `json:"wal_config,omitempty"`
	OptimizersConfig       json.RawMessage       `json:"optimizers_config,omitempty"`
	QuantizationConfig     json.RawMessage       `json:"quantization_config,omitempty"`
	SparseVectors          SparseVectorsConfig   `json:"sparse_vectors,omitempty"`
	StrictModeConfig       json.RawMessage       `json:"strict_mode_config,omitempty"`
	Metadata               map[string]any        `json:"metadata,omitempty"`
	InitFrom               json.RawMessage       `json:"init_from,omitempty"`
	// OptimizerConfig and Quantization are Qdrant's REST aliases of
	// optimizers_config and quantization_config (ResolveAliases); they are
	// nil once a request is resolved.
	OptimizerConfig json.RawMessage `json:"optimizer_config,omitempty"`
	Quantization    json.RawMessage `json:"quantization,omitempty"`
}

// CollectionParams are a collection's structural parameters.
type CollectionParams struct {
	Vectors                VectorsConfig `json:"vectors"`
	ShardNumber            int           `json:"shard_number"`
	ShardingMethod         *string       `json:"sharding_method,omitempty"`
	ReplicationFactor      int           `json:"replication_factor"`
	WriteConsistencyFactor int           `json:"write_consistency_factor"`
	// ReadFanOutFactor is how many more replicas than the read
	// consistency asks a read goes to at once (first answer wins);
	// ReadFanOutDelayMs, when set, hedges instead: each further replica
	// is asked only after that many milliseconds without an answer.
	ReadFanOutFactor  *int                  `json:"read_fan_out_factor,omitempty"`
	ReadFanOutDelayMs *int                  `json:"read_fan_out_delay_ms,omitempty"`
	OnDiskPayload     bool                  `json:"on_disk_payload"`
	Payload           *PayloadStorageParams `json:"payload,omitempty"`
	SparseVectors     SparseVectorsConfig   `json:"sparse_vectors,omitempty"`
}

// PayloadStorageParams is Qdrant 1.19's payload storage configuration:
// its memory placement (cold or cached; pinned is refused), kept as given
// and translated into on_disk_payload.
type PayloadStorageParams struct {
	Memory *string `json:"memory,omitempty"`
}

// Memory placements of Qdrant 1.19, which replace the on_disk flags: cold
// is on disk, cached in the page cache, pinned in RAM.
const (
	MemoryCold   = "cold"
	MemoryCached = "cached"
	MemoryPinned = "pinned"
)

// CollectionConfig is a collection's whole configuration, as persisted in
// metadata and reported by collection info.
type CollectionConfig struct {
	Params             CollectionParams `json:"params"`
	HnswConfig         HnswConfig       `json:"hnsw_config"`
	OptimizerConfig    OptimizersConfig `json:"optimizer_config"`
	WalConfig          WalConfig        `json:"wal_config"`
	QuantizationConfig json.RawMessage  `json:"quantization_config"`
	StrictModeConfig   json.RawMessage  `json:"strict_mode_config,omitempty"`
	Metadata           map[string]any   `json:"metadata,omitempty"`
}

// VectorHnsw returns the HNSW config in force for the named vector.
func (c *CollectionConfig) VectorHnsw(name string) HnswConfig {
	p := c.Params.Vectors[name]
	return p.HnswConfig.Apply(c.HnswConfig)
}

// UpdateCollection is the body of PATCH /collections/{name}.
type UpdateCollection struct {
	Vectors            map[string]VectorParamsDiff `json:"vectors,omitempty"`
	OptimizersConfig   json.RawMessage             `json:"optimizers_config,omitempty"`
	Params             *CollectionParamsDiff       `json:"params,omitempty"`
	HnswConfig         *HnswConfigDiff             `json:"hnsw_config,omitempty"`
	QuantizationConfig json.RawMessage             `json:"quantization_config,omitempty"`
	SparseVectors      SparseVectorsConfig         `json:"sparse_vectors,omitempty"`
	StrictModeConfig   json.RawMessage             `json:"strict_mode_config,omitempty"`
	Metadata           map[string]any              `json:"metadata,omitempty"`
}

// VectorParamsDiff changes one vector's settings.
type VectorParamsDiff struct {
	HnswConfig         *HnswConfigDiff `json:"hnsw_config,omitempty"`
	QuantizationConfig json.RawMessage `json:"quantization_config,omitempty"`
	OnDisk             *bool           `json:"on_disk,omitempty"`
	Memory             *string         `json:"memory,omitempty"`
}

// CollectionParamsDiff changes collection parameters.
type CollectionParamsDiff struct {
	ReplicationFactor      *int                  `json:"replication_factor,omitempty"`
	WriteConsistencyFactor *int                  `json:"write_consistency_factor,omitempty"`
	ReadFanOutFactor       *int                  `json:"read_fan_out_factor,omitempty"`
	ReadFanOutDelayMs      *int                  `json:"read_fan_out_delay_ms,omitempty"`
	OnDiskPayload          *bool                 `json:"on_disk_payload,omitempty"`
	Payload                *PayloadStorageParams `json:"payload,omitempty"`
}

// CollectionStatus is green, yellow, grey or red.
type CollectionStatus string

// Statuses.
const (
	StatusGreen  CollectionStatus = "green"
	StatusYellow CollectionStatus = "yellow"
	StatusGrey   CollectionStatus = "grey"
	StatusRed    CollectionStatus = "red"
)

// PayloadSchemaType is a payload index type.
type PayloadSchemaType string

// Payload index types.
const (
	SchemaKeyword  PayloadSchemaType = "keyword"
	SchemaInteger  PayloadSchemaType = "integer"
	SchemaFloat    PayloadSchemaType = "float"
	SchemaGeo      PayloadSchemaType = "geo"
	SchemaText     PayloadSchemaType = "text"
	SchemaBool     PayloadSchemaType = "bool"
	SchemaDatetime PayloadSchemaType = "datetime"
	SchemaUUID     PayloadSchemaType = "uuid"
)

// Valid reports whether t is a known index type.
func (t PayloadSchemaType) Valid() bool {
	switch t {
	case SchemaKeyword, SchemaInteger, SchemaFloat, SchemaGeo, SchemaText, SchemaBool, SchemaDatetime, SchemaUUID:
		return true
	}
	return false
}

// PayloadFieldSchema is an index type with optional parameters: the bare
// type string or {"type": ..., params...}.
type PayloadFieldSchema struct {
	Type   PayloadSchemaType
	Params map[string]any // the object form's other keys (tokenizer, is_tenant, lookup, range, ...)
}

// UnmarshalJSON reads either form.
func (s *PayloadFieldSchema) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s.Type); err != nil {
			return err
		}
	} else {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return ErrBadInput("invalid field_schema: %v", err)
		}
		t, _ := m["type"].(string)
		delete(m, "type")
		s.Type, s.Params = PayloadSchemaType(t), m
	}
	if !s.Type.Valid() {
		return ErrBadInput("unknown payload index type %q", s.Type)
	}
	return nil
}

// MarshalJSON writes the bare type when there are no params.
func (s PayloadFieldSchema) MarshalJSON() ([]byte, error) {
	if len(s.Params) == 0 {
		return json.Marshal(s.Type)
	}
	m := map[string]any{"type": s.Type}
	for k, v := range s.Params {
		m[k] = v
	}
	return json.Marshal(m)
}

// CreateFieldIndex is the body of PUT /collections/{name}/index.
type CreateFieldIndex struct {
	FieldName   string              `json:"field_name"`
	FieldSchema *PayloadFieldSchema `json:"field_schema,omitempty"`
}

// PayloadIndexInfo describes one payload index in collection info. Params
// holds the index parameters without their "type" key; in JSON they are
// Qdrant's PayloadSchemaParams, which carry it.
type PayloadIndexInfo struct {
	DataType PayloadSchemaType `json:"data_type"`
	Params   map[string]any    `json:"params,omitempty"`
	Points   uint64            `json:"points"`
}

// payloadIndexInfoJSON is PayloadIndexInfo's JSON form.
type payloadIndexInfoJSON struct {
	DataType PayloadSchemaType `json:"data_type"`
	Params   map[string]any    `json:"params,omitempty"`
	Points   uint64            `json:"points"`
}

// MarshalJSON writes the params with their "type" (Qdrant's
// PayloadSchemaParams requires it).
func (i PayloadIndexInfo) MarshalJSON() ([]byte, error) {
	out := payloadIndexInfoJSON{DataType: i.DataType, Points: i.Points}
	if len(i.Params) > 0 {
		out.Params = make(map[string]any, len(i.Params)+1)
		for k, v := range i.Params {
			out.Params[k] = v
		}
		out.Params["type"] = i.DataType
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (i *PayloadIndexInfo) UnmarshalJSON(b []byte) error {
	var in payloadIndexInfoJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	delete(in.Params, "type")
	if len(in.Params) == 0 {
		in.Params = nil
	}
	*i = PayloadIndexInfo{DataType: in.DataType, Params: in.Params, Points: in.Points}
	return nil
}

// CollectionInfo is the result of GET /collections/{name}.
type CollectionInfo struct {
	Status              CollectionStatus            `json:"status"`
	OptimizerStatus     any                         `json:"optimizer_status"` // "ok" or {"error": ...}
	IndexedVectorsCount uint64                      `json:"indexed_vectors_count"`
	PointsCount         uint64                      `json:"points_count"`
	SegmentsCount       int                         `json:"segments_count"`
	Config              CollectionConfig            `json:"config"`
	PayloadSchema       map[string]PayloadIndexInfo `json:"payload_schema"`
}

// CollectionDescription names a collection in the list.
type CollectionDescription struct {
	Name string `json:"name"`
}

// AliasDescription maps an alias to a collection.
type AliasDescription struct {
	AliasName      string `json:"alias_name"`
	CollectionName string `json:"collection_name"`
}

// AliasOperation is one action of POST /collections/aliases; exactly one
// field is set. All actions of one request apply atomically.
type AliasOperation struct {
	CreateAlias *AliasDescription `json:"create_alias,omitempty"`
	DeleteAlias *struct {
		AliasName string `json:"alias_name"`
	} `json:"delete_alias,omitempty"`
	RenameAlias *struct {
		OldAliasName string `json:"old_alias_name"`
		NewAliasName string `json:"new_alias_name"`
	} `json:"rename_alias,omitempty"`
}

// ChangeAliases is the body of POST /collections/aliases.
type ChangeAliases struct {
	Actions []AliasOperation `json:"actions"`
}
