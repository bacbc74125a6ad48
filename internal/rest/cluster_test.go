package rest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shoal-db/shoal/internal/auth"
)

// clusterInfo is the result of GET /collections/{c}/cluster as the tests
// read it.
type clusterInfo struct {
	PeerID      *uint64 `json:"peer_id"`
	ShardCount  int     `json:"shard_count"`
	LocalShards []struct {
		ShardID     uint32 `json:"shard_id"`
		PointsCount uint64 `json:"points_count"`
		State       string `json:"state"`
	} `json:"local_shards"`
	RemoteShards   []json.RawMessage `json:"remote_shards"`
	ShardTransfers []json.RawMessage `json:"shard_transfers"`
}

// getClusterInfo runs GET path (validated against the spec) and decodes
// the result.
func getClusterInfo(t *testing.T, c *testClient, path string) clusterInfo {
	t.Helper()
	raw := step{method: "GET", path: path}.run(t, c)
	var ci clusterInfo
	if err := json.Unmarshal(raw, &ci); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, raw)
	}
	// Qdrant's standalone answer: empty lists, not null or missing.
	for _, want := range []string{`"remote_shards":[]`, `"shard_transfers":[]`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("GET %s: result lacks %s: %s", path, want, raw)
		}
	}
	return ci
}

// shardCounts checks that ci lists shards 0..n-1, each once, local and
// active, and returns their point counts by shard id.
func (ci clusterInfo) shardCounts(t *testing.T, n int) []uint64 {
	t.Helper()
	if ci.PeerID == nil || ci.ShardCount != n || len(ci.LocalShards) != n || len(ci.RemoteShards) != 0 || len(ci.ShardTransfers) != 0 {
		t.Fatalf("cluster info %+v, want %d local shards and nothing remote", ci, n)
	}
	counts := make([]uint64, n)
	seen := make([]bool, n)
	for _, s := range ci.LocalShards {
		if int(s.ShardID) >= n || seen[s.ShardID] || s.State != "Active" {
			t.Fatalf("local shards %+v: want ids 0..%d once each, all Active", ci.LocalShards, n-1)
		}
		seen[s.ShardID] = true
		counts[s.ShardID] = s.PointsCount
	}
	return counts
}

func sum(xs []uint64) uint64 {
	var n uint64
	for _, x := range xs {
		n += x
	}
	return n
}

// TestCollectionClusterInfoEndToEnd checks GET /collections/{c}/cluster
// over real HTTP against the real service: every shard of a 3-shard
// collection is listed as a local active shard, the point counts are per
// shard and add up to the collection's points, and access is checked as for
// any read of the collection.
func TestCollectionClusterInfoEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{APIKey: "signing-key", ReadOnlyAPIKey: "ro-key", JWTRBAC: true})
	c.key = "signing-key"
	const d = "/collections/sharded"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3}`}.run(t, c)
	step{method: "PUT", path: "/collections/other", body: `{"vectors": {"size": 2, "distance": "Dot"}}`}.run(t, c)

	// An empty collection has three empty shards.
	if counts := getClusterInfo(t, c, d+"/cluster").shardCounts(t, 3); sum(counts) != 0 {
		t.Fatalf("empty collection: counts %v", counts)
	}

	// 60 points, 10 of them deleted again: 50 live points over 3 shards.
	var pts []string
	for i := 1; i <= 60; i++ {
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": [%d, 1]}`, i, i))
	}
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [` + strings.Join(pts, ",") + `]}`}.run(t, c)
	step{method: "POST", path: d + "/points/delete?wait=true", body: `{"points": [51, 52, 53, 54, 55, 56, 57, 58, 59, 60]}`}.run(t, c)
	step{method: "POST", path: d + "/points/count", body: `{"exact": true}`, check: wantJSON(`{"count": 50}`)}.run(t, c)
	before := getClusterInfo(t, c, d+"/cluster").shardCounts(t, 3)
	if sum(before) != 50 {
		t.Fatalf("shard counts %v add up to %d, want 50", before, sum(before))
	}
	for id, n := range before {
		if n == 0 || n == 50 {
			t.Errorf("shard %d holds %d of 50 points: the counts are not per shard (%v)", id, n, before)
		}
	}

	// One more point changes exactly one shard's count, by one.
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [{"id": 1000, "vector": [1, 1]}]}`}.run(t, c)
	after := getClusterInfo(t, c, d+"/cluster").shardCounts(t, 3)
	changed := 0
	for id := range after {
		switch after[id] {
		case before[id]:
		case before[id] + 1:
			changed++
		default:
			t.Errorf("shard %d: %d points, was %d", id, after[id], before[id])
		}
	}
	if changed != 1 {
		t.Errorf("one upsert changed %d shard counts: %v -> %v", changed, before, after)
	}

	// An alias answers for its collection.
	step{method: "POST", path: "/collections/aliases", body: `{"actions": [{"create_alias": {"collection_name": "sharded", "alias_name": "sh"}}]}`}.run(t, c)
	if got := getClusterInfo(t, c, "/collections/sh/cluster").shardCounts(t, 3); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Errorf("by alias: %v, want %v", got, after)
	}

	// Unknown collection: 404 in Qdrant's error shape.
	r := c.do("GET", "/collections/nope/cluster", nil)
	r.wantError(t, 404, "Not found: Collection `nope` doesn't exist!")
	spec(t).validateResponse(t, "GET", "/collections/nope/cluster", r.status, r.header, r.body)

	// The read-only key reads it.
	c.key = "ro-key"
	if got := getClusterInfo(t, c, d+"/cluster").shardCounts(t, 3); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Errorf("read-only key: %v, want %v", got, after)
	}

	// A JWT scoped to another collection gets 403, for an existing
	// collection and an unknown one alike; the same token reads its own.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"exp":    time.Now().Add(time.Hour).Unix(),
		"access": []map[string]string{{"collection": "other", "access": "r"}},
	}).SignedString([]byte("signing-key"))
	if err != nil {
		t.Fatal(err)
	}
	c.key = tok
	for _, p := range []string{d + "/cluster", "/collections/sh/cluster", "/collections/nope/cluster"} {
		r := c.do("GET", p, nil)
		r.wantError(t, 403, "")
		spec(t).validateResponse(t, "GET", p, r.status, r.header, r.body)
	}
	if got := getClusterInfo(t, c, "/collections/other/cluster").shardCounts(t, 1); got[0] != 0 {
		t.Errorf("other: %v", got)
	}

	// Changing the shard placement stays refused on a standalone node.
	c.key = "signing-key"
	c.do("POST", d+"/cluster", `{"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2}}`).wantError(t, 405, "Qdrant is running in standalone mode")
}
