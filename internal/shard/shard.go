// Package shard is one shard replica on one node: a durable point store
// (Pebble) with a per-shard operation log and sequence numbers, in-memory
// vector storage with HNSW indexes, payloads and payload indexes, and the
// filtered-search planner. Everything a collection does to its data goes
// through a Shard; replication, transfer and snapshots build on its
// operation log and checkpoints.
//
// CONTRACT NOTE (session 1): the exported API below was fixed before the
// implementation so that package collection could be written in parallel.
// Change it only together with its callers.
package shard

import (
	"context"
	"errors"
	"log/slog"

	"github.com/shoal-db/shoal/internal/api"
)

var errNotImplemented = errors.New("shard: not implemented yet")

// Options configure a shard. The collection resolves every default before
// calling Open.
type Options struct {
	// Dir is the shard's directory; it is created if missing.
	Dir string
	// ID is the shard number within its collection.
	ID int
	// Vectors are the collection's vector parameters by name (the unnamed
	// vector under api.DefaultVectorName).
	Vectors api.VectorsConfig
	// Hnsw is the resolved HNSW configuration per vector name.
	Hnsw map[string]api.HnswConfig
	// Optimizers drive background vacuum and index repair.
	Optimizers api.OptimizersConfig
	// PayloadIndexes are the payload indexes to maintain, by key path.
	PayloadIndexes map[string]api.PayloadFieldSchema
	// IndexingThreads is the number of background HNSW insert workers (0: GOMAXPROCS).
	IndexingThreads int
	Logger          *slog.Logger
}

// Shard is one open shard replica. It is safe for concurrent use.
type Shard struct {
	opts Options
}

// Open opens or creates the shard in opts.Dir, recovering from any crash:
// the Pebble WAL is replayed, persisted index files newer than the store are
// discarded, and operations after the last index checkpoint are re-applied.
func Open(opts Options) (*Shard, error) {
	return nil, errNotImplemented
}

// Close stops background work, persists index checkpoints and closes the store.
func (s *Shard) Close() error { return errNotImplemented }

// Apply applies one operation atomically and durably and returns its
// sequence number. Exactly one field of op is set. Vectors in upserts and
// vector updates have been validated (names, dimensions, finite values) and
// Cosine vectors normalised by the caller; payload paths and filters are
// validated here. Nothing of a failed operation is applied.
func (s *Shard) Apply(ctx context.Context, op *api.UpdateOperation) (uint64, error) {
	return 0, errNotImplemented
}

// LastSeq returns the sequence number of the last applied operation.
func (s *Shard) LastSeq() uint64 { return 0 }

// ReadOps calls fn for each logged operation with sequence >= from, in
// order. It returns ErrTruncated if the log no longer reaches back to from.
func (s *Shard) ReadOps(ctx context.Context, from uint64, fn func(seq uint64, op *api.UpdateOperation) error) error {
	return errNotImplemented
}

// ErrTruncated reports that the op log no longer holds the requested start.
var ErrTruncated = errors.New("shard: operation log truncated")

// Get returns the points with the given ids that exist, in the order given.
func (s *Shard) Get(ctx context.Context, ids []api.PointID, withPayload *api.PayloadSelector, withVector *api.VectorSelector) ([]api.Record, error) {
	return nil, errNotImplemented
}

// ScrollRequest pages through points in id order from Offset, or in payload
// order when OrderBy is set.
type ScrollRequest struct {
	Offset      *api.PointID
	Limit       int
	Filter      *api.Filter
	WithPayload *api.PayloadSelector
	WithVector  *api.VectorSelector
	OrderBy     *api.OrderBy
}

// Scroll returns up to req.Limit records (with OrderValue set when ordered
// by a field). The caller asks for limit+1 to learn the next page offset.
func (s *Shard) Scroll(ctx context.Context, req ScrollRequest) ([]api.Record, error) {
	return nil, errNotImplemented
}

// Count counts points matching filter (all points when nil). Without exact
// it may return an estimate from the payload indexes.
func (s *Shard) Count(ctx context.Context, filter *api.Filter, exact bool) (uint64, error) {
	return 0, errNotImplemented
}

// Scorer scores a stored vector for custom queries (recommend best_score and
// sum_scores, discover, context). Higher is better. The HNSW graph is
// traversed by this score, as Qdrant does.
type Scorer func(vec []float32) float32

// SearchRequest is one vector search on one shard.
type SearchRequest struct {
	// Using names the vector searched.
	Using string
	// Vector is the query for nearest search (already normalised for
	// Cosine). Ignored when Scorer is set.
	Vector []float32
	// Scorer, when set, replaces distance to Vector.
	Scorer Scorer
	Filter *api.Filter
	// Limit is the number of hits wanted (the caller's offset+limit).
	Limit          int
	Params         api.SearchParams
	ScoreThreshold *float32
	WithPayload    *api.PayloadSelector
	WithVector     *api.VectorSelector
}

// Search returns the best hits by Qdrant score (Cosine/Dot: higher is
// better; Euclid/Manhattan: distance, lower is better, reported as Qdrant
// does), at most Limit, best first.
func (s *Shard) Search(ctx context.Context, req SearchRequest) ([]api.ScoredPoint, error) {
	return nil, errNotImplemented
}

// Facet counts the values at key among points matching filter, most
// frequent first, at most limit (ties by value).
func (s *Shard) Facet(ctx context.Context, key string, filter *api.Filter, limit int, exact bool) ([]api.FacetHit, error) {
	return nil, errNotImplemented
}

// Sample returns up to n ids chosen uniformly at random among points
// matching filter.
func (s *Shard) Sample(ctx context.Context, n int, filter *api.Filter) ([]api.PointID, error) {
	return nil, errNotImplemented
}

// CreatePayloadIndex builds (or rebuilds) the payload index for key.
func (s *Shard) CreatePayloadIndex(ctx context.Context, key string, schema api.PayloadFieldSchema) error {
	return errNotImplemented
}

// DropPayloadIndex drops the payload index for key.
func (s *Shard) DropPayloadIndex(ctx context.Context, key string) error { return errNotImplemented }

// Stats is a shard's state for collection info and metrics.
type Stats struct {
	Points         uint64
	IndexedVectors uint64 // vectors in HNSW graphs (all names)
	PendingIndex   int    // vectors waiting for the background indexer
	Status         api.CollectionStatus
	PayloadSchema  map[string]api.PayloadIndexInfo
	LastSeq        uint64
}

// Stats returns the shard's current statistics.
func (s *Shard) Stats() Stats { return Stats{} }

// WaitIndexed blocks until every vector applied so far is in its HNSW index
// (status green) or ctx ends.
func (s *Shard) WaitIndexed(ctx context.Context) error { return errNotImplemented }

// Checkpoint writes a consistent copy of the shard into dir (which must not
// exist) holding exactly the operations up to the returned sequence, while
// writes continue. Open(dir) opens the copy.
func (s *Shard) Checkpoint(ctx context.Context, dir string) (uint64, error) {
	return 0, errNotImplemented
}
