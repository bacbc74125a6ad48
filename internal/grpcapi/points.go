package grpcapi

import (
	"context"

	"github.com/qdrant/go-client/qdrant"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/service"
)

// pointsService implements qdrant.Points.
type pointsService struct {
	qdrant.UnimplementedPointsServer
	s   *Server
	svc service.API
}

func (p *pointsService) Upsert(ctx context.Context, r *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, func(r *qdrant.UpsertPoints) (*api.UpsertPoints, error) {
		return upsertFromProto(r.GetPoints(), r.GetShardKeySelector(), r.GetUpdateFilter(), r.UpdateMode)
	}, p.svc.Upsert)
}

func upsertFromProto(ps []*qdrant.PointStruct, sk *qdrant.ShardKeySelector, uf *qdrant.Filter, mode *qdrant.UpdateMode) (*api.UpsertPoints, error) {
	m, err := updateModeFromProto(mode)
	if err != nil {
		return nil, err
	}
	points, err := pointsFromProto(ps)
	if err != nil {
		return nil, err
	}
	key, err := shardKeySelectorFromProto(sk)
	if err != nil {
		return nil, err
	}
	f, err := filterFromProto(uf)
	if err != nil {
		return nil, err
	}
	return &api.UpsertPoints{Points: points, ShardKey: key, UpdateFilter: f, UpdateMode: m}, nil
}

// updateModeFromProto maps the optional upsert mode; unset is upsert.
func updateModeFromProto(mode *qdrant.UpdateMode) (api.UpdateMode, error) {
	if mode == nil {
		return "", nil
	}
	switch *mode {
	case qdrant.UpdateMode_Upsert:
		return api.UpdateModeUpsert, nil
	case qdrant.UpdateMode_InsertOnly:
		return api.UpdateModeInsertOnly, nil
	case qdrant.UpdateMode_UpdateOnly:
		return api.UpdateModeUpdateOnly, nil
	}
	return "", api.ErrBadInput("unknown update_mode %d: expected Upsert, InsertOnly or UpdateOnly", int32(*mode))
}

func (p *pointsService) Delete(ctx context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, func(r *qdrant.DeletePoints) (*api.PointsSelector, error) {
		return selectorFromProto(r.GetPoints(), r.GetShardKeySelector())
	}, p.svc.DeletePoints)
}

func (p *pointsService) UpdateVectors(ctx context.Context, r *qdrant.UpdatePointVectors) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, func(r *qdrant.UpdatePointVectors) (*api.UpdateVectors, error) {
		return updateVectorsFromProto(r.GetPoints(), r.GetShardKeySelector(), r.GetUpdateFilter())
	}, p.svc.UpdateVectors)
}

func updateVectorsFromProto(ps []*qdrant.PointVectors, sk *qdrant.ShardKeySelector, uf *qdrant.Filter) (*api.UpdateVectors, error) {
	points, err := pointVectorsFromProto(ps)
	if err != nil {
		return nil, err
	}
	key, err := shardKeySelectorFromProto(sk)
	if err != nil {
		return nil, err
	}
	f, err := filterFromProto(uf)
	if err != nil {
		return nil, err
	}
	return &api.UpdateVectors{Points: points, ShardKey: key, UpdateFilter: f}, nil
}

func (p *pointsService) DeleteVectors(ctx context.Context, r *qdrant.DeletePointVectors) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, func(r *qdrant.DeletePointVectors) (*api.DeleteVectors, error) {
		return deleteVectorsFromProto(r.GetPointsSelector(), r.GetVectors(), r.GetShardKeySelector())
	}, p.svc.DeleteVectors)
}

func deleteVectorsFromProto(s *qdrant.PointsSelector, v *qdrant.VectorsSelector, sk *qdrant.ShardKeySelector) (*api.DeleteVectors, error) {
	sel, err := selectorFromProto(s, sk)
	if err != nil {
		return nil, err
	}
	return &api.DeleteVectors{Points: sel.Points, Filter: sel.Filter, Vector: nonNil(v.GetNames()), ShardKey: sel.ShardKey}, nil
}

func (p *pointsService) SetPayload(ctx context.Context, r *qdrant.SetPayloadPoints) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, setPayloadPointsFromProto, p.svc.SetPayload)
}

func (p *pointsService) OverwritePayload(ctx context.Context, r *qdrant.SetPayloadPoints) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, setPayloadPointsFromProto, p.svc.OverwritePayload)
}

