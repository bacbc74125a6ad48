package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/filter"
	"github.com/shoal-db/shoal/internal/meta"
)

// MaxShardNumber is the largest shard_number accepted.
const MaxShardNumber = 1024

// ListCollections lists the collections the caller may read.
func (s *Service) ListCollections(ctx context.Context) ([]api.CollectionDescription, error) {
	if err := s.linearize(ctx); err != nil {
		return nil, err
	}
	a := auth.FromContext(ctx)
	out := []api.CollectionDescription{}
	for _, name := range s.state().CollectionNames() {
		// Canary collections are the nodes' own (CanaryPrefix).
		if a.ModeFor(name) >= auth.Read && !IsCanary(name) {
			out = append(out, api.CollectionDescription{Name: name})
		}
	}
	return out, nil
}

// CollectionInfo reports a collection's status, sizes and configuration.
func (s *Service) CollectionInfo(ctx context.Context, name string) (*api.CollectionInfo, error) {
	if err := s.linearize(ctx); err != nil {
		return nil, err
	}
	return withHeld(s, ctx, name, auth.Read, func(ctx context.Context, c *collection.Collection) (*api.CollectionInfo, error) {
		return c.Info(ctx)
	})
}

// Optimizations reports the collection's background index work
// (collection.Collection.Optimizations).
func (s *Service) Optimizations(ctx context.Context, name string, req api.OptimizationsRequest) (*api.OptimizationsResponse, error) {
	return withHeld(s, ctx, name, auth.Read, func(ctx context.Context, c *collection.Collection) (*api.OptimizationsResponse, error) {
		return c.Optimizations(ctx, req)
	})
}

// CollectionExists reports whether name is a collection or an alias of one.
func (s *Service) CollectionExists(ctx context.Context, name string) (bool, error) {
	if err := s.linearize(ctx); err != nil {
		return false, err
	}
	if err := auth.FromContext(ctx).CheckCollection(name, auth.Read); err != nil {
		real, ok := s.state().Resolve(name)
		if !ok || auth.FromContext(ctx).CheckCollection(real, auth.Read) != nil {
			return false, err
		}
	}
	_, ok := s.state().Resolve(name)
	return ok, nil
}

// ValidateCollectionName applies Qdrant's collection name rules: not empty,
// at most 255 bytes, none of / \ : * ? " < > |, no control characters
// (NUL, tab, newline ...), and not "." or "..".
func ValidateCollectionName(name string) error {
	if p := CollectionNameProblem(name); p != "" {
		return api.ErrBadInput("%s", p)
	}
	return nil
}

