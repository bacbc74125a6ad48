package clustertest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

type point struct {
	ID      int            `json:"id"`
	Vector  []float32      `json:"vector"`
	Payload map[string]any `json:"payload"`
}

func testPoints(n, dim int, seed uint64) []point {
	rng := rand.New(rand.NewPCG(seed, 1))
	pts := make([]point, n)
	for i := range pts {
		v := make([]float32, dim)
		for j := range v {
			v[j] = rng.Float32()*2 - 1
		}
		pts[i] = point{ID: i + 1, Vector: v, Payload: map[string]any{"k": fmt.Sprintf("g%d", i%7), "n": i}}
	}
	return pts
}

type scored struct {
	ID    int     `json:"id"`
	Score float32 `json:"score"`
}

// TestShardedCollectionAcrossNodes creates a 6-shard collection through
// one node of three, writes through another and reads through every
// node: the shards are placed 2/2/2, and every read equals the answer of
// a standalone node holding the same points.
func TestShardedCollectionAcrossNodes(t *testing.T) {
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	single := New(t, Options{Nodes: 1})
	single.Nodes[0].Cfg.Cluster.Enabled = false
	single.Start(0)

	create := map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"}, "shard_number": 6}
	c.MustDo(0, "PUT", "/collections/docs", create, nil)
	single.MustDo(0, "PUT", "/collections/docs", create, nil)

	// Placement: 2 shards on each node, seen alike from every node.
	var info struct {
		LocalShards []struct {
			ShardID int `json:"shard_id"`
		} `json:"local_shards"`
		RemoteShards []struct {
			ShardID int    `json:"shard_id"`
			PeerID  uint64 `json:"peer_id"`
		} `json:"remote_shards"`
	}
	for i := range c.Nodes {
		c.MustDo(i, "GET", "/collections/docs/cluster", nil, &info)
		if len(info.LocalShards) != 2 || len(info.RemoteShards) != 4 {
			t.Fatalf("node %d holds %d shards, sees %d remote; want 2 and 4", i, len(info.LocalShards), len(info.RemoteShards))
		}
	}

	pts := testPoints(600, 8, 7)
	for lo := 0; lo < len(pts); lo += 200 {
		body := map[string]any{"points": pts[lo : lo+200]}
		c.MustDo(1, "PUT", "/collections/docs/points?wait=true", body, nil)
		single.MustDo(0, "PUT", "/collections/docs/points?wait=true", body, nil)
	}
	c.MustDo(2, "PUT", "/collections/docs/index", map[string]any{"field_name": "k", "field_schema": "keyword"}, nil)
	single.MustDo(0, "PUT", "/collections/docs/index", map[string]any{"field_name": "k", "field_schema": "keyword"}, nil)

	queries := []struct {
		path string
		body any
	}{
		{"/collections/docs/points/query", map[string]any{"query": pts[3].Vector, "limit": 10, "params": map[string]any{"exact": true}}},
		{"/collections/docs/points/query", map[string]any{"query": pts[9].Vector, "limit": 5, "filter": map[string]any{"must": []any{map[string]any{"key": "k", "match": map[string]any{"value": "g3"}}}}, "params": map[string]any{"exact": true}}},
		{"/collections/docs/points/query", map[string]any{"query": map[string]any{"recommend": map[string]any{"positive": []int{1, 2}, "negative": []int{3}, "strategy": "best_score"}}, "limit": 5, "params": map[string]any{"exact": true}}},
		{"/collections/docs/points/query", map[string]any{"query": map[string]any{"discover": map[string]any{"target": 4, "context": []any{map[string]any{"positive": 5, "negative": 6}}}}, "limit": 5, "params": map[string]any{"exact": true}}},
		{"/collections/docs/points/count", map[string]any{"exact": true, "filter": map[string]any{"must": []any{map[string]any{"key": "k", "match": map[string]any{"value": "g1"}}}}}},
		{"/collections/docs/points/scroll", map[string]any{"limit": 50, "offset": 100, "with_payload": true}},
		{"/collections/docs/facet", map[string]any{"key": "k", "exact": true}},
		{"/collections/docs/points", map[string]any{"ids": []int{1, 300, 599, 9999}, "with_vector": true}},
	}
	for _, q := range queries {
		var want any
		single.MustDo(0, "POST", q.path, q.body, &want)
		for i := range c.Nodes {
			var got any
			c.MustDo(i, "POST", q.path, q.body, &got)
			if !reflect.DeepEqual(normalize(got), normalize(want)) {
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				t.Fatalf("POST %s %v through node %d:\n got %s\nwant %s", q.path, q.body, i, gb, wb)
			}
		}
	}

	// A payload update naming one missing id changes no shard on any node.
	if code, raw := c.Do(1, "POST", "/collections/docs/points/payload?wait=true",
		map[string]any{"payload": map[string]any{"x": 1}, "points": []int{10, 11, 12, 13, 14, 15, 99999}}, nil); code != 404 {
		t.Fatalf("set_payload with a missing id: %d %s", code, raw)
	}
	var touched struct{ Count int }
	c.MustDo(2, "POST", "/collections/docs/points/count", map[string]any{"exact": true,
		"filter": map[string]any{"must": []any{map[string]any{"key": "x", "match": map[string]any{"value": 1}}}}}, &touched)
	if touched.Count != 0 {
		t.Fatalf("%d points got the payload of a refused update", touched.Count)
	}
	c.MustDo(1, "POST", "/collections/docs/points/payload?wait=true",
		map[string]any{"payload": map[string]any{"x": 1}, "points": []int{10, 11, 12, 13, 14, 15}}, nil)
	c.MustDo(0, "POST", "/collections/docs/points/count", map[string]any{"exact": true,
		"filter": map[string]any{"must": []any{map[string]any{"key": "x", "match": map[string]any{"value": 1}}}}}, &touched)
	if touched.Count != 6 {
		t.Fatalf("%d points have the payload, want 6", touched.Count)
	}

	// Deletes and payload updates through a third node reach the shards.
	c.MustDo(2, "POST", "/collections/docs/points/delete?wait=true", map[string]any{"points": []int{1, 2, 3}}, nil)
	var cnt struct{ Count int }
	c.MustDo(0, "POST", "/collections/docs/points/count", map[string]any{"exact": true}, &cnt)
	if cnt.Count != 597 {
		t.Fatalf("count after delete %d, want 597", cnt.Count)
	}
	// The collection is gone from every node after a delete through one.
	c.MustDo(1, "DELETE", "/collections/docs", nil, nil)
	for i := range c.Nodes {
		if code, _ := c.Do(i, "GET", "/collections/docs", nil, nil); code != 404 {
			t.Fatalf("node %d: collection still there (%d)", i, code)
		}
	}
}

// normalize makes results comparable: scores rounded (the sum order of a
// cosine differs between shards only in the last bits), lists of points
// kept in order.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case float64:
		return float64(float32(x*1e5)) / 1e5
	}
	return v
}
