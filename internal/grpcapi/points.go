package grpcapi

import (
	"context"
	"time"

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

// writeResponse finishes every single-operation write RPC.
func writeResponse(res *api.UpdateResult, err error, start time.Time) (*qdrant.PointsOperationResponse, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.PointsOperationResponse{Result: updateResultToProto(res), Time: since(start)}, nil
}

func (p *pointsService) Upsert(ctx context.Context, r *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := upsertFromProto(r.GetPoints(), r.GetShardKeySelector(), r.GetUpdateFilter(), r.UpdateMode)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.Upsert(ctx, r.GetCollectionName(), req, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
}

func upsertFromProto(ps []*qdrant.PointStruct, sk *qdrant.ShardKeySelector, uf *qdrant.Filter, mode *qdrant.UpdateMode) (*api.UpsertPoints, error) {
	if mode != nil && *mode != qdrant.UpdateMode_Upsert {
		return nil, api.ErrBadInput("update_mode %s is not supported by this server; use Upsert", mode.String())
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
	return &api.UpsertPoints{Points: points, ShardKey: key, UpdateFilter: f}, nil
}

func (p *pointsService) Delete(ctx context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	sel, err := selectorFromProto(r.GetPoints(), r.GetShardKeySelector())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.DeletePoints(ctx, r.GetCollectionName(), sel, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
}

func (p *pointsService) UpdateVectors(ctx context.Context, r *qdrant.UpdatePointVectors) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := updateVectorsFromProto(r.GetPoints(), r.GetShardKeySelector(), r.GetUpdateFilter())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.UpdateVectors(ctx, r.GetCollectionName(), req, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
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
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := deleteVectorsFromProto(r.GetPointsSelector(), r.GetVectors(), r.GetShardKeySelector())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.DeleteVectors(ctx, r.GetCollectionName(), req, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
}

func deleteVectorsFromProto(s *qdrant.PointsSelector, v *qdrant.VectorsSelector, sk *qdrant.ShardKeySelector) (*api.DeleteVectors, error) {
	sel, err := selectorFromProto(s, sk)
	if err != nil {
		return nil, err
	}
	return &api.DeleteVectors{Points: sel.Points, Filter: sel.Filter, Vector: nonNil(v.GetNames()), ShardKey: sel.ShardKey}, nil
}

func (p *pointsService) SetPayload(ctx context.Context, r *qdrant.SetPayloadPoints) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := setPayloadFromProto(r.GetPayload(), r.GetPointsSelector(), r.GetShardKeySelector(), r.Key)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.SetPayload(ctx, r.GetCollectionName(), req, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
}

func (p *pointsService) OverwritePayload(ctx context.Context, r *qdrant.SetPayloadPoints) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := setPayloadFromProto(r.GetPayload(), r.GetPointsSelector(), r.GetShardKeySelector(), r.Key)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.OverwritePayload(ctx, r.GetCollectionName(), req, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
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
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := deletePayloadFromProto(r.GetKeys(), r.GetPointsSelector(), r.GetShardKeySelector())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.DeletePayload(ctx, r.GetCollectionName(), req, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
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
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	sel, err := selectorFromProto(r.GetPoints(), r.GetShardKeySelector())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.ClearPayload(ctx, r.GetCollectionName(), sel, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
}

func (p *pointsService) CreateFieldIndex(ctx context.Context, r *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := createFieldIndexFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.CreateFieldIndex(ctx, r.GetCollectionName(), req, writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
}

func (p *pointsService) DeleteFieldIndex(ctx context.Context, r *qdrant.DeleteFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	res, err := p.svc.DeleteFieldIndex(ctx, r.GetCollectionName(), r.GetFieldName(), writeParams(r.Wait, r.Ordering, r.Timeout))
	return writeResponse(res, err, start)
}

func (p *pointsService) UpdateBatch(ctx context.Context, r *qdrant.UpdateBatchPoints) (*qdrant.UpdateBatchResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	ops := make([]api.UpdateOperation, len(r.GetOperations()))
	for i, op := range r.GetOperations() {
		var err error
		if ops[i], err = updateOperationFromProto(op); err != nil {
			return nil, toStatus(err)
		}
	}
	res, err := p.svc.BatchUpdate(ctx, r.GetCollectionName(), ops, writeParams(r.Wait, r.Ordering, r.Timeout))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &qdrant.UpdateBatchResponse{Result: make([]*qdrant.UpdateResult, len(res))}
	for i := range res {
		out.Result[i] = updateResultToProto(&res[i])
	}
	out.Time = since(start)
	return out, nil
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
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	ids, err := idsFromProto(r.GetIds())
	if err != nil {
		return nil, toStatus(err)
	}
	sk, err := shardKeySelectorFromProto(r.GetShardKeySelector())
	if err != nil {
		return nil, toStatus(err)
	}
	if ids == nil {
		ids = []api.PointID{}
	}
	req := &api.GetPoints{
		IDs: ids, WithPayload: payloadSelectorFromProto(r.GetWithPayload()),
		WithVector: vectorSelectorFromProto(r.GetWithVectors()), ShardKey: sk,
	}
	recs, err := p.svc.GetPoints(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	pts, err := recordsToProto(recs)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.GetResponse{Result: pts, Time: since(start)}, nil
}

func (p *pointsService) Scroll(ctx context.Context, r *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req := &api.ScrollRequest{
		WithPayload: payloadSelectorFromProto(r.GetWithPayload()),
		WithVector:  vectorSelectorFromProto(r.GetWithVectors()),
	}
	if r.Offset != nil {
		id, err := idFromProto(r.GetOffset())
		if err != nil {
			return nil, toStatus(err)
		}
		req.Offset = &id
	}
	if r.Limit != nil {
		l := int(r.GetLimit())
		req.Limit = &l
	}
	if req.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return nil, toStatus(err)
	}
	if req.OrderBy, err = orderByFromProto(r.GetOrderBy()); err != nil {
		return nil, toStatus(err)
	}
	if req.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.Scroll(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	pts, err := recordsToProto(res.Points)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &qdrant.ScrollResponse{Result: pts, Time: since(start)}
	if res.NextPageOffset != nil {
		out.NextPageOffset = idToProto(*res.NextPageOffset)
	}
	return out, nil
}

func (p *pointsService) Count(ctx context.Context, r *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req := &api.CountRequest{Exact: r.Exact}
	if req.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return nil, toStatus(err)
	}
	if req.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.Count(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: res.Count}, Time: since(start)}, nil
}

func (p *pointsService) Facet(ctx context.Context, r *qdrant.FacetCounts) (*qdrant.FacetResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req := &api.FacetRequest{Key: r.GetKey(), Limit: limitPtr(r.Limit), Exact: r.Exact}
	if req.Filter, err = filterFromProto(r.GetFilter()); err != nil {
		return nil, toStatus(err)
	}
	if req.ShardKey, err = shardKeySelectorFromProto(r.GetShardKeySelector()); err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.Facet(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &qdrant.FacetResponse{Hits: make([]*qdrant.FacetHit, len(res.Hits))}
	for i, h := range res.Hits {
		v, err := facetValueToProto(h.Value)
		if err != nil {
			return nil, toStatus(err)
		}
		out.Hits[i] = &qdrant.FacetHit{Value: v, Count: h.Count}
	}
	out.Time = since(start)
	return out, nil
}

// Universal query API.

func (p *pointsService) Query(ctx context.Context, r *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := queryPointsFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.Query(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	pts, err := scoredListToProto(res.Points)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.QueryResponse{Result: pts, Time: since(start)}, nil
}

func (p *pointsService) QueryBatch(ctx context.Context, r *qdrant.QueryBatchPoints) (*qdrant.QueryBatchResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	reqs := make([]api.QueryRequest, len(r.GetQueryPoints()))
	for i, q := range r.GetQueryPoints() {
		req, err := queryPointsFromProto(q)
		if err != nil {
			return nil, toStatus(err)
		}
		reqs[i] = *req
	}
	res, err := p.svc.QueryBatch(ctx, r.GetCollectionName(), reqs, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &qdrant.QueryBatchResponse{Result: make([]*qdrant.BatchResult, len(res))}
	for i := range res {
		pts, err := scoredListToProto(res[i].Points)
		if err != nil {
			return nil, toStatus(err)
		}
		out.Result[i] = &qdrant.BatchResult{Result: pts}
	}
	out.Time = since(start)
	return out, nil
}

func (p *pointsService) QueryGroups(ctx context.Context, r *qdrant.QueryPointGroups) (*qdrant.QueryGroupsResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := queryGroupsFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.QueryGroups(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	g, err := groupsToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.QueryGroupsResponse{Result: g, Time: since(start)}, nil
}

// Legacy search families.

func (p *pointsService) Search(ctx context.Context, r *qdrant.SearchPoints) (*qdrant.SearchResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := searchFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.Search(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	pts, err := scoredListToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.SearchResponse{Result: pts, Time: since(start)}, nil
}

func (p *pointsService) SearchBatch(ctx context.Context, r *qdrant.SearchBatchPoints) (*qdrant.SearchBatchResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	reqs := make([]api.SearchRequest, len(r.GetSearchPoints()))
	for i, s := range r.GetSearchPoints() {
		req, err := searchFromProto(s)
		if err != nil {
			return nil, toStatus(err)
		}
		reqs[i] = *req
	}
	res, err := p.svc.SearchBatch(ctx, r.GetCollectionName(), reqs, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	out, err := batchToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.SearchBatchResponse{Result: out, Time: since(start)}, nil
}

func (p *pointsService) SearchGroups(ctx context.Context, r *qdrant.SearchPointGroups) (*qdrant.SearchGroupsResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := searchGroupsFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.SearchGroups(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	g, err := groupsToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.SearchGroupsResponse{Result: g, Time: since(start)}, nil
}

func (p *pointsService) Recommend(ctx context.Context, r *qdrant.RecommendPoints) (*qdrant.RecommendResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := recommendFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.Recommend(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	pts, err := scoredListToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.RecommendResponse{Result: pts, Time: since(start)}, nil
}

func (p *pointsService) RecommendBatch(ctx context.Context, r *qdrant.RecommendBatchPoints) (*qdrant.RecommendBatchResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	reqs := make([]api.RecommendRequest, len(r.GetRecommendPoints()))
	for i, s := range r.GetRecommendPoints() {
		req, err := recommendFromProto(s)
		if err != nil {
			return nil, toStatus(err)
		}
		reqs[i] = *req
	}
	res, err := p.svc.RecommendBatch(ctx, r.GetCollectionName(), reqs, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	out, err := batchToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.RecommendBatchResponse{Result: out, Time: since(start)}, nil
}

func (p *pointsService) RecommendGroups(ctx context.Context, r *qdrant.RecommendPointGroups) (*qdrant.RecommendGroupsResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := recommendGroupsFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.RecommendGroups(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	g, err := groupsToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.RecommendGroupsResponse{Result: g, Time: since(start)}, nil
}

func (p *pointsService) Discover(ctx context.Context, r *qdrant.DiscoverPoints) (*qdrant.DiscoverResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := discoverFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.Discover(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	pts, err := scoredListToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.DiscoverResponse{Result: pts, Time: since(start)}, nil
}

func (p *pointsService) DiscoverBatch(ctx context.Context, r *qdrant.DiscoverBatchPoints) (*qdrant.DiscoverBatchResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	reqs := make([]api.DiscoverRequest, len(r.GetDiscoverPoints()))
	for i, s := range r.GetDiscoverPoints() {
		req, err := discoverFromProto(s)
		if err != nil {
			return nil, toStatus(err)
		}
		reqs[i] = *req
	}
	res, err := p.svc.DiscoverBatch(ctx, r.GetCollectionName(), reqs, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	out, err := batchToProto(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.DiscoverBatchResponse{Result: out, Time: since(start)}, nil
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
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := matrixFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.SearchMatrixPairs(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &qdrant.SearchMatrixPairs{Pairs: make([]*qdrant.SearchMatrixPair, len(res.Pairs))}
	for i, pr := range res.Pairs {
		out.Pairs[i] = &qdrant.SearchMatrixPair{A: idToProto(pr.A), B: idToProto(pr.B), Score: pr.Score}
	}
	return &qdrant.SearchMatrixPairsResponse{Result: out, Time: since(start)}, nil
}

func (p *pointsService) SearchMatrixOffsets(ctx context.Context, r *qdrant.SearchMatrixPoints) (*qdrant.SearchMatrixOffsetsResponse, error) {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	rp, err := readParams(r.GetReadConsistency(), r.Timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	req, err := matrixFromProto(r)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := p.svc.SearchMatrixOffsets(ctx, r.GetCollectionName(), req, rp)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &qdrant.SearchMatrixOffsets{
		OffsetsRow: res.OffsetsRow, OffsetsCol: res.OffsetsCol, Scores: res.Scores, Ids: idsToProto(res.IDs),
	}
	return &qdrant.SearchMatrixOffsetsResponse{Result: out, Time: since(start)}, nil
}
