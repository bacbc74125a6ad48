package grpcapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"

	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/rest"
)

// TestCollectionClusterInfoMatchesREST checks that gRPC CollectionClusterInfo
// and REST GET /collections/{c}/cluster, served by one real service, report
// the same shards with the same point counts, and that those counts add up
// to the collection's points.
func TestCollectionClusterInfoMatchesREST(t *testing.T) {
	svc := newRealService(t)
	ts := startServer(t, serverConfig{svc: svc})
	hs := httptest.NewServer(rest.New(rest.Options{Service: svc, Auth: auth.New(auth.Options{})}))
	t.Cleanup(hs.Close)
	c := ts.client(t, "")
	ctx := ctxT(t)

	err := c.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: "sharded",
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot}),
		ShardNumber:    qdrant.PtrOf(uint32(3)),
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var pts []*qdrant.PointStruct
	for i := range n {
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i + 1)), Vectors: qdrant.NewVectors(float32(i), 1)})
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "sharded", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}

	g := must[*qdrant.CollectionClusterInfoResponse](t, "cluster info")(c.GetCollectionClusterInfo(ctx, "sharded"))
	if g.GetShardCount() != 3 || len(g.GetLocalShards()) != 3 || len(g.GetRemoteShards()) != 0 || len(g.GetShardTransfers()) != 0 {
		t.Fatalf("gRPC cluster info: %v", g)
	}
	var total uint64
	grpcShards := map[uint32]uint64{}
	for _, s := range g.GetLocalShards() {
		if s.GetState() != qdrant.ReplicaState_Active {
			t.Errorf("gRPC shard %d: state %v", s.GetShardId(), s.GetState())
		}
		grpcShards[s.GetShardId()] = s.GetPointsCount()
		total += s.GetPointsCount()
	}
	if total != n {
		t.Errorf("gRPC shard counts %v add up to %d, want %d", grpcShards, total, n)
	}

	resp, err := http.Get(hs.URL + "/collections/sharded/cluster")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("REST cluster info: %d %v %s", resp.StatusCode, err, body)
	}
	var r struct {
		Result struct {
			PeerID      uint64 `json:"peer_id"`
			ShardCount  uint64 `json:"shard_count"`
			LocalShards []struct {
				ShardID     uint32 `json:"shard_id"`
				PointsCount uint64 `json:"points_count"`
				State       string `json:"state"`
			} `json:"local_shards"`
			RemoteShards   []any `json:"remote_shards"`
			ShardTransfers []any `json:"shard_transfers"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("REST cluster info: %v: %s", err, body)
	}
	restShards := map[uint32]uint64{}
	for _, s := range r.Result.LocalShards {
		if s.State != qdrant.ReplicaState_Active.String() {
			t.Errorf("REST shard %d: state %q", s.ShardID, s.State)
		}
		restShards[s.ShardID] = s.PointsCount
	}
	if r.Result.PeerID != g.GetPeerId() || r.Result.ShardCount != g.GetShardCount() ||
		len(r.Result.LocalShards) != len(g.GetLocalShards()) || fmt.Sprint(restShards) != fmt.Sprint(grpcShards) ||
		len(r.Result.RemoteShards) != 0 || len(r.Result.ShardTransfers) != 0 {
		t.Errorf("REST and gRPC disagree:\nREST %s\ngRPC %v", body, g)
	}

	_, err = c.GetCollectionClusterInfo(ctx, "nope")
	wantCode(t, "cluster info of unknown", err, codes.NotFound, "nope")
}