// setPayloadPointsFromProto converts the request of SetPayload and
// OverwritePayload.
func setPayloadPointsFromProto(r *qdrant.SetPayloadPoints) (*api.SetPayload, error) {
	return setPayloadFromProto(r.GetPayload(), r.GetPointsSelector(), r.GetShardKeySelector(), r.Key)
}

func setPayloadFromProto(payload map[string]*qdrant.Value, s *qdrant.PointsSelector, sk *qdrant.ShardKeySelector, key *string) (*api.SetPayload, error) {
	pl, err := payloadFromProto(payload)
	if err != nil {
		return nil, err
	}
	if pl == nil {
		pl = api.Payload{}
	}
	ids, f, err := optionalSelectorFromProto(s)
	if err != nil {
		return nil, err
	}
	shardKey, err := shardKeySelectorFromProto(sk)
	if err != nil {
		return nil, err
	}
	return &api.SetPayload{Payload: pl, Points: ids, Filter: f, Key: optString(key), ShardKey: shardKey}, nil
}

func (p *pointsService) DeletePayload(ctx context.Context, r *qdrant.DeletePayloadPoints) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, func(r *qdrant.DeletePayloadPoints) (*api.DeletePayload, error) {
		return deletePayloadFromProto(r.GetKeys(), r.GetPointsSelector(), r.GetShardKeySelector())
	}, p.svc.DeletePayload)
}

func deletePayloadFromProto(keys []string, s *qdrant.PointsSelector, sk *qdrant.ShardKeySelector) (*api.DeletePayload, error) {
	ids, f, err := optionalSelectorFromProto(s)
	if err != nil {
		return nil, err
	}
	shardKey, err := shardKeySelectorFromProto(sk)
	if err != nil {
		return nil, err
	}
	return &api.DeletePayload{Keys: nonNil(keys), Points: ids, Filter: f, ShardKey: shardKey}, nil
}

func (p *pointsService) ClearPayload(ctx context.Context, r *qdrant.ClearPayloadPoints) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, func(r *qdrant.ClearPayloadPoints) (*api.PointsSelector, error) {
		return selectorFromProto(r.GetPoints(), r.GetShardKeySelector())
	}, p.svc.ClearPayload)
}

func (p *pointsService) CreateFieldIndex(ctx context.Context, r *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, createFieldIndexFromProto, p.svc.CreateFieldIndex)
}

func (p *pointsService) DeleteFieldIndex(ctx context.Context, r *qdrant.DeleteFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, func(r *qdrant.DeleteFieldIndexCollection) (string, error) {
		return r.GetFieldName(), nil
	}, p.svc.DeleteFieldIndex)
}

func (p *pointsService) CreateVectorName(ctx context.Context, r *qdrant.CreateVectorNameRequest) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, createVectorNameFromProto, func(ctx context.Context, collection string, req *api.CreateVectorName, wp api.WriteParams) (*api.UpdateResult, error) {
		return p.svc.CreateVectorName(ctx, collection, r.GetVectorName(), req, wp)
	})
}

func (p *pointsService) DeleteVectorName(ctx context.Context, r *qdrant.DeleteVectorNameRequest) (*qdrant.PointsOperationResponse, error) {
	return write(ctx, r, func(r *qdrant.DeleteVectorNameRequest) (string, error) {
		return r.GetVectorName(), nil
	}, func(ctx context.Context, collection, name string, wp api.WriteParams) (*api.UpdateResult, error) {
		return p.svc.DeleteVectorName(ctx, collection, name, wp)
	})
}

func (p *pointsService) UpdateBatch(ctx context.Context, r *qdrant.UpdateBatchPoints) (*qdrant.UpdateBatchResponse, error) {
	res, secs, err := serve(ctx, r, writeParamsOf[*qdrant.UpdateBatchPoints], func(r *qdrant.UpdateBatchPoints) ([]api.UpdateOperation, error) {
		ops := make([]api.UpdateOperation, len(r.GetOperations()))
		for i, op := range r.GetOperations() {
			var err error
			if ops[i], err = updateOperationFromProto(op); err != nil {
				return nil, err
			}
		}
		return ops, nil
	}, p.svc.BatchUpdate, infallible(updateResultsToProto))
	if err != nil {
		return nil, err
	}
	return &qdrant.UpdateBatchResponse{Result: res, Time: secs}, nil
}

// updateResultsToProto converts the results of a batch of updates.
func updateResultsToProto(res []api.UpdateResult) []*qdrant.UpdateResult {
	out := make([]*qdrant.UpdateResult, len(res))
	for i := range res {
		out[i] = updateResultToProto(&res[i])
	}
	return out
}

