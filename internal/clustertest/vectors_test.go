package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestNamedVectorsAcrossNodes adds a named vector through one node of
// three, writes it through another and queries it through every node; then
// removes the original vector through the third: every node reopens its
// replicas without it, and the points keep their other vector.
func TestNamedVectorsAcrossNodes(t *testing.T) {
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/nv", map[string]any{"vectors": map[string]any{"a": map[string]any{"size": 2, "distance": "Dot"}}, "shard_number": 3}, nil)
	var pts []any
	for id := 1; id <= 30; id++ {
		pts = append(pts, map[string]any{"id": id, "vector": map[string]any{"a": []float32{1, float32(id)}}})
	}
	c.MustDo(1, "PUT", "/collections/nv/points?wait=true", map[string]any{"points": pts}, nil)

	c.MustDo(0, "PUT", "/collections/nv/vectors/b?wait=true", map[string]any{"dense": map[string]any{"size": 2, "distance": "Dot"}}, nil)
	pts = pts[:0]
	for id := 1; id <= 30; id++ {
		pts = append(pts, map[string]any{"id": id, "vector": map[string]any{"a": []float32{1, float32(id)}, "b": []float32{float32(id), 1}}})
	}
	c.MustDo(1, "PUT", "/collections/nv/points?wait=true", map[string]any{"points": pts}, nil)
	for i := range c.Nodes {
		var res struct {
			Points []scored `json:"points"`
		}
		c.MustDo(i, "POST", "/collections/nv/points/query", map[string]any{"query": []float32{1, 0}, "using": "b", "limit": 1}, &res)
		if len(res.Points) != 1 || res.Points[0].ID != 30 {
			t.Errorf("node %d: query b: %v", i, res.Points)
		}
	}

	c.MustDo(2, "DELETE", "/collections/nv/vectors/a?wait=true", nil, nil)
	for i := range c.Nodes {
		if code, raw := c.Do(i, "POST", "/collections/nv/points/query", map[string]any{"query": []float32{1, 0}, "using": "a"}, nil); code != 400 {
			t.Errorf("node %d: query removed vector: %d %s", i, code, raw)
		}
		var n struct {
			Count int `json:"count"`
		}
		c.MustDo(i, "POST", "/collections/nv/points/count", map[string]any{"exact": true, "filter": map[string]any{"must": []any{map[string]any{"has_vector": "b"}}}}, &n)
		if n.Count != 30 {
			t.Errorf("node %d: points with b: %d", i, n.Count)
		}
	}
	// A node restarted after the change opens its replicas as they are.
	c.Stop(1)
	c.Start(1)
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Points []scored `json:"points"`
	}
	c.MustDo(1, "POST", "/collections/nv/points/query", map[string]any{"query": []float32{1, 0}, "using": "b", "limit": 1}, &res)
	if len(res.Points) != 1 || res.Points[0].ID != 30 {
		t.Errorf("restarted node: query b: %v", res.Points)
	}
}

// TestOnDiskChangeAcrossNodes: a PATCH of on_disk through one node of
// three goes through the update_collection command, and every node moves
// its replicas' stores (a dense vector and a multi-vector) between the
// heap and mapped files; the points answer as before, through every node.
func TestOnDiskChangeAcrossNodes(t *testing.T) {
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/od", map[string]any{"vectors": map[string]any{
		"a": map[string]any{"size": 2, "distance": "Dot"},
		"m": map[string]any{"size": 2, "distance": "Dot", "multivector_config": map[string]any{"comparator": "max_sim"}},
	}, "shard_number": 3, "replication_factor": 2}, nil)
	var pts []any
	for id := 1; id <= 30; id++ {
		pts = append(pts, map[string]any{"id": id, "vector": map[string]any{"a": []float32{1, float32(id)}, "m": [][]float32{{float32(id), 1}, {1, 1}}}})
	}
	c.MustDo(1, "PUT", "/collections/od/points?wait=true", map[string]any{"points": pts}, nil)
	// stores waits until every replica's stores are where want says (the
	// other nodes apply the command after the proposer acknowledged it).
	stores := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			held, moved := 0, 0
			var last string
			for i, n := range c.Nodes {
				gen := n.Srv.Cluster().State().Collections["od"].Generation
				for id := range 3 {
					sh, _, release, err := n.Srv.Service().LocateShard(context.Background(), "od", gen, id)
					if err != nil {
						continue // not a replica of this node
					}
					held++
					ok := true
					for _, name := range []string{"a", "m"} {
						if got, known := sh.VectorOnDisk(name); !known || got != want {
							ok, last = false, fmt.Sprintf("node %d shard %d vector %s: on disk %v, want %v", i, id, name, got, want)
						}
					}
					if ok {
						moved++
					}
					release()
				}
			}
			if held == 6 && moved == 6 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d replicas found (want 6), %d moved: %s", held, moved, last)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	answers := func() {
		t.Helper()
		for i := range c.Nodes {
			var res struct {
				Points []scored `json:"points"`
			}
			c.MustDo(i, "POST", "/collections/od/points/query", map[string]any{"query": []float32{0, 1}, "using": "a", "limit": 1}, &res)
			if len(res.Points) != 1 || res.Points[0].ID != 30 {
				t.Errorf("node %d: query a: %v", i, res.Points)
			}
			c.MustDo(i, "POST", "/collections/od/points/query", map[string]any{"query": [][]float32{{1, 0}}, "using": "m", "limit": 1}, &res)
			if len(res.Points) != 1 || res.Points[0].ID != 30 {
				t.Errorf("node %d: query m: %v", i, res.Points)
			}
		}
	}
	stores(false)
	answers()
	for _, onDisk := range []bool{true, false} {
		c.MustDo(2, "PATCH", "/collections/od", map[string]any{"vectors": map[string]any{"a": map[string]any{"on_disk": onDisk}, "m": map[string]any{"on_disk": onDisk}}}, nil)
		stores(onDisk)
		answers()
	}
}