// CollectionNameProblem returns why name breaks ValidateCollectionName's
// rules, or "" when it keeps them. The REST adapter answers a collection
// name in a path that breaks them with Qdrant's 422 for path parameters.
func CollectionNameProblem(name string) string {
	switch {
	case name == "":
		return "Collection name must not be empty"
	case len(name) > 255:
		return "Collection name must not be longer than 255 bytes"
	case name == "." || name == "..":
		return fmt.Sprintf("Collection name %q is not allowed", name)
	case strings.ContainsAny(name, "/\\:*?\"<>|"):
		return fmt.Sprintf("Collection name contains forbidden characters (/ \\ : * ? \" < > | or control characters): %q", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Sprintf("Collection name must not contain control characters: %q", name)
	}
	return ""
}

// ResolveConfig validates a create request and returns the configuration
// with every default applied (Qdrant's defaults for what the request
// leaves out).
func ResolveConfig(req *api.CreateCollection, defaultShards int) (api.CollectionConfig, error) {
	return resolveConfig(req, defaultShards, DefaultCollectionDefaults())
}

// resolveConfig is ResolveConfig with the node's defaults.
func resolveConfig(req *api.CreateCollection, defaultShards int, def CollectionDefaults) (api.CollectionConfig, error) {
	var cfg api.CollectionConfig
	if len(req.Vectors) == 0 && len(req.SparseVectors) == 0 {
		return cfg, api.ErrBadInput("vectors config must not be empty: give vectors, sparse_vectors or both")
	}
	sparse, err := resolveSparse(req.SparseVectors, req.Vectors)
	if err != nil {
		return cfg, err
	}
	if isSet(req.InitFrom) {
		return cfg, api.ErrBadInput("init_from is not supported by this server")
	}
	if req.ShardingMethod != nil && *req.ShardingMethod != "auto" {
		return cfg, api.ErrBadInput("sharding_method %q is not supported by this server: only auto", *req.ShardingMethod)
	}
	vectors := api.VectorsConfig{}
	named := !req.Vectors.Unnamed()
	for name, p := range req.Vectors {
		if named && name == "" {
			return cfg, api.ErrBadInput("vector names must not be empty")
		}
		if err := validateVectorParams(name, p); err != nil {
			return cfg, err
		}
		if err := applyVectorMemory(name, &p); err != nil {
			return cfg, err
		}
		dt := "float32"
		if p.Datatype != nil {
			dt = strings.ToLower(*p.Datatype)
		}
		p.Datatype = &dt
		vectors[name] = p
	}
	shards := defaultShards
	if req.ShardNumber != nil {
		shards = *req.ShardNumber
	}
	if shards < 1 || shards > MaxShardNumber {
		return cfg, api.ErrBadInput("shard_number must be from 1 to %d, got %d", MaxShardNumber, shards)
	}
	rf, wcf := 1, 1
	if req.ReplicationFactor != nil {
		rf = *req.ReplicationFactor
	}
	if req.WriteConsistencyFactor != nil {
		wcf = *req.WriteConsistencyFactor
	}
	if rf < 1 || wcf < 1 {
		return cfg, api.ErrBadInput("replication_factor and write_consistency_factor must be at least 1")
	}
	onDisk := def.OnDiskPayload
	if req.OnDiskPayload != nil {
		onDisk = *req.OnDiskPayload
	}
	if req.Payload != nil {
		v, err := memoryOnDisk("payload.memory", req.Payload.Memory, payloadOnDisk)
		if err != nil {
			return cfg, err
		}
		if v != nil {
			onDisk = *v
		}
	}
	hnsw := req.HnswConfig.Apply(def.Hnsw)
	if err := validateHnsw(hnsw); err != nil {
		return cfg, err
	}
	if _, err := api.ParseQuantization(req.QuantizationConfig); err != nil {
		return cfg, err
	}
	// A copy of the pointed-to defaults: decoding the request writes
	// through the pointers.
	opt := def.Optimizers.Clone()
	if err := mergeJSON(req.OptimizersConfig, &opt, "optimizers_config"); err != nil {
		return cfg, err
	}
	wal := api.DefaultWalConfig()
	if err := mergeJSON(req.WalConfig, &wal, "wal_config"); err != nil {
		return cfg, err
	}
	strict, err := resolveStrictMode(nil, req.StrictModeConfig)
	if err != nil {
		return cfg, err
	}
	method := "auto"
	cfg = api.CollectionConfig{
		Params: api.CollectionParams{Vectors: vectors, ShardNumber: shards, ShardingMethod: &method,
			ReplicationFactor: rf, WriteConsistencyFactor: wcf, OnDiskPayload: onDisk, Payload: req.Payload, SparseVectors: sparse},
		HnswConfig:         hnsw,
		OptimizerConfig:    opt,
		WalConfig:          wal,
		QuantizationConfig: nullIfUnset(req.QuantizationConfig),
		StrictModeConfig:   strict,
		Metadata:           req.Metadata,
	}
	return cfg, nil
}

func validateVectorParams(name string, p api.VectorParams) error {
	if p.Size < 1 || p.Size > api.MaxVectorDim {
		field := "vectors.size" // the unnamed vector
		if name != "" {
			field = "vectors." + name + ".size"
		}
		return api.ErrBodyValidation(field, "value %d invalid, must be from 1 to %d", p.Size, api.MaxVectorDim)
	}
	if !p.Distance.Valid() {
		return api.ErrBadInput("unknown distance %q for vector %q: expected Cosine, Euclid, Dot or Manhattan", p.Distance, name)
	}
	if p.Datatype != nil {
		switch dt := strings.ToLower(*p.Datatype); dt {
		case "float32":
		case "float16", "uint8":
			if dt == "uint8" && p.Distance == api.DistanceCosine {
				return api.ErrBadInput("vector %q: datatype uint8 with Cosine distance is not supported by this server: use float16, or Dot, Euclid or Manhattan", name)
			}
		case "turbo4":
			// The rotation that makes 4-bit codes work keeps dot products
			// and Euclidean distances, not Manhattan ones; the multi-vector
			// store has no query preparation for it.
			if p.Distance == api.DistanceManhattan {
				return api.ErrBadInput("vector %q: datatype turbo4 with Manhattan distance is not supported by this server: use Cosine, Dot or Euclid, or datatype float16 or uint8", name)
			}
			if p.MultivectorConfig != nil {
				return api.ErrBadInput("vector %q: datatype turbo4 is not supported for multi-vectors by this server: use float32, float16 or uint8", name)
			}
		default:
			return api.ErrBadInput("Json deserialize error: unknown variant `%s`, expected one of `float32`, `uint8`, `float16`, `turbo4` at vectors.%s.datatype", *p.Datatype, name)
		}
	}
	if err := validateVectorStorage(name, p); err != nil {
		return err
	}
	if p.HnswConfig != nil {
		if err := validateHnsw(p.HnswConfig.Apply(api.DefaultHnswConfig())); err != nil {
			return err
		}
	}
	if mv := p.MultivectorConfig; mv != nil {
		if mv.Comparator != api.ComparatorMaxSim {
			return api.ErrBadInput("vector %q: unknown multivector comparator %q: expected max_sim", name, mv.Comparator)
		}
	}
	return nil
}

// validateVectorStorage checks a dense vector's quantization_config
// (api.ParseQuantization; none for multi-vectors).
func validateVectorStorage(name string, p api.VectorParams) error {
	if _, err := api.ParseQuantization(p.QuantizationConfig); err != nil {
		return err
	}
	if p.MultivectorConfig != nil && isSet(p.QuantizationConfig) && !api.IsQuantizationDisabled(p.QuantizationConfig) {
		return api.ErrBadInput("vector %q: quantization of multi-vectors is not supported by this server", name)
	}
	return nil
}

// resolveSparse validates the sparse vectors of a create request: names
// must be non-empty and distinct from the dense vectors' names.
func resolveSparse(cfg api.SparseVectorsConfig, dense api.VectorsConfig) (api.SparseVectorsConfig, error) {
	if len(cfg) == 0 {
		return nil, nil
	}
	// Qdrant's order and texts: an empty name first, then a name that a
	// dense vector has too.
	if _, empty := cfg[""]; empty {
		return nil, api.ErrBadInput("Sparse vector name cannot be empty")
	}
	for _, name := range slices.Sorted(maps.Keys(cfg)) {
		if _, clash := dense[name]; clash {
			return nil, api.ErrBadInput("Dense and sparse vector names must be unique - duplicate found with '%s'", name)
		}
	}
	out := make(api.SparseVectorsConfig, len(cfg))
	for name, p := range cfg {
		if err := applySparseMemory(name, &p); err != nil {
			return nil, err
		}
		if err := validateSparseParams(name, p); err != nil {
			return nil, err
		}
		out[name] = p
	}
	return out, nil
}

func validateSparseParams(name string, p api.SparseVectorParams) error {
	if m := p.Modifier; m != nil && *m != api.ModifierNone && *m != api.ModifierIDF {
		return api.ErrBadInput("sparse vector %q: unknown modifier %q: expected none or idf", name, *m)
	}
	if p.Index != nil {
		if t := p.Index.FullScanThreshold; t != nil && *t < 0 {
			return api.ErrBadInput("sparse vector %q: full_scan_threshold must not be negative", name)
		}
		if dt := p.Index.Datatype; dt != nil && !strings.EqualFold(*dt, "float32") {
			return api.ErrBadInput("sparse vector %q: datatype %q is not supported by this server: only float32", name, *dt)
		}
	}
	return nil
}

func validateHnsw(h api.HnswConfig) error {
	if h.M < 1 {
		return api.ErrBadInput("hnsw_config.m must be at least 1, got %d", h.M)
	}
	if h.EfConstruct < 4 {
		return api.ErrBodyValidation("hnsw_config.ef_construct", "value %d invalid, must be 4.0 or larger", h.EfConstruct)
	}
	if h.FullScanThreshold < 0 || h.MaxIndexingThreads < 0 {
		return api.ErrBadInput("hnsw_config values must not be negative")
	}
	return nil
}

func isSet(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null")) && !bytes.Equal(t, []byte("{}"))
}

func nullIfUnset(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	return raw
}

// mergeJSON decodes a partial JSON object onto dst (fields absent keep
// their values).
func mergeJSON(raw json.RawMessage, dst any, what string) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return api.ErrBadInput("invalid %s: %v", what, err)
	}
	return nil
}