func updateOperationFromProto(op *qdrant.PointsUpdateOperation) (api.UpdateOperation, error) {
	var out api.UpdateOperation
	var err error
	switch x := op.GetOperation().(type) {
	case *qdrant.PointsUpdateOperation_Upsert:
		out.Upsert, err = upsertFromProto(x.Upsert.GetPoints(), x.Upsert.GetShardKeySelector(), x.Upsert.GetUpdateFilter(), x.Upsert.UpdateMode)
	case *qdrant.PointsUpdateOperation_DeleteDeprecated:
		out.Delete, err = selectorFromProto(x.DeleteDeprecated, nil)
	case *qdrant.PointsUpdateOperation_DeletePoints_:
		out.Delete, err = selectorFromProto(x.DeletePoints.GetPoints(), x.DeletePoints.GetShardKeySelector())
	case *qdrant.PointsUpdateOperation_SetPayload_:
		sp := x.SetPayload
		out.SetPayload, err = setPayloadFromProto(sp.GetPayload(), sp.GetPointsSelector(), sp.GetShardKeySelector(), sp.Key)
	case *qdrant.PointsUpdateOperation_OverwritePayload_:
		op := x.OverwritePayload
		out.OverwritePayload, err = setPayloadFromProto(op.GetPayload(), op.GetPointsSelector(), op.GetShardKeySelector(), op.Key)
	case *qdrant.PointsUpdateOperation_DeletePayload_:
		dp := x.DeletePayload
		out.DeletePayload, err = deletePayloadFromProto(dp.GetKeys(), dp.GetPointsSelector(), dp.GetShardKeySelector())
	case *qdrant.PointsUpdateOperation_ClearPayloadDeprecated:
		out.ClearPayload, err = selectorFromProto(x.ClearPayloadDeprecated, nil)
	case *qdrant.PointsUpdateOperation_ClearPayload_:
		out.ClearPayload, err = selectorFromProto(x.ClearPayload.GetPoints(), x.ClearPayload.GetShardKeySelector())
	case *qdrant.PointsUpdateOperation_UpdateVectors_:
		uv := x.UpdateVectors
		out.UpdateVectors, err = updateVectorsFromProto(uv.GetPoints(), uv.GetShardKeySelector(), uv.GetUpdateFilter())
	case *qdrant.PointsUpdateOperation_DeleteVectors_:
		dv := x.DeleteVectors
		out.DeleteVectors, err = deleteVectorsFromProto(dv.GetPointsSelector(), dv.GetVectors(), dv.GetShardKeySelector())
	default:
		err = api.ErrBadInput("update operation is empty")
	}
	return out, err
}

// Reads.

func (p *pointsService) Get(ctx context.Context, r *qdrant.GetPoints) (*qdrant.GetResponse, error) {
	pts, secs, err := read(ctx, r, getPointsFromProto, p.svc.GetPoints, recordsToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.GetResponse{Result: pts, Time: secs}, nil
}

func getPointsFromProto(r *qdrant.GetPoints) (*api.GetPoints, error) {
	ids, err := idsFromProto(r.GetIds())
	if err != nil {
		return nil, err
	}
	sk, err := shardKeySelectorFromProto(r.GetShardKeySelector())
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []api.PointID{}
	}
	return &api.GetPoints{
		IDs: ids, WithPayload: payloadSelectorFromProto(r.GetWithPayload()),
		WithVector: vectorSelectorFromProto(r.GetWithVectors()), ShardKey: sk,
	}, nil
}

func (p *pointsService) Scroll(ctx context.Context, r *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	out, secs, err := read(ctx, r, scrollFromProto, p.svc.Scroll, scrollResultToProto)
	if err != nil {
		return nil, err
	}
	out.Time = secs
	return out, nil
}

func scrollFromProto(r *qdrant.ScrollPoints) (*api.ScrollRequest, error) {
	req := &api.ScrollRequest{
		WithPayload: payloadSelectorFromProto(r.GetWithPayload()),
		WithVector:  vectorSelectorFromProto(r.GetWithVectors()),
	}
	if r.Offset != nil {
		id, err := idFromProto(r.GetOffset())
		if err != nil {
			return nil, err
		}
		req.Offset = &id
	}
	if r.Limit != nil {
		l := int(r.GetLimit())
		req.Limit = &l
	}
	var err error
	if req.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return nil, err
	}
	if req.OrderBy, err = orderByFromProto(r.GetOrderBy()); err != nil {
		return nil, err
	}
	if req.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return nil, err
	}
	return req, nil
}

