// Package loadtool imports a TEXMEX data set into any Qdrant-compatible
// endpoint (Shoal or Qdrant, over REST or gRPC) and measures search QPS and
// recall@10 at several hnsw_ef values and client thread counts. It is the
// engine behind `shoal-bench` and the numbers in docs/benchmarks.md.
package loadtool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/qdrant/go-client/qdrant"
)

// CollectionSpec describes the collection a run creates.
type CollectionSpec struct {
	Name        string
	Dim         int
	Distance    string // Qdrant spelling: Euclid, Cosine, Dot, Manhattan
	M           int
	EfConstruct int
	Shards      int
	// IndexingThreshold, when not nil, is sent as
	// optimizers_config.indexing_threshold (kilobytes of vectors from which
	// a segment is indexed; 0 turns indexing off, Qdrant's bulk-load
	// recipe).
	IndexingThreshold *int
}

// Target is one Qdrant-compatible endpoint reached over one protocol.
type Target interface {
	// Recreate deletes the collection if present and creates it.
	Recreate(ctx context.Context, spec CollectionSpec) error
	// Upsert writes points with integer ids, waiting for the write.
	Upsert(ctx context.Context, collection string, ids []uint64, vecs [][]float32) error
	// Status returns the collection status ("green", "yellow", ...) and point count.
	Status(ctx context.Context, collection string) (string, uint64, error)
	// Search returns the ids of the k nearest points.
	Search(ctx context.Context, collection string, vec []float32, k, ef int) ([]uint64, error)
	// Close releases connections.
	Close() error
}

// RESTTarget speaks Qdrant's REST API.
type RESTTarget struct {
	base   string
	apiKey string
	client *http.Client
}

// NewRESTTarget returns a REST target for base (e.g. http://127.0.0.1:6333).
func NewRESTTarget(base, apiKey string) *RESTTarget {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	return &RESTTarget{base: base, apiKey: apiKey, client: &http.Client{Transport: tr, Timeout: 10 * time.Minute}}
}

