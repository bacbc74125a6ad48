package rest

import (
	"net/http"

	"github.com/shoal-db/shoal/internal/api"
)

// writeCall decodes a write's body into req and its query parameters.
func (h *Handler) writeCall(w http.ResponseWriter, r *http.Request, req any) (api.WriteParams, error) {
	wp, err := writeParams(r)
	if err != nil {
		return wp, err
	}
	return wp, h.body(w, r, req)
}

// readCall decodes a read's body into req and its query parameters.
func (h *Handler) readCall(w http.ResponseWriter, r *http.Request, req any) (api.ReadParams, error) {
	rp, err := readParams(r)
	if err != nil {
		return rp, err
	}
	return rp, h.body(w, r, req)
}

func (h *Handler) upsertPoints(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.UpsertPoints
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.Upsert(r.Context(), coll(r), &req, wp)
}

func (h *Handler) getPoint(w http.ResponseWriter, r *http.Request) (any, error) {
	rp, err := readParams(r)
	if err != nil {
		return nil, err
	}
	id, err := api.ParsePointID(r.PathValue(pID))
	if err != nil {
		return nil, err
	}
	return h.svc.GetPoint(r.Context(), coll(r), id, rp)
}

func (h *Handler) getPoints(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.GetPoints
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	recs, err := h.svc.GetPoints(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	if recs == nil {
		recs = []api.Record{}
	}
	return recs, nil
}

func (h *Handler) deletePoints(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.PointsSelector
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.DeletePoints(r.Context(), coll(r), &req, wp)
}

func (h *Handler) updateVectors(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.UpdateVectors
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.UpdateVectors(r.Context(), coll(r), &req, wp)
}

func (h *Handler) deleteVectors(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.DeleteVectors
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.DeleteVectors(r.Context(), coll(r), &req, wp)
}

func (h *Handler) setPayload(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.SetPayload
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.SetPayload(r.Context(), coll(r), &req, wp)
}

func (h *Handler) overwritePayload(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.SetPayload
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.OverwritePayload(r.Context(), coll(r), &req, wp)
}

func (h *Handler) deletePayload(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.DeletePayload
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.DeletePayload(r.Context(), coll(r), &req, wp)
}

func (h *Handler) clearPayload(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.PointsSelector
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.ClearPayload(r.Context(), coll(r), &req, wp)
}

func (h *Handler) batchUpdate(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.UpdateBatch
	wp, err := h.writeCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.BatchUpdate(r.Context(), coll(r), req.Operations, wp)
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = []api.UpdateResult{}
	}
	return res, nil
}

func (h *Handler) scroll(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.ScrollRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.Scroll(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	if res.Points == nil {
		res.Points = []api.Record{}
	}
	return res, nil
}

func (h *Handler) count(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CountRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	return h.svc.Count(r.Context(), coll(r), &req, rp)
}

func (h *Handler) facet(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.FacetRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.Facet(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	if res.Hits == nil {
		res.Hits = []api.FacetHit{}
	}
	return res, nil
}

func (h *Handler) matrixPairs(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.SearchMatrixRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.SearchMatrixPairs(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	if res.Pairs == nil {
		res.Pairs = []api.SearchMatrixPair{}
	}
	return res, nil
}

func (h *Handler) matrixOffsets(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.SearchMatrixRequest
	rp, err := h.readCall(w, r, &req)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.SearchMatrixOffsets(r.Context(), coll(r), &req, rp)
	if err != nil {
		return nil, err
	}
	if res.OffsetsRow == nil {
		res.OffsetsRow = []uint64{}
	}
	if res.OffsetsCol == nil {
		res.OffsetsCol = []uint64{}
	}
	if res.Scores == nil {
		res.Scores = []float32{}
	}
	if res.IDs == nil {
		res.IDs = []api.PointID{}
	}
	return res, nil
}