// scrollResultToProto converts a page of records; the caller sets Time.
func scrollResultToProto(res *api.ScrollResult) (*qdrant.ScrollResponse, error) {
	pts, err := recordsToProto(res.Points)
	if err != nil {
		return nil, err
	}
	out := &qdrant.ScrollResponse{Result: pts}
	if res.NextPageOffset != nil {
		out.NextPageOffset = idToProto(*res.NextPageOffset)
	}
	return out, nil
}

func (p *pointsService) Count(ctx context.Context, r *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	res, secs, err := read(ctx, r, countFromProto, p.svc.Count, infallible(func(res *api.CountResult) *qdrant.CountResult {
		return &qdrant.CountResult{Count: res.Count}
	}))
	if err != nil {
		return nil, err
	}
	return &qdrant.CountResponse{Result: res, Time: secs}, nil
}

func countFromProto(r *qdrant.CountPoints) (*api.CountRequest, error) {
	req := &api.CountRequest{Exact: r.Exact}
	var err error
	if req.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return nil, err
	}
	if req.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return nil, err
	}
	return req, nil
}

func (p *pointsService) Facet(ctx context.Context, r *qdrant.FacetCounts) (*qdrant.FacetResponse, error) {
	hits, secs, err := read(ctx, r, facetFromProto, p.svc.Facet, facetHitsToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.FacetResponse{Hits: hits, Time: secs}, nil
}

func facetFromProto(r *qdrant.FacetCounts) (*api.FacetRequest, error) {
	req := &api.FacetRequest{Key: r.GetKey(), Limit: limitPtr(r.Limit), Exact: r.Exact}
	var err error
	if req.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return nil, err
	}
	if req.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return nil, err
	}
	return req, nil
}

func facetHitsToProto(res *api.FacetResponse) ([]*qdrant.FacetHit, error) {
	out := make([]*qdrant.FacetHit, len(res.Hits))
	for i, h := range res.Hits {
		v, err := facetValueToProto(h.Value)
		if err != nil {
			return nil, err
		}
		out[i] = &qdrant.FacetHit{Value: v, Count: h.Count}
	}
	return out, nil
}

// Universal query API.

func (p *pointsService) Query(ctx context.Context, r *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	pts, secs, err := read(ctx, r, queryPointsFromProto, p.svc.Query, func(res *api.QueryResponse) ([]*qdrant.ScoredPoint, error) {
		return scoredListToProto(res.Points)
	})
	if err != nil {
		return nil, err
	}
	return &qdrant.QueryResponse{Result: pts, Time: secs}, nil
}

