package grpcapi

import (
	"encoding/json"
	"math"
	"strings"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/service"
)

var distanceFromProto = map[qdrant.Distance]api.Distance{
	qdrant.Distance_Cosine:    api.DistanceCosine,
	qdrant.Distance_Euclid:    api.DistanceEuclid,
	qdrant.Distance_Dot:       api.DistanceDot,
	qdrant.Distance_Manhattan: api.DistanceManhattan,
}

func distanceToProto(d api.Distance) qdrant.Distance {
	for k, v := range distanceFromProto {
		if v == d {
			return k
		}
	}
	return qdrant.Distance_UnknownDistance
}

// datatypeNames spells each datatype as REST does (the service refuses
// turbo4 with Manhattan distance or for multi-vectors, for both
// adapters).
var datatypeNames = map[qdrant.Datatype]string{
	qdrant.Datatype_Float32: "float32",
	qdrant.Datatype_Uint8:   "uint8",
	qdrant.Datatype_Float16: "float16",
	qdrant.Datatype_Turbo4:  "turbo4",
}

// memoryNames spells each memory placement as REST does.
var memoryNames = map[qdrant.Memory]string{
	qdrant.Memory_Cold: "cold", qdrant.Memory_Cached: "cached", qdrant.Memory_Pinned: "pinned",
}

// memoryFromProto returns the REST spelling of an optional memory
// placement; MemoryUnknown (0) is refused.
func memoryFromProto(field string, m *qdrant.Memory) (*string, error) {
	if m == nil {
		return nil, nil
	}
	name, ok := memoryNames[*m]
	if !ok {
		return nil, api.ErrBadInput("%s: unknown memory placement %d: expected Cold, Cached or Pinned", field, int32(*m))
	}
	return &name, nil
}

// memoryToProto is the inverse of memoryFromProto; an unknown name gives
// nil.
func memoryToProto(name any) *qdrant.Memory {
	for k, v := range memoryNames {
		if v == name {
			return &k
		}
	}
	return nil
}

// The `memory` placement of Qdrant 1.19 (Cold, Cached, Pinned) replaces
// the deprecated on_disk flags. gRPC keeps only the flag: a placement is
// translated into it by service.MemoryOnDisk (Qdrant's defaults, shared
// with REST) and overrides a flag sent alongside.

// payloadMemory returns the memory placement of payload storage params,
// nil when they or it are not set.
func payloadMemory(p *qdrant.PayloadStorageParams) *qdrant.Memory {
	if p == nil {
		return nil
	}
	return p.Memory
}

// onDiskFromMemory returns the on_disk flag in force for the deprecated
// flag onDisk and the placement m of a storage kind (m wins when set).
func onDiskFromMemory(field string, onDisk *bool, m *qdrant.Memory, kind string) (*bool, error) {
	if m == nil {
		return onDisk, nil
	}
	name, err := memoryFromProto(field, m)
	if err != nil {
		return nil, err
	}
	return service.MemoryOnDisk(field, kind, name)
}

func vectorParamsFromProto(name string, p *qdrant.VectorParams) (api.VectorParams, error) {
	d, ok := distanceFromProto[p.GetDistance()]
	if !ok {
		return api.VectorParams{}, api.ErrBadInput("vector %q: unknown distance %s; expected Cosine, Euclid, Dot or Manhattan", name, p.GetDistance())
	}
	hnsw, err := hnswDiffFromProto(p.GetHnswConfig())
	if err != nil {
		return api.VectorParams{}, err
	}
	onDisk, err := onDiskFromMemory(vectorField(name, "memory"), p.OnDisk, p.Memory, service.StorageVectors) //nolint:staticcheck // on_disk is deprecated but still sent by older clients.
	if err != nil {
		return api.VectorParams{}, err
	}
	out := api.VectorParams{
		Size:       int(min(p.GetSize(), math.MaxInt32)),
		Distance:   d,
		HnswConfig: hnsw,
		OnDisk:     onDisk,
	}
	if mv := p.GetMultivectorConfig(); mv != nil {
		if mv.GetComparator() != qdrant.MultiVectorComparator_MaxSim {
			return api.VectorParams{}, api.ErrBadInput("vector %q: unknown multivector comparator %d: expected MaxSim", name, int32(mv.GetComparator()))
		}
		out.MultivectorConfig = &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}
	}
	if p.Datatype != nil && p.GetDatatype() != qdrant.Datatype_Default {
		s, ok := datatypeNames[p.GetDatatype()]
		if !ok {
			return api.VectorParams{}, api.ErrBadInput("vector %q: unknown datatype %d", name, int32(p.GetDatatype()))
		}
		out.Datatype = &s
	}
	q, err := quantizationToJSON(p.GetQuantizationConfig())
	if err != nil {
		return api.VectorParams{}, err
	}
	out.QuantizationConfig = q
	return out, nil
}

// vectorField names a field of a vector's params in an error: the
// unnamed vector's as vectors.<field>, a named one's as
// vectors.<name>.<field>.
func vectorField(name, field string) string {
	if name == api.DefaultVectorName {
		return "vectors." + field
	}
	return "vectors." + name + "." + field
}

func vectorParamsToProto(p api.VectorParams) *qdrant.VectorParams {
	out := &qdrant.VectorParams{
		Size:               uint64(max(p.Size, 0)),
		Distance:           distanceToProto(p.Distance),
		HnswConfig:         hnswDiffToProto(p.HnswConfig),
		OnDisk:             p.OnDisk,
		QuantizationConfig: quantizationFromJSON(p.QuantizationConfig),
	}
	if p.Datatype != nil {
		for k, v := range datatypeNames {
			if v == *p.Datatype {
				dt := k
				out.Datatype = &dt
			}
		}
	}
	if p.MultivectorConfig != nil {
		out.MultivectorConfig = &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim}
	}
	return out
}

