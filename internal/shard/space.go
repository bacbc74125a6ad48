package shard

import (
	"context"
	"fmt"
	"math"
	"path/filepath"

	"github.com/shoal-db/shoal/internal/api"
)

// space is one named vector of the shard: its storage by offset, which
// offsets have it, and its HNSW index with the background indexer.
type space struct {
	name   string
	dim    int
	dist   api.Distance
	distFn func(a, b []float32) float32
	hnsw   api.HnswConfig
	store  *vecStore

	// Guarded by Shard.mu.
	has   bitset // offsets holding this vector
	count int    // live points holding this vector
}

func newSpace(name string, p api.VectorParams, h api.HnswConfig) (*space, error) {
	if p.Size <= 0 || p.Size > api.MaxVectorDim {
		return nil, fmt.Errorf("vector %q has invalid size %d", name, p.Size)
	}
	if !p.Distance.Valid() {
		return nil, fmt.Errorf("vector %q has invalid distance %q", name, p.Distance)
	}
	if h.M == 0 {
		h = api.DefaultHnswConfig()
	}
	return &space{name: name, dim: p.Size, dist: p.Distance, distFn: distFunc(p.Distance), hnsw: h, store: newVecStore(p.Size)}, nil
}

// indexStats returns the vectors in the graph and those waiting for it.
func (sp *space) indexStats() (indexed uint64, pending int) { return 0, 0 }

// waitIdle waits until the indexer queue is empty.
func (sp *space) waitIdle(ctx context.Context) error { return ctx.Err() }

// reconcile brings the graph loaded from f (nil: none) in line with the
// live offsets.
func (sp *space) reconcile(f *indexFile, live bitset, next uint32) {}

// score converts a distance into Qdrant's reported score.
func (sp *space) score(d float32) float32 {
	switch sp.dist {
	case api.DistanceCosine, api.DistanceDot:
		return -d
	}
	return d
}

// distFunc is an interim scalar kernel (lower is better).
func distFunc(d api.Distance) func(a, b []float32) float32 {
	switch d {
	case api.DistanceEuclid:
		return func(a, b []float32) float32 {
			var s float32
			for i := range a {
				x := a[i] - b[i]
				s += x * x
			}
			return float32(math.Sqrt(float64(s)))
		}
	case api.DistanceManhattan:
		return func(a, b []float32) float32 {
			var s float32
			for i := range a {
				s += float32(math.Abs(float64(a[i] - b[i])))
			}
			return s
		}
	}
	return func(a, b []float32) float32 {
		var s float32
		for i := range a {
			s += a[i] * b[i]
		}
		return -s
	}
}

// vecStore is interim fixed-dimension storage by offset.
type vecStore struct {
	dim  int
	data []float32
}

func newVecStore(dim int) *vecStore { return &vecStore{dim: dim} }

func (v *vecStore) Set(off uint32, vec []float32) {
	need := (int(off) + 1) * v.dim
	if need > len(v.data) {
		n := make([]float32, max(need, 2*len(v.data)))
		copy(n, v.data)
		v.data = n
	}
	copy(v.data[int(off)*v.dim:], vec)
}

func (v *vecStore) Get(off uint32) []float32 {
	i := int(off) * v.dim
	if i+v.dim > len(v.data) {
		return nil
	}
	return v.data[i : i+v.dim : i+v.dim]
}

func (v *vecStore) Len() int { return len(v.data) / v.dim }

// indexFile is a loaded index file of one space.
type indexFile struct {
	seq uint64
	n   uint32 // offsets [0, n) are in the file's store
}

func (f *indexFile) covers(off uint32) bool { return f != nil && off < f.n }

type indexFiles map[string]*indexFile

func (fs indexFiles) minSeq() uint64 { return 0 }

func (s *Shard) loadIndexFiles(m meta) indexFiles { return indexFiles{} }

func (s *Shard) persist(ctx context.Context, dir string, force bool) error { return nil }

func (s *Shard) startBackground() {}

// enqueue queues off for insertion into the graph.
func (sp *space) enqueue(off uint32) {}

// retire queues off for removal from the graph. Caller holds Shard.mu.
func (sp *space) retire(off uint32) {}

// checkpoint takes the Pebble checkpoint and writes the index files into dir.
func (s *Shard) checkpoint(ctx context.Context, dir string) (uint64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if err := s.db.Checkpoint(filepath.Join(dir, "store")); err != nil {
		return 0, fmt.Errorf("cannot checkpoint shard store: %w", err)
	}
	return s.lastSeq, nil
}