// CreateCollection validates the request, records the collection in the
// metadata, then creates its shards.
func (s *Service) CreateCollection(ctx context.Context, name string, req *api.CreateCollection) error {
	if err := auth.FromContext(ctx).CheckGlobal(auth.Manage); err != nil {
		return err
	}
	if err := ValidateCollectionName(name); err != nil {
		return err
	}
	if req == nil {
		return api.ErrBadInput("missing collection config")
	}
	def := DefaultCollectionDefaults()
	if s.opts.CollectionDefaults != nil {
		def = *s.opts.CollectionDefaults
	}
	cfg, err := resolveConfig(req, s.opts.DefaultShardNumber, def)
	if err != nil {
		return err
	}
	if s.cluster != nil {
		return s.clusterCreate(ctx, name, cfg)
	}
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	if n := s.limits.MaxCollections; n > 0 && len(s.state().Collections) >= n {
		return api.ErrBadInput("the number of collections is limited to %d", n)
	}
	// A directory left by a crash between a delete's metadata change and
	// its removal holds stale data: clear it before the metadata names it.
	if _, ok := s.state().Collections[name]; !ok {
		if err := os.RemoveAll(s.collectionDir(name)); err != nil {
			return fmt.Errorf("cannot clear collection directory: %w", err)
		}
	}
	cmd := &meta.Command{V: meta.CommandVersion, Type: meta.TypeCreateCollection, Collection: name, Config: &cfg, CreatedAt: s.opts.Now().UTC()}
	if err := s.meta.Apply(cmd); err != nil {
		return err
	}
	m := s.state().Collections[name]
	c, err := s.openCollection(name, m)
	if err != nil {
		// Undo the metadata change so that the name is free again.
		undo := &meta.Command{V: meta.CommandVersion, Type: meta.TypeDeleteCollection, Collection: name}
		if uerr := s.meta.Apply(undo); uerr != nil {
			s.log.Error("cannot undo collection creation", "collection", name, "err", uerr)
		}
		os.RemoveAll(s.collectionDir(name))
		return api.ErrInternal(err, "cannot create collection %s: %v", name, err)
	}
	s.mu.Lock()
	s.colls[name] = c
	s.mu.Unlock()
	s.log.Info("collection created", "collection", name, "shards", cfg.Params.ShardNumber)
	return nil
}