func vectorsConfigFromProto(c *qdrant.VectorsConfig) (api.VectorsConfig, error) {
	switch x := c.GetConfig().(type) {
	case *qdrant.VectorsConfig_Params:
		p, err := vectorParamsFromProto(api.DefaultVectorName, x.Params)
		if err != nil {
			return nil, err
		}
		return api.VectorsConfig{api.DefaultVectorName: p}, nil
	case *qdrant.VectorsConfig_ParamsMap:
		out := api.VectorsConfig{}
		for name, p := range x.ParamsMap.GetMap() {
			vp, err := vectorParamsFromProto(name, p)
			if err != nil {
				return nil, err
			}
			out[name] = vp
		}
		return out, nil
	}
	return nil, nil
}

func vectorsConfigToProto(c api.VectorsConfig) *qdrant.VectorsConfig {
	if c.Unnamed() {
		return qdrant.NewVectorsConfig(vectorParamsToProto(c[api.DefaultVectorName]))
	}
	m := make(map[string]*qdrant.VectorParams, len(c))
	for name, p := range c {
		m[name] = vectorParamsToProto(p)
	}
	return qdrant.NewVectorsConfigMap(m)
}

func u64ToIntPtr(u *uint64) *int {
	if u == nil {
		return nil
	}
	v := int(min(*u, math.MaxInt32))
	return &v
}

func intToU64Ptr(i *int) *uint64 {
	if i == nil {
		return nil
	}
	v := uint64(max(*i, 0))
	return &v
}

func u32ToIntPtr(u *uint32) *int {
	if u == nil {
		return nil
	}
	v := int(*u)
	return &v
}

func intToU32Ptr(i *int) *uint32 {
	if i == nil {
		return nil
	}
	v := uint32(min(max(*i, 0), math.MaxUint32))
	return &v
}

// hnswDiffFromProto converts HNSW settings. inline_storage, which Shoal
// does not implement, is refused when true.
func hnswDiffFromProto(h *qdrant.HnswConfigDiff) (*api.HnswConfigDiff, error) {
	if h == nil {
		return nil, nil
	}
	if h.GetInlineStorage() {
		return nil, api.ErrBadInput("hnsw_config.inline_storage is not supported by this server")
	}
	onDisk, err := onDiskFromMemory("hnsw_config.memory", h.OnDisk, h.Memory, service.StorageHNSW) //nolint:staticcheck // on_disk is deprecated but still sent by older clients.
	if err != nil {
		return nil, err
	}
	return &api.HnswConfigDiff{
		M:                  u64ToIntPtr(h.M),
		EfConstruct:        u64ToIntPtr(h.EfConstruct),
		FullScanThreshold:  u64ToIntPtr(h.FullScanThreshold),
		MaxIndexingThreads: u64ToIntPtr(h.MaxIndexingThreads),
		OnDisk:             onDisk,
		PayloadM:           u64ToIntPtr(h.PayloadM),
	}, nil
}

func hnswDiffToProto(h *api.HnswConfigDiff) *qdrant.HnswConfigDiff {
	if h == nil {
		return nil
	}
	return &qdrant.HnswConfigDiff{
		M:                  intToU64Ptr(h.M),
		EfConstruct:        intToU64Ptr(h.EfConstruct),
		FullScanThreshold:  intToU64Ptr(h.FullScanThreshold),
		MaxIndexingThreads: intToU64Ptr(h.MaxIndexingThreads),
		OnDisk:             h.OnDisk,
		PayloadM:           intToU64Ptr(h.PayloadM),
	}
}

func hnswToProto(h api.HnswConfig) *qdrant.HnswConfigDiff {
	return hnswDiffToProto(&api.HnswConfigDiff{
		M: &h.M, EfConstruct: &h.EfConstruct, FullScanThreshold: &h.FullScanThreshold,
		MaxIndexingThreads: &h.MaxIndexingThreads, OnDisk: h.OnDisk, PayloadM: h.PayloadM,
	})
}

// Quantization: stored by package api as REST JSON
// ({"scalar": {...}} | {"product": {...}} | {"binary": {...}}).

var compressionNames = map[qdrant.CompressionRatio]string{
	qdrant.CompressionRatio_x4: "x4", qdrant.CompressionRatio_x8: "x8", qdrant.CompressionRatio_x16: "x16",
	qdrant.CompressionRatio_x32: "x32", qdrant.CompressionRatio_x64: "x64",
}

var binaryEncodingNames = map[qdrant.BinaryQuantizationEncoding]string{
	qdrant.BinaryQuantizationEncoding_OneBit: "one_bit", qdrant.BinaryQuantizationEncoding_TwoBits: "two_bits",
	qdrant.BinaryQuantizationEncoding_OneAndHalfBits: "one_and_half_bits",
}

var queryEncodingNames = map[qdrant.BinaryQuantizationQueryEncoding_Setting]string{
	qdrant.BinaryQuantizationQueryEncoding_Default: "default", qdrant.BinaryQuantizationQueryEncoding_Binary: "binary",
	qdrant.BinaryQuantizationQueryEncoding_Scalar4Bits: "scalar4bits", qdrant.BinaryQuantizationQueryEncoding_Scalar8Bits: "scalar8bits",
}

var turboBitNames = map[qdrant.TurboQuantBitSize]string{
	qdrant.TurboQuantBitSize_Bits1: "bits1", qdrant.TurboQuantBitSize_Bits1_5: "bits1_5",
	qdrant.TurboQuantBitSize_Bits2: "bits2", qdrant.TurboQuantBitSize_Bits4: "bits4",
}

// putQuantizedRAM writes a quantization's deprecated always_ram flag and
// the memory placement that replaces it into its REST form m; kind names
// the quantization in errors.
func putQuantizedRAM(m map[string]any, kind string, alwaysRAM *bool, memory *qdrant.Memory) error {
	if alwaysRAM != nil {
		m["always_ram"] = *alwaysRAM
	}
	name, err := memoryFromProto("quantization_config."+kind+".memory", memory)
	if err != nil {
		return err
	}
	if name != nil {
		m["memory"] = *name
	}
	return nil
}