func (p *pointsService) QueryBatch(ctx context.Context, r *qdrant.QueryBatchPoints) (*qdrant.QueryBatchResponse, error) {
	res, secs, err := read(ctx, r, func(r *qdrant.QueryBatchPoints) ([]api.QueryRequest, error) {
		return requestsFromProto(r.GetQueryPoints(), queryPointsFromProto)
	}, p.svc.QueryBatch, func(res []api.QueryResponse) ([]*qdrant.BatchResult, error) {
		out := make([]*qdrant.BatchResult, len(res))
		for i := range res {
			pts, err := scoredListToProto(res[i].Points)
			if err != nil {
				return nil, err
			}
			out[i] = &qdrant.BatchResult{Result: pts}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return &qdrant.QueryBatchResponse{Result: res, Time: secs}, nil
}

func (p *pointsService) QueryGroups(ctx context.Context, r *qdrant.QueryPointGroups) (*qdrant.QueryGroupsResponse, error) {
	g, secs, err := read(ctx, r, queryGroupsFromProto, p.svc.QueryGroups, groupsToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.QueryGroupsResponse{Result: g, Time: secs}, nil
}

// Legacy search families.

func (p *pointsService) Search(ctx context.Context, r *qdrant.SearchPoints) (*qdrant.SearchResponse, error) {
	pts, secs, err := read(ctx, r, searchFromProto, p.svc.Search, scoredListToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.SearchResponse{Result: pts, Time: secs}, nil
}

func (p *pointsService) SearchBatch(ctx context.Context, r *qdrant.SearchBatchPoints) (*qdrant.SearchBatchResponse, error) {
	res, secs, err := read(ctx, r, func(r *qdrant.SearchBatchPoints) ([]api.SearchRequest, error) {
		return requestsFromProto(r.GetSearchPoints(), searchFromProto)
	}, p.svc.SearchBatch, batchToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.SearchBatchResponse{Result: res, Time: secs}, nil
}

func (p *pointsService) SearchGroups(ctx context.Context, r *qdrant.SearchPointGroups) (*qdrant.SearchGroupsResponse, error) {
	g, secs, err := read(ctx, r, searchGroupsFromProto, p.svc.SearchGroups, groupsToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.SearchGroupsResponse{Result: g, Time: secs}, nil
}

func (p *pointsService) Recommend(ctx context.Context, r *qdrant.RecommendPoints) (*qdrant.RecommendResponse, error) {
	pts, secs, err := read(ctx, r, recommendFromProto, p.svc.Recommend, scoredListToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.RecommendResponse{Result: pts, Time: secs}, nil
}

func (p *pointsService) RecommendBatch(ctx context.Context, r *qdrant.RecommendBatchPoints) (*qdrant.RecommendBatchResponse, error) {
	res, secs, err := read(ctx, r, func(r *qdrant.RecommendBatchPoints) ([]api.RecommendRequest, error) {
		return requestsFromProto(r.GetRecommendPoints(), recommendFromProto)
	}, p.svc.RecommendBatch, batchToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.RecommendBatchResponse{Result: res, Time: secs}, nil
}

func (p *pointsService) RecommendGroups(ctx context.Context, r *qdrant.RecommendPointGroups) (*qdrant.RecommendGroupsResponse, error) {
	g, secs, err := read(ctx, r, recommendGroupsFromProto, p.svc.RecommendGroups, groupsToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.RecommendGroupsResponse{Result: g, Time: secs}, nil
}

func (p *pointsService) Discover(ctx context.Context, r *qdrant.DiscoverPoints) (*qdrant.DiscoverResponse, error) {
	pts, secs, err := read(ctx, r, discoverFromProto, p.svc.Discover, scoredListToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.DiscoverResponse{Result: pts, Time: secs}, nil
}

func (p *pointsService) DiscoverBatch(ctx context.Context, r *qdrant.DiscoverBatchPoints) (*qdrant.DiscoverBatchResponse, error) {
	res, secs, err := read(ctx, r, func(r *qdrant.DiscoverBatchPoints) ([]api.DiscoverRequest, error) {
		return requestsFromProto(r.GetDiscoverPoints(), discoverFromProto)
	}, p.svc.DiscoverBatch, batchToProto)
	if err != nil {
		return nil, err
	}
	return &qdrant.DiscoverBatchResponse{Result: res, Time: secs}, nil
}

// Distance matrix.

func matrixFromProto(r *qdrant.SearchMatrixPoints) (*api.SearchMatrixRequest, error) {
	req := &api.SearchMatrixRequest{Sample: limitPtr(r.Sample), Limit: limitPtr(r.Limit), Using: optString(r.Using)}
	var err error
	if req.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return nil, err
	}
	if req.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return nil, err
	}
	return req, nil
}

func (p *pointsService) SearchMatrixPairs(ctx context.Context, r *qdrant.SearchMatrixPoints) (*qdrant.SearchMatrixPairsResponse, error) {
	out, secs, err := read(ctx, r, matrixFromProto, p.svc.SearchMatrixPairs, infallible(func(res *api.SearchMatrixPairs) *qdrant.SearchMatrixPairs {
		out := &qdrant.SearchMatrixPairs{Pairs: make([]*qdrant.SearchMatrixPair, len(res.Pairs))}
		for i, pr := range res.Pairs {
			out.Pairs[i] = &qdrant.SearchMatrixPair{A: idToProto(pr.A), B: idToProto(pr.B), Score: pr.Score}
		}
		return out
	}))
	if err != nil {
		return nil, err
	}
	return &qdrant.SearchMatrixPairsResponse{Result: out, Time: secs}, nil
}

func (p *pointsService) SearchMatrixOffsets(ctx context.Context, r *qdrant.SearchMatrixPoints) (*qdrant.SearchMatrixOffsetsResponse, error) {
	out, secs, err := read(ctx, r, matrixFromProto, p.svc.SearchMatrixOffsets, infallible(func(res *api.SearchMatrixOffsets) *qdrant.SearchMatrixOffsets {
		return &qdrant.SearchMatrixOffsets{
			OffsetsRow: res.OffsetsRow, OffsetsCol: res.OffsetsCol, Scores: res.Scores, Ids: idsToProto(res.IDs),
		}
	}))
	if err != nil {
		return nil, err
	}
	return &qdrant.SearchMatrixOffsetsResponse{Result: out, Time: secs}, nil
}