func (t *RESTTarget) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.apiKey != "" {
		req.Header.Set("api-key", t.apiKey)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("cannot read response of %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, truncate(b, 300))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("cannot decode response of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Recreate implements Target.
func (t *RESTTarget) Recreate(ctx context.Context, s CollectionSpec) error {
	_ = t.do(ctx, http.MethodDelete, "/collections/"+s.Name, nil, nil)
	req := map[string]any{
		"vectors":      map[string]any{"size": s.Dim, "distance": s.Distance},
		"hnsw_config":  map[string]any{"m": s.M, "ef_construct": s.EfConstruct},
		"shard_number": max(1, s.Shards),
	}
	if s.IndexingThreshold != nil {
		req["optimizers_config"] = map[string]any{"indexing_threshold": *s.IndexingThreshold}
	}
	body, _ := json.Marshal(req)
	return t.do(ctx, http.MethodPut, "/collections/"+s.Name, body, nil)
}

// Upsert implements Target using the column (batch) form.
func (t *RESTTarget) Upsert(ctx context.Context, collection string, ids []uint64, vecs [][]float32) error {
	var buf bytes.Buffer
	buf.Grow(len(vecs) * (len(vecs[0])*4 + 16))
	buf.WriteString(`{"batch":{"ids":[`)
	for i, id := range ids {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(strconv.FormatUint(id, 10))
	}
	buf.WriteString(`],"vectors":[`)
	for i, v := range vecs {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeFloats(&buf, v)
	}
	buf.WriteString(`]}}`)
	return t.do(ctx, http.MethodPut, "/collections/"+collection+"/points?wait=true", buf.Bytes(), nil)
}

// Status implements Target.
func (t *RESTTarget) Status(ctx context.Context, collection string) (string, uint64, error) {
	var out struct {
		Result struct {
			Status      string `json:"status"`
			PointsCount uint64 `json:"points_count"`
		} `json:"result"`
	}
	if err := t.do(ctx, http.MethodGet, "/collections/"+collection, nil, &out); err != nil {
		return "", 0, err
	}
	return out.Result.Status, out.Result.PointsCount, nil
}

// Search implements Target with the universal query API.
func (t *RESTTarget) Search(ctx context.Context, collection string, vec []float32, k, ef int) ([]uint64, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"query":`)
	writeFloats(&buf, vec)
	fmt.Fprintf(&buf, `,"limit":%d,"params":{"hnsw_ef":%d}}`, k, ef)
	var out struct {
		Result struct {
			Points []struct {
				ID uint64 `json:"id"`
			} `json:"points"`
		} `json:"result"`
	}
	if err := t.do(ctx, http.MethodPost, "/collections/"+collection+"/points/query", buf.Bytes(), &out); err != nil {
		return nil, err
	}
	ids := make([]uint64, len(out.Result.Points))
	for i, p := range out.Result.Points {
		ids[i] = p.ID
	}
	return ids, nil
}

// Close implements Target.
func (t *RESTTarget) Close() error {
	t.client.CloseIdleConnections()
	return nil
}

// GRPCTarget speaks Qdrant's gRPC API through the official Go client.
type GRPCTarget struct {
	c *qdrant.Client
}

// NewGRPCTarget connects to host:port.
func NewGRPCTarget(host string, port int, apiKey string) (*GRPCTarget, error) {
	c, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: port, APIKey: apiKey, SkipCompatibilityCheck: true})
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s:%d: %w", host, port, err)
	}
	return &GRPCTarget{c: c}, nil
}

// Recreate implements Target.
func (t *GRPCTarget) Recreate(ctx context.Context, s CollectionSpec) error {
	_ = t.c.DeleteCollection(ctx, s.Name)
	dist := qdrant.Distance_Euclid
	switch s.Distance {
	case "Cosine":
		dist = qdrant.Distance_Cosine
	case "Dot":
		dist = qdrant.Distance_Dot
	case "Manhattan":
		dist = qdrant.Distance_Manhattan
	}
	req := &qdrant.CreateCollection{
		CollectionName: s.Name,
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: uint64(s.Dim), Distance: dist}),
		HnswConfig:     &qdrant.HnswConfigDiff{M: qdrant.PtrOf(uint64(s.M)), EfConstruct: qdrant.PtrOf(uint64(s.EfConstruct))},
		ShardNumber:    qdrant.PtrOf(uint32(max(1, s.Shards))),
	}
	if s.IndexingThreshold != nil {
		req.OptimizersConfig = &qdrant.OptimizersConfigDiff{IndexingThreshold: qdrant.PtrOf(uint64(*s.IndexingThreshold))}
	}
	return t.c.CreateCollection(ctx, req)
}

// Upsert implements Target.
func (t *GRPCTarget) Upsert(ctx context.Context, collection string, ids []uint64, vecs [][]float32) error {
	pts := make([]*qdrant.PointStruct, len(ids))
	for i, id := range ids {
		pts[i] = &qdrant.PointStruct{Id: qdrant.NewIDNum(id), Vectors: qdrant.NewVectorsDense(vecs[i])}
	}
	_, err := t.c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: collection, Points: pts, Wait: qdrant.PtrOf(true)})
	return err
}

// Status implements Target.
func (t *GRPCTarget) Status(ctx context.Context, collection string) (string, uint64, error) {
	info, err := t.c.GetCollectionInfo(ctx, collection)
	if err != nil {
		return "", 0, err
	}
	status := "grey"
	switch info.GetStatus() {
	case qdrant.CollectionStatus_Green:
		status = "green"
	case qdrant.CollectionStatus_Yellow:
		status = "yellow"
	case qdrant.CollectionStatus_Red:
		status = "red"
	}
	return status, info.GetPointsCount(), nil
}

// Search implements Target.
func (t *GRPCTarget) Search(ctx context.Context, collection string, vec []float32, k, ef int) ([]uint64, error) {
	res, err := t.c.Query(ctx, &qdrant.QueryPoints{
		CollectionName: collection,
		Query:          qdrant.NewQueryDense(vec),
		Limit:          qdrant.PtrOf(uint64(k)),
		Params:         &qdrant.SearchParams{HnswEf: qdrant.PtrOf(uint64(ef))},
	})
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(res))
	for i, p := range res {
		ids[i] = p.GetId().GetNum()
	}
	return ids, nil
}

// Close implements Target.
func (t *GRPCTarget) Close() error { return t.c.Close() }

// writeFloats writes v as a JSON array, each number in the shortest form
// that reads back as the same float32.
func writeFloats(buf *bytes.Buffer, v []float32) {
	b := buf.AvailableBuffer()
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat32(b, x)
	}
	b = append(b, ']')
	buf.Write(b)
}

// appendFloat32 is strconv.AppendFloat(b, x, 'g', -1, 32) with a fast path
// for the small integers that pixel data sets are made of: an integer of
// magnitude below 10^6 (other than -0) is written by 'g' as its plain
// digits, which AppendInt produces at a fraction of the cost.
func appendFloat32(b []byte, x float32) []byte {
	if x > -1e6 && x < 1e6 && x != 0 {
		if n := int32(x); float32(n) == x {
			return strconv.AppendInt(b, int64(n), 10)
		}
	}
	return strconv.AppendFloat(b, float64(x), 'g', -1, 32)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