func scalarToMap(s *qdrant.ScalarQuantization) (map[string]any, error) {
	m := map[string]any{"type": "int8"}
	if s.Quantile != nil {
		m["quantile"] = float64(s.GetQuantile())
	}
	return m, putQuantizedRAM(m, "scalar", s.AlwaysRam, s.Memory) //nolint:staticcheck // always_ram is deprecated but still sent by older clients.
}

func productToMap(p *qdrant.ProductQuantization) (map[string]any, error) {
	m := map[string]any{"compression": compressionNames[p.GetCompression()]}
	return m, putQuantizedRAM(m, "product", p.AlwaysRam, p.Memory) //nolint:staticcheck // always_ram is deprecated but still sent by older clients.
}

func binaryToMap(b *qdrant.BinaryQuantization) (map[string]any, error) {
	m := map[string]any{}
	if b.Encoding != nil {
		m["encoding"] = binaryEncodingNames[b.GetEncoding()]
	}
	if qe := b.GetQueryEncoding(); qe != nil {
		m["query_encoding"] = queryEncodingNames[qe.GetSetting()]
	}
	return m, putQuantizedRAM(m, "binary", b.AlwaysRam, b.Memory) //nolint:staticcheck // always_ram is deprecated but still sent by older clients.
}

// turboToMap writes TurboQuant in REST form ({"turbo": {...}}), which
// api.ParseQuantization refuses for both adapters: Shoal does not
// implement it.
func turboToMap(t *qdrant.TurboQuantization) (map[string]any, error) {
	m := map[string]any{}
	if t.Bits != nil {
		m["bits"] = turboBitNames[t.GetBits()]
	}
	return m, putQuantizedRAM(m, "turbo", t.AlwaysRam, t.Memory) //nolint:staticcheck // always_ram is deprecated but still sent by older clients.
}

// quantizationKindToJSON wraps one quantization's REST form under its kind.
func quantizationKindToJSON(kind string, body map[string]any, err error) (json.RawMessage, error) {
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{kind: body})
}

func quantizationToJSON(q *qdrant.QuantizationConfig) (json.RawMessage, error) {
	switch x := q.GetQuantization().(type) {
	case *qdrant.QuantizationConfig_Scalar:
		m, err := scalarToMap(x.Scalar)
		return quantizationKindToJSON("scalar", m, err)
	case *qdrant.QuantizationConfig_Product:
		m, err := productToMap(x.Product)
		return quantizationKindToJSON("product", m, err)
	case *qdrant.QuantizationConfig_Binary:
		m, err := binaryToMap(x.Binary)
		return quantizationKindToJSON("binary", m, err)
	case *qdrant.QuantizationConfig_Turboquant:
		m, err := turboToMap(x.Turboquant)
		return quantizationKindToJSON("turbo", m, err)
	}
	return nil, nil
}

func quantizationDiffToJSON(q *qdrant.QuantizationConfigDiff) (json.RawMessage, error) {
	switch x := q.GetQuantization().(type) {
	case *qdrant.QuantizationConfigDiff_Scalar:
		m, err := scalarToMap(x.Scalar)
		return quantizationKindToJSON("scalar", m, err)
	case *qdrant.QuantizationConfigDiff_Product:
		m, err := productToMap(x.Product)
		return quantizationKindToJSON("product", m, err)
	case *qdrant.QuantizationConfigDiff_Binary:
		m, err := binaryToMap(x.Binary)
		return quantizationKindToJSON("binary", m, err)
	case *qdrant.QuantizationConfigDiff_Turboquant:
		m, err := turboToMap(x.Turboquant)
		return quantizationKindToJSON("turbo", m, err)
	case *qdrant.QuantizationConfigDiff_Disabled:
		return json.RawMessage(api.QuantizationDisabled), nil
	}
	return nil, nil
}

// quantizationFromJSON parses the stored REST form back; anything it does
// not recognise is reported as no quantization.
func quantizationFromJSON(raw json.RawMessage) *qdrant.QuantizationConfig {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	boolp := func(x map[string]any, k string) *bool {
		if b, ok := x[k].(bool); ok {
			return &b
		}
		return nil
	}
	if s, ok := m["scalar"]; ok {
		out := &qdrant.ScalarQuantization{Type: qdrant.QuantizationType_Int8, AlwaysRam: boolp(s, "always_ram"), Memory: memoryToProto(s["memory"])}
		if f, ok := s["quantile"].(float64); ok {
			q := float32(f)
			out.Quantile = &q
		}
		return qdrant.NewQuantizationScalar(out)
	}
	if p, ok := m["product"]; ok {
		out := &qdrant.ProductQuantization{AlwaysRam: boolp(p, "always_ram"), Memory: memoryToProto(p["memory"])}
		for k, v := range compressionNames {
			if p["compression"] == v {
				out.Compression = k
			}
		}
		return qdrant.NewQuantizationProduct(out)
	}
	if b, ok := m["binary"]; ok {
		out := &qdrant.BinaryQuantization{AlwaysRam: boolp(b, "always_ram"), Memory: memoryToProto(b["memory"])}
		for k, v := range binaryEncodingNames {
			if b["encoding"] == v {
				e := k
				out.Encoding = &e
			}
		}
		for k, v := range queryEncodingNames {
			if b["query_encoding"] == v {
				out.QueryEncoding = qdrant.NewBinaryQuantizationQueryEncodingSetting(k)
			}
		}
		return qdrant.NewQuantizationBinary(out)
	}
	return nil
}