// UpdateCollection changes a collection's parameters. They are recorded
// in the metadata and reported at once; HNSW changes reach the shards when
// the collection is next opened (for vectors indexed from then on), except
// on_disk of vectors or of their graphs, for which it opens again at once.
func (s *Service) UpdateCollection(ctx context.Context, name string, req *api.UpdateCollection) error {
	if err := auth.FromContext(ctx).CheckCollection(name, auth.Manage); err != nil {
		return err
	}
	if req == nil {
		return api.ErrBadInput("missing update")
	}
	if s.cluster != nil {
		real, err := s.resolveLinearized(ctx, name)
		if err != nil {
			return err
		}
		prevRF := s.state().Collections[real].Config.Params.ReplicationFactor
		cfg, err := applyUpdate(s.state().Collections[real].Config, req)
		if err != nil {
			return err
		}
		if err := s.cluster.Apply(ctx, &meta.Command{V: meta.CommandVersion, Type: meta.TypeUpdateCollection, Collection: real, Config: &cfg}); err != nil {
			return err
		}
		if cfg.Params.ReplicationFactor != prevRF {
			return s.adjustReplication(ctx, real)
		}
		return nil
	}
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	real, err := s.resolve(name)
	if err != nil {
		return err
	}
	m := s.state().Collections[real]
	cfg, err := applyUpdate(m.Config, req)
	if err != nil {
		return err
	}
	cmd := &meta.Command{V: meta.CommandVersion, Type: meta.TypeUpdateCollection, Collection: real, Config: &cfg}
	if reopenNeeded(m.Config, cfg) {
		// The vector stores, graphs or payloads move between memory and
		// their files, or the optimizers change: the collection opens
		// again with the new configuration while requests wait (as for a
		// vector created or deleted).
		return s.reopenWith(real, func() (*meta.Collection, error) {
			if err := s.meta.Apply(cmd); err != nil {
				return m, err
			}
			return s.state().Collections[real], nil
		})
	}
	if err := s.meta.Apply(cmd); err != nil {
		return err
	}
	s.mu.RLock()
	c := s.colls[real]
	s.mu.RUnlock()
	if c != nil {
		c.SetConfig(s.state().Collections[real].Config)
	}
	return nil
}

// reopenNeeded reports whether a dense or multi-vector, or the
// HNSW graph of one (its effective hnsw_config.on_disk, the vector's own
// or the collection's), moves between the heap and an on_disk file from a
// to b, or the payloads between memory and the store (on_disk_payload),
// or the optimizers_config changes (indexing_threshold, memmap_threshold,
// deleted_threshold and the rest are read when a shard opens): its shards
// must open again (their stores and graphs are built at Open; the index
// files and the point store refill them).
func reopenNeeded(a, b api.CollectionConfig) bool {
	if a.Params.OnDiskPayload != b.Params.OnDiskPayload || !reflect.DeepEqual(a.OptimizerConfig, b.OptimizerConfig) {
		return true
	}
	on := func(p *bool) bool { return p != nil && *p }
	for name, p := range b.Params.Vectors {
		q, ok := a.Params.Vectors[name]
		if !ok {
			continue
		}
		if on(p.OnDisk) != on(q.OnDisk) || on(b.VectorHnsw(name).OnDisk) != on(a.VectorHnsw(name).OnDisk) {
			return true
		}
	}
	return false
}

