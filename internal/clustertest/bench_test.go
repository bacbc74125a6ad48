package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkSearchThroughPeer compares the same search coordinated by the
// node that holds the collection's only shard (local) and by a node that
// holds none (remote: one hop over the p2p port), in one run:
//
//	go test -run '^$' -bench SearchThroughPeer -benchtime 3000x ./internal/clustertest
func BenchmarkSearchThroughPeer(b *testing.B) {
	c := New(b, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		b.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/bench", map[string]any{"vectors": map[string]any{"size": 128, "distance": "Cosine"}, "shard_number": 1}, nil)
	pts := testPoints(20000, 128, 11)
	for lo := 0; lo < len(pts); lo += 1000 {
		c.MustDo(0, "PUT", "/collections/bench/points?wait=true", map[string]any{"points": pts[lo : lo+1000]}, nil)
	}
	var info struct {
		LocalShards []any `json:"local_shards"`
	}
	holder, other := -1, -1
	for i := range c.Nodes {
		c.MustDo(i, "GET", "/collections/bench/cluster", nil, &info)
		if len(info.LocalShards) == 1 {
			holder = i
		} else if other < 0 {
			other = i
		}
	}
	if holder < 0 || other < 0 {
		b.Fatalf("holder %d, other %d", holder, other)
	}
	// Wait for the graph: both paths must search the same index.
	for deadline := time.Now().Add(5 * time.Minute); ; {
		var ci struct {
			Indexed int `json:"indexed_vectors_count"`
		}
		c.MustDo(holder, "GET", "/collections/bench", nil, &ci)
		if ci.Indexed >= len(pts) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d vectors indexed", ci.Indexed, len(pts))
		}
		time.Sleep(200 * time.Millisecond)
	}
	queries := testPoints(64, 128, 12)
	client := &http.Client{Timeout: 10 * time.Second}
	search := func(b *testing.B, node int) {
		base := "http://" + c.Nodes[node].Srv.HTTPAddr() + "/collections/bench/points/query"
		bodies := make([][]byte, len(queries))
		for i, q := range queries {
			bodies[i], _ = json.Marshal(map[string]any{"query": q.Vector, "limit": 10, "params": map[string]any{"hnsw_ef": 64}})
		}
		i := 0
		for b.Loop() {
			resp, err := client.Post(base, "application/json", bytes.NewReader(bodies[i%len(bodies)]))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
			i++
		}
	}
	for round := range 2 {
		b.Run(fmt.Sprintf("local/round%d", round), func(b *testing.B) { search(b, holder) })
		b.Run(fmt.Sprintf("remote/round%d", round), func(b *testing.B) { search(b, other) })
	}
}