// optimizersToJSON writes OptimizersConfigDiff in REST form. The two
// spellings of max_optimization_threads collapse into one number; the
// "auto" setting is left out (absent means automatic).
func optimizersToJSON(o *qdrant.OptimizersConfigDiff) (json.RawMessage, error) {
	if o == nil {
		return nil, nil
	}
	c := &qdrant.OptimizersConfigDiff{
		DeletedThreshold: o.DeletedThreshold, VacuumMinVectorNumber: o.VacuumMinVectorNumber,
		DefaultSegmentNumber: o.DefaultSegmentNumber, MaxSegmentSize: o.MaxSegmentSize,
		MemmapThreshold: o.MemmapThreshold, IndexingThreshold: o.IndexingThreshold,
		FlushIntervalSec: o.FlushIntervalSec, PreventUnoptimized: o.PreventUnoptimized,
	}
	raw, err := messageToJSON(c.ProtoReflect())
	if err != nil {
		return nil, err
	}
	threads := o.DeprecatedMaxOptimizationThreads //nolint:staticcheck // still sent by older clients.
	if v, ok := o.GetMaxOptimizationThreads().GetVariant().(*qdrant.MaxOptimizationThreads_Value); ok {
		threads = &v.Value
	}
	if threads == nil {
		return raw, nil
	}
	m := map[string]any{}
	if raw != nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
	}
	m["max_optimization_threads"] = *threads
	return json.Marshal(m)
}

func optimizersConfigToProto(o api.OptimizersConfig) *qdrant.OptimizersConfigDiff {
	dt := o.DeletedThreshold
	vmin := uint64(max(o.VacuumMinVectorNumber, 0))
	dsn := uint64(max(o.DefaultSegmentNumber, 0))
	fis := uint64(max(o.FlushIntervalSec, 0))
	out := &qdrant.OptimizersConfigDiff{
		DeletedThreshold: &dt, VacuumMinVectorNumber: &vmin, DefaultSegmentNumber: &dsn,
		MaxSegmentSize: intToU64Ptr(o.MaxSegmentSize), MemmapThreshold: intToU64Ptr(o.MemmapThreshold),
		IndexingThreshold: intToU64Ptr(o.IndexingThreshold), FlushIntervalSec: &fis,
	}
	if o.MaxOptimizationThreads != nil {
		out.MaxOptimizationThreads = qdrant.NewMaxOptimizationThreads(uint64(max(*o.MaxOptimizationThreads, 0)))
	} else {
		out.MaxOptimizationThreads = qdrant.NewMaxOptimizationThreadsSetting(qdrant.MaxOptimizationThreads_Auto)
	}
	return out
}

func shardingMethodFromProto(m *qdrant.ShardingMethod) *string {
	if m == nil {
		return nil
	}
	s := strings.ToLower(m.String())
	return &s
}

func shardingMethodToProto(s *string) *qdrant.ShardingMethod {
	if s == nil {
		return nil
	}
	m := qdrant.ShardingMethod_Auto
	if *s == "custom" {
		m = qdrant.ShardingMethod_Custom
	}
	return &m
}

// sparseConfigFromProto converts sparse vector params by name.
func sparseConfigFromProto(c *qdrant.SparseVectorConfig) (api.SparseVectorsConfig, error) {
	m := c.GetMap()
	if len(m) == 0 {
		return nil, nil
	}
	out := make(api.SparseVectorsConfig, len(m))
	for name, p := range m {
		var sp api.SparseVectorParams
		if ix := p.GetIndex(); ix != nil {
			onDisk, err := onDiskFromMemory("sparse_vectors."+name+".index.memory", ix.OnDisk, ix.Memory, service.StorageSparse) //nolint:staticcheck // on_disk is deprecated but still sent by older clients.
			if err != nil {
				return nil, err
			}
			idx := &api.SparseIndexParams{OnDisk: onDisk}
			if ix.FullScanThreshold != nil {
				t := int(min(ix.GetFullScanThreshold(), math.MaxInt32))
				idx.FullScanThreshold = &t
			}
			if ix.Datatype != nil && ix.GetDatatype() != qdrant.Datatype_Default {
				dt, ok := datatypeNames[ix.GetDatatype()]
				if !ok {
					return nil, api.ErrBadInput("sparse vector %q: unknown datatype %d", name, int32(ix.GetDatatype()))
				}
				idx.Datatype = &dt
			}
			sp.Index = idx
		}
		if p.Modifier != nil {
			var m api.SparseModifier
			switch p.GetModifier() {
			case qdrant.Modifier_None:
				m = api.ModifierNone
			case qdrant.Modifier_Idf:
				m = api.ModifierIDF
			default:
				return nil, api.ErrBadInput("sparse vector %q: unknown modifier %d: expected None or Idf", name, int32(p.GetModifier()))
			}
			sp.Modifier = &m
		}
		out[name] = sp
	}
	return out, nil
}

// sparseConfigToProto is the inverse of sparseConfigFromProto.
func sparseConfigToProto(c api.SparseVectorsConfig) *qdrant.SparseVectorConfig {
	if len(c) == 0 {
		return nil
	}
	m := make(map[string]*qdrant.SparseVectorParams, len(c))
	for name, p := range c {
		out := &qdrant.SparseVectorParams{}
		if ix := p.Index; ix != nil {
			out.Index = &qdrant.SparseIndexConfig{OnDisk: ix.OnDisk}
			if ix.FullScanThreshold != nil {
				t := uint64(max(*ix.FullScanThreshold, 0))
				out.Index.FullScanThreshold = &t
			}
			if ix.Datatype != nil {
				for k, v := range datatypeNames {
					if v == *ix.Datatype {
						dt := k
						out.Index.Datatype = &dt
					}
				}
			}
		}
		if p.Modifier != nil {
			mod := qdrant.Modifier_None
			if *p.Modifier == api.ModifierIDF {
				mod = qdrant.Modifier_Idf
			}
			out.Modifier = &mod
		}
		m[name] = out
	}
	return &qdrant.SparseVectorConfig{Map: m}
}