// applyUpdate returns cfg with the update's changes, or a bad-input error.
func applyUpdate(cfg api.CollectionConfig, req *api.UpdateCollection) (api.CollectionConfig, error) {
	out := cfg
	if len(req.SparseVectors) > 0 {
		sparse := api.SparseVectorsConfig{}
		for k, v := range cfg.Params.SparseVectors {
			sparse[k] = v
		}
		for name, d := range req.SparseVectors {
			p, ok := sparse[name]
			if !ok {
				return cfg, api.ErrBadInput("Not existing vector name error: %s", name)
			}
			if d.Modifier != nil {
				p.Modifier = d.Modifier
			}
			if d.Index != nil {
				idx := api.SparseIndexParams{}
				if p.Index != nil {
					idx = *p.Index
				}
				if d.Index.FullScanThreshold != nil {
					idx.FullScanThreshold = d.Index.FullScanThreshold
				}
				if d.Index.OnDisk != nil {
					idx.OnDisk = d.Index.OnDisk
				}
				if d.Index.Datatype != nil {
					idx.Datatype = d.Index.Datatype
				}
				if d.Index.Memory != nil {
					idx.Memory = d.Index.Memory
				}
				p.Index = &idx
				if err := applySparseMemory(name, &p); err != nil {
					return cfg, err
				}
			}
			if err := validateSparseParams(name, p); err != nil {
				return cfg, err
			}
			sparse[name] = p
		}
		out.Params.SparseVectors = sparse
	}
	if len(req.Vectors) > 0 {
		vectors := api.VectorsConfig{}
		for k, v := range cfg.Params.Vectors {
			vectors[k] = v
		}
		for name, d := range req.Vectors {
			p, ok := vectors[name]
			if !ok {
				return cfg, api.ErrBadInput("Not existing vector name error: %s", name)
			}
			if d.HnswConfig != nil {
				merged := *d.HnswConfig
				if p.HnswConfig != nil {
					base := p.HnswConfig.Apply(cfg.HnswConfig)
					h := d.HnswConfig.Apply(base)
					merged = api.HnswConfigDiff{M: &h.M, EfConstruct: &h.EfConstruct, FullScanThreshold: &h.FullScanThreshold,
						MaxIndexingThreads: &h.MaxIndexingThreads, OnDisk: h.OnDisk, PayloadM: h.PayloadM, Memory: p.HnswConfig.Memory}
					if d.HnswConfig.Memory != nil {
						merged.Memory = d.HnswConfig.Memory
					}
				}
				if err := validateHnsw(merged.Apply(cfg.HnswConfig)); err != nil {
					return cfg, err
				}
				p.HnswConfig = &merged
			}
			if d.OnDisk != nil {
				p.OnDisk = d.OnDisk
			}
			if d.Memory != nil {
				p.Memory = d.Memory
			}
			if err := applyVectorMemory(name, &p); err != nil {
				return cfg, err
			}
			if api.IsQuantizationDisabled(d.QuantizationConfig) {
				p.QuantizationConfig = nil
			} else if isSet(d.QuantizationConfig) {
				p.QuantizationConfig = d.QuantizationConfig
			}
			if err := validateVectorStorage(name, p); err != nil {
				return cfg, err
			}
			vectors[name] = p
		}
		out.Params.Vectors = vectors
	}
	if req.Params != nil {
		if v := req.Params.ReplicationFactor; v != nil {
			if *v < 1 {
				return cfg, api.ErrBadInput("replication_factor must be at least 1")
			}
			out.Params.ReplicationFactor = *v
		}
		if v := req.Params.WriteConsistencyFactor; v != nil {
			if *v < 1 {
				return cfg, api.ErrBadInput("write_consistency_factor must be at least 1")
			}
			out.Params.WriteConsistencyFactor = *v
		}
		if v := req.Params.ReadFanOutFactor; v != nil {
			if *v < 0 {
				return cfg, api.ErrBadInput("read_fan_out_factor must not be negative")
			}
			out.Params.ReadFanOutFactor = v
		}
		if v := req.Params.ReadFanOutDelayMs; v != nil {
			if *v < 0 {
				return cfg, api.ErrBadInput("read_fan_out_delay_ms must not be negative")
			}
			out.Params.ReadFanOutDelayMs = v
		}
		if v := req.Params.OnDiskPayload; v != nil {
			out.Params.OnDiskPayload = *v
		}
		if pp := req.Params.Payload; pp != nil && pp.Memory != nil {
			v, err := memoryOnDisk("params.payload.memory", pp.Memory, payloadOnDisk)
			if err != nil {
				return cfg, err
			}
			out.Params.OnDiskPayload = *v
			out.Params.Payload = &api.PayloadStorageParams{Memory: pp.Memory}
		}
	}
	if req.HnswConfig != nil {
		out.HnswConfig = req.HnswConfig.Apply(cfg.HnswConfig)
		if err := validateHnsw(out.HnswConfig); err != nil {
			return cfg, err
		}
	}
	// Into a copy: decoding writes through the pointers, which the
	// current configuration (the metadata's state) shares.
	out.OptimizerConfig = cfg.OptimizerConfig.Clone()
	if err := mergeJSON(req.OptimizersConfig, &out.OptimizerConfig, "optimizers_config"); err != nil {
		return cfg, err
	}
	if api.IsQuantizationDisabled(req.QuantizationConfig) {
		out.QuantizationConfig = nil
	} else if len(bytes.TrimSpace(req.QuantizationConfig)) > 0 {
		if _, err := api.ParseQuantization(req.QuantizationConfig); err != nil {
			return cfg, err
		}
		out.QuantizationConfig = req.QuantizationConfig
	}
	if len(bytes.TrimSpace(req.StrictModeConfig)) > 0 {
		strict, err := resolveStrictMode(cfg.StrictModeConfig, req.StrictModeConfig)
		if err != nil {
			return cfg, err
		}
		out.StrictModeConfig = strict
	}
	if req.Metadata != nil {
		md := map[string]any{}
		for k, v := range cfg.Metadata {
			md[k] = v
		}
		for k, v := range req.Metadata {
			md[k] = v
		}
		out.Metadata = md
	}
	return out, nil
}

