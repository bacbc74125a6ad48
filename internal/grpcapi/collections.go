package grpcapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/service"
)

// collectionsService implements qdrant.Collections.
type collectionsService struct {
	qdrant.UnimplementedCollectionsServer
	s   *Server
	svc service.API
}

func (c *collectionsService) Get(ctx context.Context, r *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	start := time.Now()
	info, err := c.svc.CollectionInfo(ctx, r.GetCollectionName())
	if err != nil {
		return nil, toStatus(err)
	}
	out, err := collectionInfoToProto(info)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.GetCollectionInfoResponse{Result: out, Time: since(start)}, nil
}

func (c *collectionsService) List(ctx context.Context, _ *qdrant.ListCollectionsRequest) (*qdrant.ListCollectionsResponse, error) {
	start := time.Now()
	list, err := c.svc.ListCollections(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &qdrant.ListCollectionsResponse{Collections: make([]*qdrant.CollectionDescription, len(list))}
	for i, d := range list {
		out.Collections[i] = &qdrant.CollectionDescription{Name: d.Name}
	}
	out.Time = since(start)
	return out, nil
}

// changeCollection serves Create and Update (the timeout interceptor has
// bounded ctx by r's timeout): it converts r with conv and applies the result to r's collection with call.
func changeCollection[R timedRequest, Req any](ctx context.Context, r R, conv func(R) (Req, error), call func(context.Context, string, Req) error) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	req, err := conv(r)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := call(ctx, r.GetCollectionName(), req); err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

func (c *collectionsService) Create(ctx context.Context, r *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	return changeCollection(ctx, r, createCollectionFromProto, c.svc.CreateCollection)
}

func (c *collectionsService) Update(ctx context.Context, r *qdrant.UpdateCollection) (*qdrant.CollectionOperationResponse, error) {
	return changeCollection(ctx, r, updateCollectionFromProto, c.svc.UpdateCollection)
}

func (c *collectionsService) Delete(ctx context.Context, r *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	ok, err := c.svc.DeleteCollection(ctx, r.GetCollectionName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.CollectionOperationResponse{Result: ok, Time: since(start)}, nil
}

func (c *collectionsService) CollectionExists(ctx context.Context, r *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	start := time.Now()
	ok, err := c.svc.CollectionExists(ctx, r.GetCollectionName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: ok}, Time: since(start)}, nil
}

func (c *collectionsService) UpdateAliases(ctx context.Context, r *qdrant.ChangeAliases) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	ops := make([]api.AliasOperation, len(r.GetActions()))
	for i, a := range r.GetActions() {
		switch x := a.GetAction().(type) {
		case *qdrant.AliasOperations_CreateAlias:
			ops[i].CreateAlias = &api.AliasDescription{AliasName: x.CreateAlias.GetAliasName(), CollectionName: x.CreateAlias.GetCollectionName()}
		case *qdrant.AliasOperations_DeleteAlias:
			ops[i].DeleteAlias = &struct {
				AliasName string `json:"alias_name"`
			}{x.DeleteAlias.GetAliasName()}
		case *qdrant.AliasOperations_RenameAlias:
			ops[i].RenameAlias = &struct {
				OldAliasName string `json:"old_alias_name"`
				NewAliasName string `json:"new_alias_name"`
			}{x.RenameAlias.GetOldAliasName(), x.RenameAlias.GetNewAliasName()}
		default:
			return nil, toStatus(api.ErrBadInput("alias action %d is empty: expected create_alias, rename_alias or delete_alias", i))
		}
	}
	if err := c.svc.UpdateAliases(ctx, ops); err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

func aliasesToProto(list []api.AliasDescription, start time.Time) *qdrant.ListAliasesResponse {
	out := &qdrant.ListAliasesResponse{Aliases: make([]*qdrant.AliasDescription, len(list))}
	for i, a := range list {
		out.Aliases[i] = &qdrant.AliasDescription{AliasName: a.AliasName, CollectionName: a.CollectionName}
	}
	out.Time = since(start)
	return out
}

func (c *collectionsService) ListCollectionAliases(ctx context.Context, r *qdrant.ListCollectionAliasesRequest) (*qdrant.ListAliasesResponse, error) {
	start := time.Now()
	list, err := c.svc.ListCollectionAliases(ctx, r.GetCollectionName())
	if err != nil {
		return nil, toStatus(err)
	}
	return aliasesToProto(list, start), nil
}

func (c *collectionsService) ListAliases(ctx context.Context, _ *qdrant.ListAliasesRequest) (*qdrant.ListAliasesResponse, error) {
	start := time.Now()
	list, err := c.svc.ListAliases(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return aliasesToProto(list, start), nil
}

// Cluster-level RPCs answer as a standalone Qdrant node does: cluster info
// describes the local shards, shard keys need custom sharding (which Shoal
// collections do not use), and shard placement cannot be changed
// ("Qdrant is running in standalone mode"). Texts match the REST adapter.

func (c *collectionsService) CollectionClusterInfo(ctx context.Context, r *qdrant.CollectionClusterInfoRequest) (*qdrant.CollectionClusterInfoResponse, error) {
	start := time.Now()
	info, err := c.svc.CollectionClusterInfo(ctx, r.GetCollectionName())
	if err != nil {
		return nil, toStatus(err)
	}
	out := clusterInfoToProto(info)
	out.Time = since(start)
	return out, nil
}

// clusterInfoToProto converts cluster info; replica states have the same
// names in both protocols.
func clusterInfoToProto(in *api.CollectionClusterInfo) *qdrant.CollectionClusterInfoResponse {
	state := func(s api.ReplicaState) qdrant.ReplicaState {
		return qdrant.ReplicaState(qdrant.ReplicaState_value[string(s)])
	}
	out := &qdrant.CollectionClusterInfoResponse{PeerId: in.PeerID, ShardCount: uint64(in.ShardCount)}
	for _, l := range in.LocalShards {
		out.LocalShards = append(out.LocalShards, &qdrant.LocalShardInfo{ShardId: l.ShardID, PointsCount: l.PointsCount, State: state(l.State)})
	}
	for _, r := range in.RemoteShards {
		out.RemoteShards = append(out.RemoteShards, &qdrant.RemoteShardInfo{ShardId: r.ShardID, PeerId: r.PeerID, State: state(r.State)})
	}
	for _, t := range in.ShardTransfers {
		out.ShardTransfers = append(out.ShardTransfers, &qdrant.ShardTransferInfo{ShardId: t.ShardID, From: t.From, To: t.To, Sync: t.Sync})
	}
	return out
}

// requireManage checks manage access to an existing collection, as the
// service does for the operations it owns.
// requireManage is service.CheckStandaloneChange, the check the REST
// adapter makes too.
func (c *collectionsService) requireManage(ctx context.Context, name string) error {
	return service.CheckStandaloneChange(ctx, c.svc, name)
}

func (c *collectionsService) UpdateCollectionClusterSetup(ctx context.Context, r *qdrant.UpdateCollectionClusterSetupRequest) (*qdrant.UpdateCollectionClusterSetupResponse, error) {
	start := time.Now()
	op, err := clusterOperation(r)
	if err != nil {
		if cerr := c.requireManage(ctx, r.GetCollectionName()); cerr != nil {
			return nil, toStatus(cerr)
		}
		return nil, toStatus(err)
	}
	if err := c.svc.UpdateCollectionCluster(ctx, r.GetCollectionName(), op); err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.UpdateCollectionClusterSetupResponse{Result: true, Time: since(start)}, nil
}

// transferMethod converts a transfer method.
func transferMethod(m *qdrant.ShardTransferMethod) *api.ShardTransferMethod {
	if m == nil {
		return nil
	}
	var out api.ShardTransferMethod
	switch *m {
	case qdrant.ShardTransferMethod_StreamRecords:
		out = api.TransferStreamRecords
	case qdrant.ShardTransferMethod_Snapshot:
		out = api.TransferSnapshot
	case qdrant.ShardTransferMethod_WalDelta:
		out = api.TransferWalDelta
	case qdrant.ShardTransferMethod_ReshardingStreamRecords:
		out = "resharding_stream_records"
	default:
		out = api.ShardTransferMethod(m.String())
	}
	return &out
}

// clusterOperation converts UpdateCollectionClusterSetup's operation.
func clusterOperation(r *qdrant.UpdateCollectionClusterSetupRequest) (*api.ClusterOperations, error) {
	op := &api.ClusterOperations{}
	refused := json.RawMessage("{}")
	switch x := r.GetOperation().(type) {
	case *qdrant.UpdateCollectionClusterSetupRequest_MoveShard:
		m := x.MoveShard
		op.MoveShard = &api.ShardTransfer{ShardID: m.GetShardId(), FromPeerID: m.GetFromPeerId(), ToPeerID: m.GetToPeerId(), Method: transferMethod(m.Method)}
	case *qdrant.UpdateCollectionClusterSetupRequest_ReplicateShard:
		m := x.ReplicateShard
		op.ReplicateShard = &api.ShardTransfer{ShardID: m.GetShardId(), FromPeerID: m.GetFromPeerId(), ToPeerID: m.GetToPeerId(), Method: transferMethod(m.Method)}
	case *qdrant.UpdateCollectionClusterSetupRequest_AbortTransfer:
		m := x.AbortTransfer
		op.AbortTransfer = &api.ShardTransfer{ShardID: m.GetShardId(), FromPeerID: m.GetFromPeerId(), ToPeerID: m.GetToPeerId()}
	case *qdrant.UpdateCollectionClusterSetupRequest_RestartTransfer:
		m := x.RestartTransfer
		method := m.GetMethod()
		op.RestartTransfer = &api.ShardTransfer{ShardID: m.GetShardId(), FromPeerID: m.GetFromPeerId(), ToPeerID: m.GetToPeerId(), Method: transferMethod(&method)}
	case *qdrant.UpdateCollectionClusterSetupRequest_DropReplica:
		op.DropReplica = &api.ReplicaRef{ShardID: x.DropReplica.GetShardId(), PeerID: x.DropReplica.GetPeerId()}
	case *qdrant.UpdateCollectionClusterSetupRequest_CreateShardKey:
		op.CreateShardingKey = refused
	case *qdrant.UpdateCollectionClusterSetupRequest_DeleteShardKey:
		op.DropShardingKey = refused
	case *qdrant.UpdateCollectionClusterSetupRequest_ReplicatePoints:
		op.ReplicatePoints = refused
	default:
		return nil, api.ErrBadInput("a cluster operation must name exactly one of move_shard, replicate_shard, abort_transfer, restart_transfer, drop_replica")
	}
	return op, nil
}

func (c *collectionsService) CreateShardKey(ctx context.Context, r *qdrant.CreateShardKeyRequest) (*qdrant.CreateShardKeyResponse, error) {
	if err := c.requireManage(ctx, r.GetCollectionName()); err != nil {
		return nil, toStatus(err)
	}
	return nil, toStatus(service.ErrNoShardKeys)
}

func (c *collectionsService) DeleteShardKey(ctx context.Context, r *qdrant.DeleteShardKeyRequest) (*qdrant.DeleteShardKeyResponse, error) {
	if err := c.requireManage(ctx, r.GetCollectionName()); err != nil {
		return nil, toStatus(err)
	}
	return nil, toStatus(service.ErrNoShardKeys)
}

func (c *collectionsService) ListShardKeys(ctx context.Context, r *qdrant.ListShardKeysRequest) (*qdrant.ListShardKeysResponse, error) {
	start := time.Now()
	// As REST: the collection must exist and be readable.
	if _, err := c.svc.CollectionInfo(ctx, r.GetCollectionName()); err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.ListShardKeysResponse{ShardKeys: []*qdrant.ShardKeyDescription{}, Time: since(start)}, nil
}