func createCollectionFromProto(r *qdrant.CreateCollection) (*api.CreateCollection, error) {
	sparse, err := sparseConfigFromProto(r.GetSparseVectorsConfig())
	if err != nil {
		return nil, err
	}
	vecs, err := vectorsConfigFromProto(r.GetVectorsConfig())
	if err != nil {
		return nil, err
	}
	hnsw, err := hnswDiffFromProto(r.GetHnswConfig())
	if err != nil {
		return nil, err
	}
	onDiskPayload, err := onDiskFromMemory("payload.memory", r.OnDiskPayload, payloadMemory(r.GetPayload()), service.StoragePayload) //nolint:staticcheck // on_disk_payload is deprecated but still sent by older clients.
	if err != nil {
		return nil, err
	}
	out := &api.CreateCollection{
		SparseVectors:          sparse,
		Vectors:                vecs,
		ShardNumber:            u32ToIntPtr(r.ShardNumber),
		ShardingMethod:         shardingMethodFromProto(r.ShardingMethod),
		ReplicationFactor:      u32ToIntPtr(r.ReplicationFactor),
		WriteConsistencyFactor: u32ToIntPtr(r.WriteConsistencyFactor),
		OnDiskPayload:          onDiskPayload,
		HnswConfig:             hnsw,
	}
	if r.WalConfig != nil {
		if out.WalConfig, err = messageToJSON(r.GetWalConfig().ProtoReflect()); err != nil {
			return nil, err
		}
	}
	if out.OptimizersConfig, err = optimizersToJSON(r.GetOptimizersConfig()); err != nil {
		return nil, err
	}
	if out.QuantizationConfig, err = quantizationToJSON(r.GetQuantizationConfig()); err != nil {
		return nil, err
	}
	if out.StrictModeConfig, out.Metadata, err = strictModeAndMetadataFromProto(r); err != nil {
		return nil, err
	}
	return out, nil
}

func updateCollectionFromProto(r *qdrant.UpdateCollection) (*api.UpdateCollection, error) {
	sparse, err := sparseConfigFromProto(r.GetSparseVectorsConfig())
	if err != nil {
		return nil, err
	}
	hnsw, err := hnswDiffFromProto(r.GetHnswConfig())
	if err != nil {
		return nil, err
	}
	out := &api.UpdateCollection{HnswConfig: hnsw, SparseVectors: sparse}
	switch x := r.GetVectorsConfig().GetConfig().(type) {
	case *qdrant.VectorsConfigDiff_Params:
		d, err := vectorParamsDiffFromProto(api.DefaultVectorName, x.Params)
		if err != nil {
			return nil, err
		}
		out.Vectors = map[string]api.VectorParamsDiff{api.DefaultVectorName: d}
	case *qdrant.VectorsConfigDiff_ParamsMap:
		out.Vectors = map[string]api.VectorParamsDiff{}
		for name, p := range x.ParamsMap.GetMap() {
			d, err := vectorParamsDiffFromProto(name, p)
			if err != nil {
				return nil, err
			}
			out.Vectors[name] = d
		}
	}
	if out.OptimizersConfig, err = optimizersToJSON(r.GetOptimizersConfig()); err != nil {
		return nil, err
	}
	if p := r.GetParams(); p != nil {
		onDiskPayload, err := onDiskFromMemory("params.payload.memory", p.OnDiskPayload, payloadMemory(p.GetPayload()), service.StoragePayload) //nolint:staticcheck // on_disk_payload is deprecated but still sent by older clients.
		if err != nil {
			return nil, err
		}
		out.Params = &api.CollectionParamsDiff{
			ReplicationFactor:      u32ToIntPtr(p.ReplicationFactor),
			WriteConsistencyFactor: u32ToIntPtr(p.WriteConsistencyFactor),
			ReadFanOutFactor:       u32ToIntPtr(p.ReadFanOutFactor),
			ReadFanOutDelayMs:      u64ToIntPtr(p.ReadFanOutDelayMs),
			OnDiskPayload:          onDiskPayload,
		}
	}
	if out.QuantizationConfig, err = quantizationDiffToJSON(r.GetQuantizationConfig()); err != nil {
		return nil, err
	}
	if out.StrictModeConfig, out.Metadata, err = strictModeAndMetadataFromProto(r); err != nil {
		return nil, err
	}
	return out, nil
}

// strictModeAndMetadataFromProto converts the strict mode config (when
// set) and then the metadata, the last settings CreateCollection and
// UpdateCollection share.
func strictModeAndMetadataFromProto(r interface {
	GetStrictModeConfig() *qdrant.StrictModeConfig
	GetMetadata() map[string]*qdrant.Value
}) (json.RawMessage, map[string]any, error) {
	var strict json.RawMessage
	if sm := r.GetStrictModeConfig(); sm != nil {
		var err error
		if strict, err = messageToJSON(sm.ProtoReflect()); err != nil {
			return nil, nil, err
		}
		if strict, err = strictFromProtoShape(strict); err != nil {
			return nil, nil, err
		}
	}
	meta, err := metadataFromProto(r.GetMetadata())
	if err != nil {
		return nil, nil, err
	}
	return strict, meta, nil
}

func vectorParamsDiffFromProto(name string, p *qdrant.VectorParamsDiff) (api.VectorParamsDiff, error) {
	q, err := quantizationDiffToJSON(p.GetQuantizationConfig())
	if err != nil {
		return api.VectorParamsDiff{}, err
	}
	hnsw, err := hnswDiffFromProto(p.GetHnswConfig())
	if err != nil {
		return api.VectorParamsDiff{}, err
	}
	onDisk, err := onDiskFromMemory(vectorField(name, "memory"), p.OnDisk, p.Memory, service.StorageVectors) //nolint:staticcheck // on_disk is deprecated but still sent by older clients.
	return api.VectorParamsDiff{HnswConfig: hnsw, OnDisk: onDisk, QuantizationConfig: q}, err
}

var statusToProto = map[api.CollectionStatus]qdrant.CollectionStatus{
	api.StatusGreen: qdrant.CollectionStatus_Green, api.StatusYellow: qdrant.CollectionStatus_Yellow,
	api.StatusGrey: qdrant.CollectionStatus_Grey, api.StatusRed: qdrant.CollectionStatus_Red,
}