// DeleteCollection removes the collection from the metadata, then closes it
// and removes its directory (a crash in between leaves a directory that the
// next start removes).
func (s *Service) DeleteCollection(ctx context.Context, name string) (bool, error) {
	if err := auth.FromContext(ctx).CheckCollection(name, auth.Manage); err != nil {
		return false, err
	}
	if s.cluster != nil {
		if err := s.linearize(ctx); err != nil {
			return false, err
		}
		if _, ok := s.state().Collections[name]; !ok {
			return false, nil
		}
		err := s.cluster.Apply(ctx, &meta.Command{V: meta.CommandVersion, Type: meta.TypeDeleteCollection, Collection: name})
		if api.KindOf(err) == api.KindNotFound {
			return false, nil
		}
		return err == nil, err
	}
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	if _, ok := s.state().Collections[name]; !ok {
		return false, nil
	}
	cmd := &meta.Command{V: meta.CommandVersion, Type: meta.TypeDeleteCollection, Collection: name}
	if err := s.meta.Apply(cmd); err != nil {
		return false, err
	}
	s.mu.Lock()
	c := s.colls[name]
	delete(s.colls, name)
	s.mu.Unlock()
	s.rates.drop(name)
	var errs []error
	if c != nil {
		if err := c.Drop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(s.collectionDir(name)); err != nil {
		errs = append(errs, fmt.Errorf("cannot remove collection directory: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		// The collection is gone from the metadata; leftovers are removed
		// on the next start.
		s.log.Error("collection deleted with errors", "collection", name, "err", err)
	}
	s.log.Info("collection deleted", "collection", name)
	return true, nil
}

// UpdateAliases applies all actions atomically.
func (s *Service) UpdateAliases(ctx context.Context, actions []api.AliasOperation) error {
	if err := auth.FromContext(ctx).CheckGlobal(auth.Manage); err != nil {
		return err
	}
	if s.cluster != nil {
		return s.cluster.Apply(ctx, &meta.Command{V: meta.CommandVersion, Type: meta.TypeChangeAliases, Aliases: actions})
	}
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	return s.meta.Apply(&meta.Command{V: meta.CommandVersion, Type: meta.TypeChangeAliases, Aliases: actions})
}

// ListAliases lists the aliases of the collections the caller may read.
func (s *Service) ListAliases(ctx context.Context) ([]api.AliasDescription, error) {
	if err := s.linearize(ctx); err != nil {
		return nil, err
	}
	a := auth.FromContext(ctx)
	out := []api.AliasDescription{}
	for _, d := range s.state().AliasesOf("") {
		if a.ModeFor(d.CollectionName) >= auth.Read || a.ModeFor(d.AliasName) >= auth.Read {
			out = append(out, d)
		}
	}
	return out, nil
}

// ListCollectionAliases lists the aliases of one collection.
func (s *Service) ListCollectionAliases(ctx context.Context, collection string) ([]api.AliasDescription, error) {
	if err := auth.FromContext(ctx).CheckCollection(collection, auth.Read); err != nil {
		return nil, err
	}
	if err := s.linearize(ctx); err != nil {
		return nil, err
	}
	st := s.state()
	if _, ok := st.Collections[collection]; !ok {
		return nil, api.ErrCollectionNotFound(collection)
	}
	return st.AliasesOf(collection), nil
}

// CreateFieldIndex records a payload index in the metadata and builds it on
// every shard.
//
// The collection is looked up while holding ddlMu but the index is built
// without it: nothing may wait for ddlMu while it holds a collection, since
// a delete or restore holding ddlMu waits for the collection's users.
func (s *Service) CreateFieldIndex(ctx context.Context, collection string, req *api.CreateFieldIndex, wp api.WriteParams) (*api.UpdateResult, error) {
	ctx, cancel := withTimeout(ctx, wp.TimeoutSeconds)
	defer cancel()
	if s.cluster != nil {
		return s.clusterFieldIndex(ctx, collection, req, wp)
	}
	s.ddlMu.Lock()
	ctx, c, release, err := s.hold(ctx, collection, auth.Manage)
	if err != nil {
		s.ddlMu.Unlock()
		return nil, err
	}
	if err := checkFieldIndex(req); err != nil {
		s.ddlMu.Unlock()
		release()
		return nil, err
	}
	if err := s.checkStrict(c, wp.TimeoutSeconds, false, 0, s.indexCountCheck(req.FieldName)); err != nil {
		s.ddlMu.Unlock()
		release()
		return nil, err
	}
	prev, hadPrev := s.state().Collections[c.Name()].PayloadIndexes[req.FieldName]
	err = s.meta.Apply(&meta.Command{V: meta.CommandVersion, Type: meta.TypeCreatePayloadIndex, Collection: c.Name(),
		Field: req.FieldName, Schema: req.FieldSchema})
	s.ddlMu.Unlock()
	if err != nil {
		release()
		return nil, err
	}
	berr := c.CreatePayloadIndex(ctx, req.FieldName, *req.FieldSchema)
	release()
	if berr != nil {
		// An index the shards refuse (bad parameters) must not stay in the
		// metadata, or every later open would fail to build it.
		// A previous index of the key is restored.
		s.undoFieldIndex(c, req.FieldName, prev, hadPrev)
		return nil, fail(berr)
	}
	return s.indexResult(c.Shards(), wp), nil
}

func checkFieldIndex(req *api.CreateFieldIndex) error {
	if req == nil || req.FieldName == "" {
		return api.ErrBadInput("field_name must not be empty")
	}
	if _, err := filter.ParsePath(req.FieldName); err != nil {
		return err
	}
	if req.FieldSchema == nil {
		return api.ErrBadInput("field_schema is required: one of keyword, integer, float, geo, text, bool, datetime, uuid")
	}
	return nil
}

// undoFieldIndex reverts a payload index creation that the shards refused,
// in the metadata and on c, unless c was replaced (deleted or restored)
// meanwhile: then the metadata belongs to the replacement.
func (s *Service) undoFieldIndex(c *collection.Collection, field string, prev api.PayloadFieldSchema, hadPrev bool) {
	s.ddlMu.Lock()
	s.mu.RLock()
	current := s.colls[c.Name()] == c
	s.mu.RUnlock()
	if !current {
		s.ddlMu.Unlock()
		return
	}
	// c is current and only closed under ddlMu, which is held.
	release, err := c.Acquire()
	if err != nil {
		s.ddlMu.Unlock()
		return
	}
	defer release()
	undo := &meta.Command{V: meta.CommandVersion, Type: meta.TypeDropPayloadIndex, Collection: c.Name(), Field: field}
	if hadPrev {
		undo = &meta.Command{V: meta.CommandVersion, Type: meta.TypeCreatePayloadIndex, Collection: c.Name(), Field: field, Schema: &prev}
	}
	uerr := s.meta.Apply(undo)
	s.ddlMu.Unlock()
	if uerr != nil {
		s.log.Error("cannot undo payload index creation", "collection", c.Name(), "field", field, "err", uerr)
	}
	var rerr error
	if hadPrev {
		rerr = c.CreatePayloadIndex(context.Background(), field, prev)
	} else {
		rerr = c.DropPayloadIndex(context.Background(), field)
	}
	if rerr != nil {
		s.log.Warn("cannot restore the payload index", "collection", c.Name(), "field", field, "err", rerr)
	}
}

// DeleteFieldIndex drops a payload index from the metadata and the shards.
func (s *Service) DeleteFieldIndex(ctx context.Context, collection, field string, wp api.WriteParams) (*api.UpdateResult, error) {
	ctx, cancel := withTimeout(ctx, wp.TimeoutSeconds)
	defer cancel()
	if s.cluster != nil {
		return s.clusterDropFieldIndex(ctx, collection, field, wp)
	}
	s.ddlMu.Lock()
	ctx, c, release, err := s.hold(ctx, collection, auth.Manage)
	if err != nil {
		s.ddlMu.Unlock()
		return nil, err
	}
	defer release()
	err = s.meta.Apply(&meta.Command{V: meta.CommandVersion, Type: meta.TypeDropPayloadIndex, Collection: c.Name(), Field: field})
	s.ddlMu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := c.DropPayloadIndex(ctx, field); err != nil {
		return nil, fail(err)
	}
	return s.indexResult(c.Shards(), wp), nil
}

func (s *Service) indexResult(_ int, wp api.WriteParams) *api.UpdateResult {
	id := s.state().Applied
	st := api.UpdateAcknowledged
	if wp.Wait {
		st = api.UpdateCompleted
	}
	return &api.UpdateResult{OperationID: &id, Status: st}
}

// The memory placements of Qdrant 1.19 (api.MemoryCold, MemoryCached,
// MemoryPinned) replace the on_disk flags. Shoal keeps a placement as
// given (collection info echoes it) and translates it into the flag that
// its storage follows, by Qdrant's own defaults: cold is on disk; cached
// is in memory for vectors, graphs and payloads but on disk (page cache)
// for a sparse index; pinned is in memory, and refused for dense vectors
// and payloads, whose storage has no heap variant in Qdrant. A placement
// overrides an on_disk flag sent alongside. gRPC's placements take the
// same tables (grpcapi).
var (
	vectorOnDisk  = map[string]bool{api.MemoryCold: true, api.MemoryCached: false}
	hnswOnDisk    = map[string]bool{api.MemoryCold: true, api.MemoryCached: false, api.MemoryPinned: false}
	sparseOnDisk  = map[string]bool{api.MemoryCold: true, api.MemoryCached: true, api.MemoryPinned: false}
	payloadOnDisk = map[string]bool{api.MemoryCold: true, api.MemoryCached: false}
)

// Storage kinds of MemoryOnDisk.
const (
	StorageVectors = "vectors"
	StorageHNSW    = "hnsw"
	StorageSparse  = "sparse"
	StoragePayload = "payload"
)

// MemoryOnDisk is the one translation of a memory placement into the
// on_disk flag of a storage kind (StorageVectors, ...), for the gRPC
// adapter, which keeps only the flag; see memoryOnDisk for the errors.
func MemoryOnDisk(field, kind string, m *string) (*bool, error) {
	table := map[string]map[string]bool{StorageVectors: vectorOnDisk, StorageHNSW: hnswOnDisk, StorageSparse: sparseOnDisk, StoragePayload: payloadOnDisk}[kind]
	if table == nil {
		return nil, fmt.Errorf("service: unknown storage kind %q", kind)
	}
	return memoryOnDisk(field, m, table)
}

// memoryOnDisk returns the on_disk flag of placement m by table (nil when
// m is), or Qdrant's errors: an unknown placement is a format error, one
// the table lacks (pinned dense vectors or payloads) a 422 naming it.
func memoryOnDisk(field string, m *string, table map[string]bool) (*bool, error) {
	if m == nil {
		return nil, nil
	}
	switch *m {
	case api.MemoryCold, api.MemoryCached, api.MemoryPinned:
	default:
		return nil, api.ErrBadInput("Format error in JSON body: unknown variant `%s`, expected one of `cold`, `cached`, `pinned` at %s", *m, field)
	}
	v, ok := table[*m]
	if !ok {
		return nil, api.ErrBodyValidation(field, "the %s placement is not supported for this storage, use cold or cached", *m)
	}
	return &v, nil
}

// applyVectorMemory translates the placements of a dense vector and its
// graph into their on_disk flags (vectors.NAME.memory, ...hnsw_config.memory).
func applyVectorMemory(name string, p *api.VectorParams) error {
	field := "vectors." + name + "."
	if name == "" {
		field = "vectors."
	}
	v, err := memoryOnDisk(field+"memory", p.Memory, vectorOnDisk)
	if err != nil {
		return err
	}
	if v != nil {
		p.OnDisk = v
	}
	if h := p.HnswConfig; h != nil {
		v, err := memoryOnDisk(field+"hnsw_config.memory", h.Memory, hnswOnDisk)
		if err != nil {
			return err
		}
		if v != nil {
			hc := *h
			hc.OnDisk = v
			p.HnswConfig = &hc
		}
	}
	return nil
}

// applySparseMemory translates the placement of a sparse vector's index
// into its on_disk flag (sparse_vectors.NAME.index.memory).
func applySparseMemory(name string, p *api.SparseVectorParams) error {
	if p.Index == nil {
		return nil
	}
	v, err := memoryOnDisk("sparse_vectors."+name+".index.memory", p.Index.Memory, sparseOnDisk)
	if err != nil || v == nil {
		return err
	}
	idx := *p.Index
	idx.OnDisk = v
	p.Index = &idx
	return nil
}
