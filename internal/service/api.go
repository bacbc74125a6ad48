// Package service is Shoal's one service layer: every operation of the
// Qdrant API, in terms of package api's types, with validation, access
// checks (auth.FromContext) and limits. The REST and gRPC adapters only
// decode, call an API method, and encode; they hold no business logic.
package service

import (
	"context"

	"github.com/shoal-db/shoal/internal/api"
)

// API is the operation set the adapters call. Every method checks the
// caller's access from the context and returns *api.Error values (or errors
// wrapping them) whose Kind the adapters map to status codes. Collection
// names may be aliases everywhere a collection is read or written.
type API interface {
	// Collections.
	ListCollections(ctx context.Context) ([]api.CollectionDescription, error)
	CollectionInfo(ctx context.Context, name string) (*api.CollectionInfo, error)
	CollectionExists(ctx context.Context, name string) (bool, error)
	CreateCollection(ctx context.Context, name string, req *api.CreateCollection) error
	UpdateCollection(ctx context.Context, name string, req *api.UpdateCollection) error
	// DeleteCollection returns false when there was no such collection.
	DeleteCollection(ctx context.Context, name string) (bool, error)
	// ClusterStatus reports GET /cluster: {"status":"disabled"} on a
	// standalone node, *api.ClusterStatus on a cluster member.
	ClusterStatus(ctx context.Context) (any, error)
	// RemovePeer removes a peer from the cluster (Qdrant's DELETE
	// /cluster/peer/{id}); RecoverPeer brings this node's metadata up to
	// date with the leader (POST /cluster/recover). Both answer
	// api.ErrStandalone on a standalone node.
	RemovePeer(ctx context.Context, id uint64, force bool) error
	RecoverPeer(ctx context.Context) error
	// Optimizations reports the collection's background index work in the
	// shape of Qdrant's GET /collections/{name}/optimizations.
	Optimizations(ctx context.Context, name string, req api.OptimizationsRequest) (*api.OptimizationsResponse, error)
	// CollectionClusterInfo reports where the collection's shards live
	// (on a standalone node: all local, with their point counts).
	CollectionClusterInfo(ctx context.Context, name string) (*api.CollectionClusterInfo, error)
	// ReplicaDigests reports this node's replicas of a collection with
	// their positions and content digests (Shoal's extension, for
	// convergence checks).
	ReplicaDigests(ctx context.Context, name string) ([]ReplicaDigest, error)
	// UpdateCollectionCluster runs one cluster operation on the
	// collection's replicas (move, replicate, abort or restart a transfer,
	// drop a replica).
	UpdateCollectionCluster(ctx context.Context, name string, op *api.ClusterOperations) error

	// Aliases; UpdateAliases applies all actions atomically.
	UpdateAliases(ctx context.Context, actions []api.AliasOperation) error
	ListAliases(ctx context.Context) ([]api.AliasDescription, error)
	ListCollectionAliases(ctx context.Context, collection string) ([]api.AliasDescription, error)

	// Payload indexes.
	CreateFieldIndex(ctx context.Context, collection string, req *api.CreateFieldIndex, wp api.WriteParams) (*api.UpdateResult, error)
	DeleteFieldIndex(ctx context.Context, collection, field string, wp api.WriteParams) (*api.UpdateResult, error)

	// Named vectors of an existing collection (REST's PUT and DELETE
	// /collections/{c}/vectors/{name}, gRPC's CreateVectorName and
	// DeleteVectorName).
	CreateVectorName(ctx context.Context, collection, name string, req *api.CreateVectorName, wp api.WriteParams) (*api.UpdateResult, error)
	DeleteVectorName(ctx context.Context, collection, name string, wp api.WriteParams) (*api.UpdateResult, error)

	// Point writes. With wp.Wait the result is "completed" once applied
	// (durable and searchable); without it, "acknowledged" once durable.
	Upsert(ctx context.Context, collection string, req *api.UpsertPoints, wp api.WriteParams) (*api.UpdateResult, error)
	DeletePoints(ctx context.Context, collection string, sel *api.PointsSelector, wp api.WriteParams) (*api.UpdateResult, error)
	UpdateVectors(ctx context.Context, collection string, req *api.UpdateVectors, wp api.WriteParams) (*api.UpdateResult, error)
	DeleteVectors(ctx context.Context, collection string, req *api.DeleteVectors, wp api.WriteParams) (*api.UpdateResult, error)
	SetPayload(ctx context.Context, collection string, req *api.SetPayload, wp api.WriteParams) (*api.UpdateResult, error)
	OverwritePayload(ctx context.Context, collection string, req *api.SetPayload, wp api.WriteParams) (*api.UpdateResult, error)
	DeletePayload(ctx context.Context, collection string, req *api.DeletePayload, wp api.WriteParams) (*api.UpdateResult, error)
	ClearPayload(ctx context.Context, collection string, sel *api.PointsSelector, wp api.WriteParams) (*api.UpdateResult, error)
	BatchUpdate(ctx context.Context, collection string, ops []api.UpdateOperation, wp api.WriteParams) ([]api.UpdateResult, error)

	// Point reads.
	GetPoint(ctx context.Context, collection string, id api.PointID, rp api.ReadParams) (*api.Record, error)
	GetPoints(ctx context.Context, collection string, req *api.GetPoints, rp api.ReadParams) ([]api.Record, error)
	Scroll(ctx context.Context, collection string, req *api.ScrollRequest, rp api.ReadParams) (*api.ScrollResult, error)
	Count(ctx context.Context, collection string, req *api.CountRequest, rp api.ReadParams) (*api.CountResult, error)
	Facet(ctx context.Context, collection string, req *api.FacetRequest, rp api.ReadParams) (*api.FacetResponse, error)

	// Universal query API.
	Query(ctx context.Context, collection string, req *api.QueryRequest, rp api.ReadParams) (*api.QueryResponse, error)
	QueryBatch(ctx context.Context, collection string, reqs []api.QueryRequest, rp api.ReadParams) ([]api.QueryResponse, error)
	QueryGroups(ctx context.Context, collection string, req *api.QueryGroupsRequest, rp api.ReadParams) (*api.GroupsResult, error)

	// Legacy search families (deprecated in Qdrant, still served).
	Search(ctx context.Context, collection string, req *api.SearchRequest, rp api.ReadParams) ([]api.ScoredPoint, error)
	SearchBatch(ctx context.Context, collection string, reqs []api.SearchRequest, rp api.ReadParams) ([][]api.ScoredPoint, error)
	SearchGroups(ctx context.Context, collection string, req *api.SearchGroupsRequest, rp api.ReadParams) (*api.GroupsResult, error)
	Recommend(ctx context.Context, collection string, req *api.RecommendRequest, rp api.ReadParams) ([]api.ScoredPoint, error)
	RecommendBatch(ctx context.Context, collection string, reqs []api.RecommendRequest, rp api.ReadParams) ([][]api.ScoredPoint, error)
	RecommendGroups(ctx context.Context, collection string, req *api.RecommendGroupsRequest, rp api.ReadParams) (*api.GroupsResult, error)
	Discover(ctx context.Context, collection string, req *api.DiscoverRequest, rp api.ReadParams) ([]api.ScoredPoint, error)
	DiscoverBatch(ctx context.Context, collection string, reqs []api.DiscoverRequest, rp api.ReadParams) ([][]api.ScoredPoint, error)

	// Distance matrix.
	SearchMatrixPairs(ctx context.Context, collection string, req *api.SearchMatrixRequest, rp api.ReadParams) (*api.SearchMatrixPairs, error)
	SearchMatrixOffsets(ctx context.Context, collection string, req *api.SearchMatrixRequest, rp api.ReadParams) (*api.SearchMatrixOffsets, error)

	// Telemetry returns the statistics that /telemetry and /metrics report.
	Telemetry(ctx context.Context) (*Telemetry, error)
	// ClusterHealth reports GET /cluster/health: green, yellow or red per
	// collection and for the cluster, with reasons (health.go).
	ClusterHealth(ctx context.Context) (*api.ClusterHealth, error)
}

// Telemetry summarises the node's collections for /telemetry and /metrics.
type Telemetry struct {
	Collections []CollectionTelemetry
}

// CollectionTelemetry summarises one collection.
type CollectionTelemetry struct {
	Name                string
	Status              api.CollectionStatus
	Points              uint64
	IndexedVectors      uint64
	Shards              int
	Vectors             map[string]int // name -> dimension
	PendingOptimization int            // points not yet in the vector index
	// VectorCounts counts the points holding each vector name.
	VectorCounts map[string]uint64
	// RunningOptimizations counts the background indexers with work (one
	// per shard and vector name).
	RunningOptimizations int
	// LocalShards are the statistics of the shards this node holds, by
	// shard id.
	LocalShards map[int]ShardTelemetry
}

// ShardTelemetry is one local shard's statistics.
type ShardTelemetry struct {
	Points        uint64
	Vectors       map[string]uint64 // points holding each dense vector name
	Multi         map[string]uint64 // points holding each multi-vector name
	Indexed       map[string]uint64 // vectors in each dense vector name's graph
	PayloadSchema map[string]api.PayloadIndexInfo
}