func optimizerStatusToProto(v any) *qdrant.OptimizerStatus {
	switch x := v.(type) {
	case nil:
		return &qdrant.OptimizerStatus{Ok: true}
	case string:
		if x == "ok" {
			return &qdrant.OptimizerStatus{Ok: true}
		}
		return &qdrant.OptimizerStatus{Error: x}
	case map[string]any:
		if e, ok := x["error"].(string); ok {
			return &qdrant.OptimizerStatus{Error: e}
		}
	case map[string]string:
		if e, ok := x["error"]; ok {
			return &qdrant.OptimizerStatus{Error: e}
		}
	}
	return &qdrant.OptimizerStatus{Ok: true}
}

func collectionInfoToProto(in *api.CollectionInfo) (*qdrant.CollectionInfo, error) {
	cfg := &in.Config
	params := &qdrant.CollectionParams{
		ShardNumber:            uint32(max(cfg.Params.ShardNumber, 0)),
		OnDiskPayload:          cfg.Params.OnDiskPayload,
		VectorsConfig:          vectorsConfigToProto(cfg.Params.Vectors),
		ReplicationFactor:      intToU32Ptr(&cfg.Params.ReplicationFactor),
		WriteConsistencyFactor: intToU32Ptr(&cfg.Params.WriteConsistencyFactor),
		ReadFanOutFactor:       intToU32Ptr(cfg.Params.ReadFanOutFactor),
		ReadFanOutDelayMs:      intToU64Ptr(cfg.Params.ReadFanOutDelayMs),
		ShardingMethod:         shardingMethodToProto(cfg.Params.ShardingMethod),
		SparseVectorsConfig:    sparseConfigToProto(cfg.Params.SparseVectors),
	}
	wal := &qdrant.WalConfigDiff{
		WalCapacityMb:    intToU64Ptr(&cfg.WalConfig.WalCapacityMB),
		WalSegmentsAhead: intToU64Ptr(&cfg.WalConfig.WalSegmentsAhead),
	}
	var strict *qdrant.StrictModeConfig
	if len(cfg.StrictModeConfig) > 0 && string(cfg.StrictModeConfig) != "null" {
		strict = &qdrant.StrictModeConfig{}
		raw, err := strictToProtoShape(cfg.StrictModeConfig)
		if err != nil {
			return nil, err
		}
		if err := jsonToMessage(raw, strict.ProtoReflect()); err != nil {
			return nil, err
		}
	}
	meta, err := metadataToProto(cfg.Metadata)
	if err != nil {
		return nil, err
	}
	out := &qdrant.CollectionInfo{
		Status:          statusToProto[in.Status],
		OptimizerStatus: optimizerStatusToProto(in.OptimizerStatus),
		SegmentsCount:   uint64(max(in.SegmentsCount, 0)),
		Config: &qdrant.CollectionConfig{
			Params:             params,
			HnswConfig:         hnswToProto(cfg.HnswConfig),
			OptimizerConfig:    optimizersConfigToProto(cfg.OptimizerConfig),
			WalConfig:          wal,
			QuantizationConfig: quantizationFromJSON(cfg.QuantizationConfig),
			StrictModeConfig:   strict,
			Metadata:           meta,
		},
		PayloadSchema:       make(map[string]*qdrant.PayloadSchemaInfo, len(in.PayloadSchema)),
		PointsCount:         &in.PointsCount,
		IndexedVectorsCount: &in.IndexedVectorsCount,
		UpdateQueue:         &qdrant.UpdateQueueInfo{DeferredPoints: qdrant.PtrOf(uint64(0))}, // Shoal never hides written points
	}
	if out.Status == qdrant.CollectionStatus_UnknownCollectionStatus {
		out.Status = qdrant.CollectionStatus_Green
	}
	for name, info := range in.PayloadSchema {
		pts := info.Points
		out.PayloadSchema[name] = &qdrant.PayloadSchemaInfo{
			DataType: schemaTypeToProto[info.DataType],
			Params:   indexParamsToProto(info.DataType, info.Params),
			Points:   &pts,
		}
	}
	return out, nil
}

// Payload index types and parameters.

var fieldTypeToSchema = map[qdrant.FieldType]api.PayloadSchemaType{
	qdrant.FieldType_FieldTypeKeyword: api.SchemaKeyword, qdrant.FieldType_FieldTypeInteger: api.SchemaInteger,
	qdrant.FieldType_FieldTypeFloat: api.SchemaFloat, qdrant.FieldType_FieldTypeGeo: api.SchemaGeo,
	qdrant.FieldType_FieldTypeText: api.SchemaText, qdrant.FieldType_FieldTypeBool: api.SchemaBool,
	qdrant.FieldType_FieldTypeDatetime: api.SchemaDatetime, qdrant.FieldType_FieldTypeUuid: api.SchemaUUID,
}

var schemaTypeToProto = map[api.PayloadSchemaType]qdrant.PayloadSchemaType{
	api.SchemaKeyword: qdrant.PayloadSchemaType_Keyword, api.SchemaInteger: qdrant.PayloadSchemaType_Integer,
	api.SchemaFloat: qdrant.PayloadSchemaType_Float, api.SchemaGeo: qdrant.PayloadSchemaType_Geo,
	api.SchemaText: qdrant.PayloadSchemaType_Text, api.SchemaBool: qdrant.PayloadSchemaType_Bool,
	api.SchemaDatetime: qdrant.PayloadSchemaType_Datetime, api.SchemaUUID: qdrant.PayloadSchemaType_Uuid,
}

var tokenizerNames = map[qdrant.TokenizerType]string{
	qdrant.TokenizerType_Prefix: "prefix", qdrant.TokenizerType_Whitespace: "whitespace",
	qdrant.TokenizerType_Word: "word", qdrant.TokenizerType_Multilingual: "multilingual",
}

// indexParamsFromProto returns the index type implied by the params and the
// params in REST form (the keys of the REST object besides "type", with the
// Go types encoding/json produces: bool, string, float64, map, slice).
func indexParamsFromProto(p *qdrant.PayloadIndexParams) (api.PayloadSchemaType, map[string]any, error) {
	var t api.PayloadSchemaType
	var msg interface{ ProtoReflect() protoreflect.Message }
	switch x := p.GetIndexParams().(type) {
	case nil:
		return "", nil, nil
	case *qdrant.PayloadIndexParams_KeywordIndexParams:
		t, msg = api.SchemaKeyword, x.KeywordIndexParams
	case *qdrant.PayloadIndexParams_IntegerIndexParams:
		t, msg = api.SchemaInteger, x.IntegerIndexParams
	case *qdrant.PayloadIndexParams_FloatIndexParams:
		t, msg = api.SchemaFloat, x.FloatIndexParams
	case *qdrant.PayloadIndexParams_GeoIndexParams:
		t, msg = api.SchemaGeo, x.GeoIndexParams
	case *qdrant.PayloadIndexParams_BoolIndexParams:
		t, msg = api.SchemaBool, x.BoolIndexParams
	case *qdrant.PayloadIndexParams_DatetimeIndexParams:
		t, msg = api.SchemaDatetime, x.DatetimeIndexParams
	case *qdrant.PayloadIndexParams_UuidIndexParams:
		t, msg = api.SchemaUUID, x.UuidIndexParams
	case *qdrant.PayloadIndexParams_TextIndexParams:
		m, err := textParamsToMap(x.TextIndexParams)
		return api.SchemaText, m, err
	}
	raw, err := messageToJSON(msg.ProtoReflect())
	if err != nil || raw == nil {
		return t, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, err
	}
	return t, m, nil
}

func textParamsToMap(p *qdrant.TextIndexParams) (map[string]any, error) {
	m := map[string]any{}
	if name, ok := tokenizerNames[p.GetTokenizer()]; ok {
		m["tokenizer"] = name
	}
	if p.Lowercase != nil {
		m["lowercase"] = p.GetLowercase()
	}
	if p.MinTokenLen != nil {
		m["min_token_len"] = float64(p.GetMinTokenLen())
	}
	if p.MaxTokenLen != nil {
		m["max_token_len"] = float64(p.GetMaxTokenLen())
	}
	if p.OnDisk != nil { //nolint:staticcheck // on_disk is deprecated but still sent by older clients.
		m["on_disk"] = p.GetOnDisk() //nolint:staticcheck // as above.
	}
	name, err := memoryFromProto("memory", p.Memory)
	if err != nil {
		return nil, err
	}
	if name != nil {
		m["memory"] = *name
	}
	if p.PhraseMatching != nil {
		m["phrase_matching"] = p.GetPhraseMatching()
	}
	if p.AsciiFolding != nil {
		m["ascii_folding"] = p.GetAsciiFolding()
	}
	if p.EnableHnsw != nil {
		m["enable_hnsw"] = p.GetEnableHnsw()
	}
	if sw := p.GetStopwords(); sw != nil {
		// Qdrant's REST StopwordsSet; empty lists are left out.
		set := map[string]any{}
		if len(sw.GetLanguages()) > 0 {
			set["languages"] = stringsToAny(sw.GetLanguages())
		}
		if len(sw.GetCustom()) > 0 {
			set["custom"] = stringsToAny(sw.GetCustom())
		}
		m["stopwords"] = set
	}
	if sb := p.GetStemmer().GetSnowball(); sb != nil {
		m["stemmer"] = map[string]any{"type": "snowball", "language": sb.GetLanguage()}
	} else if p.GetStemmer().GetDisabled() != nil {
		m["stemmer"] = map[string]any{"type": "none"}
	}
	return m, nil
}

// indexParamsToProto is the inverse of indexParamsFromProto for collection
// info; nil params give nil.
func indexParamsToProto(t api.PayloadSchemaType, params map[string]any) *qdrant.PayloadIndexParams {
	if len(params) == 0 {
		return nil
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil
	}
	switch t {
	case api.SchemaKeyword:
		return indexParamsFromJSON(raw, &qdrant.KeywordIndexParams{}, qdrant.NewPayloadIndexParamsKeyword)
	case api.SchemaInteger:
		return indexParamsFromJSON(raw, &qdrant.IntegerIndexParams{}, qdrant.NewPayloadIndexParamsInt)
	case api.SchemaFloat:
		return indexParamsFromJSON(raw, &qdrant.FloatIndexParams{}, qdrant.NewPayloadIndexParamsFloat)
	case api.SchemaGeo:
		return indexParamsFromJSON(raw, &qdrant.GeoIndexParams{}, qdrant.NewPayloadIndexParamsGeo)
	case api.SchemaBool:
		return indexParamsFromJSON(raw, &qdrant.BoolIndexParams{}, qdrant.NewPayloadIndexParamsBool)
	case api.SchemaDatetime:
		return indexParamsFromJSON(raw, &qdrant.DatetimeIndexParams{}, qdrant.NewPayloadIndexParamsDatetime)
	case api.SchemaUUID:
		return indexParamsFromJSON(raw, &qdrant.UuidIndexParams{}, qdrant.NewPayloadIndexParamsUUID)
	case api.SchemaText:
		return qdrant.NewPayloadIndexParamsText(textParamsFromMap(params))
	}
	return nil
}

// indexParamsFromJSON fills p from the REST form raw and wraps it with
// wrap; params that do not fit p give nil.
func indexParamsFromJSON[P interface{ ProtoReflect() protoreflect.Message }](raw json.RawMessage, p P, wrap func(P) *qdrant.PayloadIndexParams) *qdrant.PayloadIndexParams {
	if jsonToMessage(raw, p.ProtoReflect()) != nil {
		return nil
	}
	return wrap(p)
}

func textParamsFromMap(m map[string]any) *qdrant.TextIndexParams {
	p := &qdrant.TextIndexParams{}
	for k, v := range tokenizerNames {
		if m["tokenizer"] == v {
			p.Tokenizer = k
		}
	}
	boolp := func(k string) *bool {
		if b, ok := m[k].(bool); ok {
			return &b
		}
		return nil
	}
	nump := func(k string) *uint64 {
		switch x := m[k].(type) {
		case float64:
			u := uint64(max(x, 0))
			return &u
		case json.Number:
			if f, err := x.Float64(); err == nil {
				u := uint64(max(f, 0))
				return &u
			}
		}
		return nil
	}
	p.Lowercase, p.OnDisk, p.PhraseMatching = boolp("lowercase"), boolp("on_disk"), boolp("phrase_matching")
	p.AsciiFolding, p.EnableHnsw = boolp("ascii_folding"), boolp("enable_hnsw")
	p.MinTokenLen, p.MaxTokenLen = nump("min_token_len"), nump("max_token_len")
	strs := func(v any) []string {
		l, _ := v.([]any)
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	switch sw := m["stopwords"].(type) {
	case string:
		p.Stopwords = &qdrant.StopwordsSet{Languages: []string{sw}}
	case map[string]any:
		p.Stopwords = &qdrant.StopwordsSet{Languages: strs(sw["languages"]), Custom: strs(sw["custom"])}
	}
	if st, ok := m["stemmer"].(map[string]any); ok {
		if lang, ok := st["language"].(string); ok {
			p.Stemmer = qdrant.NewStemmingAlgorithmSnowball(&qdrant.SnowballParams{Language: lang})
		} else if st["type"] == "none" {
			p.Stemmer = &qdrant.StemmingAlgorithm{StemmingParams: &qdrant.StemmingAlgorithm_Disabled{Disabled: &qdrant.DisabledStemmer{}}}
		}
	}
	p.Memory = memoryToProto(m["memory"])
	return p
}

func createFieldIndexFromProto(r *qdrant.CreateFieldIndexCollection) (*api.CreateFieldIndex, error) {
	// An empty field_name is refused by the service, for REST alike.
	out := &api.CreateFieldIndex{FieldName: r.GetFieldName()}
	pt, params, err := indexParamsFromProto(r.GetFieldIndexParams())
	if err != nil {
		return nil, err
	}
	var t api.PayloadSchemaType
	if r.FieldType != nil {
		var ok bool
		if t, ok = fieldTypeToSchema[r.GetFieldType()]; !ok {
			return nil, api.ErrBadInput("unknown field type %d", int32(r.GetFieldType()))
		}
		if pt != "" && pt != t {
			return nil, api.ErrBadInput("field_index_params are for a %s index but field_type is %s", pt, t)
		}
	} else {
		t = pt
	}
	if t == "" {
		return out, nil
	}
	if len(params) == 0 {
		params = nil
	}
	out.FieldSchema = &api.PayloadFieldSchema{Type: t, Params: params}
	return out, nil
}

// The protobuf StrictModeConfig wraps its per-name maps in a message
// (multivector_config: {multivector_config: {name: ...}}, likewise
// sparse_config), where REST has the map itself; these two move between
// the shapes.
var strictWrapped = []string{"multivector_config", "sparse_config"}

func strictFromProtoShape(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, k := range strictWrapped {
		if w, ok := m[k]; ok {
			var inner map[string]json.RawMessage
			if err := json.Unmarshal(w, &inner); err != nil {
				return nil, err
			}
			if v, ok := inner[k]; ok {
				m[k] = v
			} else {
				delete(m, k)
			}
		}
	}
	return json.Marshal(m)
}

func strictToProtoShape(raw json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, k := range strictWrapped {
		if v, ok := m[k]; ok {
			w, err := json.Marshal(map[string]json.RawMessage{k: v})
			if err != nil {
				return nil, err
			}
			m[k] = w
		}
	}
	return json.Marshal(m)
}

// createVectorNameFromProto converts CreateVectorName's vector definition
// to the REST body (api.CreateVectorName), which the service validates for
// both adapters.
func createVectorNameFromProto(r *qdrant.CreateVectorNameRequest) (*api.CreateVectorName, error) {
	field := "vectors." + r.GetVectorName()
	switch x := r.GetVectorConfig().(type) {
	case *qdrant.CreateVectorNameRequest_DenseConfig:
		d := x.DenseConfig
		p, err := vectorParamsFromProto(r.GetVectorName(), &qdrant.VectorParams{
			Size: d.GetSize(), Distance: d.GetDistance(), MultivectorConfig: d.GetMultivectorConfig(), Datatype: d.Datatype,
		})
		if err != nil {
			return nil, err
		}
		return &api.CreateVectorName{Dense: &api.DenseVectorConfig{
			Size: p.Size, Distance: p.Distance, MultivectorConfig: p.MultivectorConfig, Datatype: p.Datatype,
		}}, nil
	case *qdrant.CreateVectorNameRequest_SparseConfig:
		sp := x.SparseConfig
		params := &qdrant.SparseVectorParams{Modifier: sp.Modifier}
		if sp.Datatype != nil {
			params.Index = &qdrant.SparseIndexConfig{Datatype: sp.Datatype}
		}
		conv, err := sparseConfigFromProto(&qdrant.SparseVectorConfig{Map: map[string]*qdrant.SparseVectorParams{r.GetVectorName(): params}})
		if err != nil {
			return nil, err
		}
		p := conv[r.GetVectorName()]
		out := &api.SparseVectorConfig{Modifier: p.Modifier}
		if p.Index != nil {
			out.Datatype = p.Index.Datatype
		}
		return &api.CreateVectorName{Sparse: out}, nil
	}
	return nil, api.ErrBadInput("%s: vector config must be exactly one of dense_config and sparse_config", field)
}
