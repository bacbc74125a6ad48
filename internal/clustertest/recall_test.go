package clustertest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/texmex"
)

// TestFashionMNISTRecallAcrossNodes imports Fashion-MNIST (60,000 × 784,
// Euclid) through REST into a 6-shard collection on 3 nodes and into the
// same collection on one node, and compares recall@10 at ef 64 over 1,000
// queries. A benchmark, run on demand where the data set is:
//
//	SHOAL_BENCH_RECALL=1 go test -run TestFashionMNISTRecallAcrossNodes -v -timeout 60m ./internal/clustertest
func TestFashionMNISTRecallAcrossNodes(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_RECALL") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_RECALL=1")
	}
	dir := os.Getenv("SHOAL_DATA")
	if dir == "" {
		dir = "../../../shared/data/fashion-mnist-784-euclidean"
	}
	base, err := texmex.ReadFvecs(filepath.Join(dir, "base.fvecs.gz"), 0)
	if err != nil {
		t.Fatalf("%v (set SHOAL_DATA to the data set's directory)", err)
	}
	queries, err := texmex.ReadFvecs(filepath.Join(dir, "query.fvecs.gz"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := texmex.ReadIvecs(filepath.Join(dir, "groundtruth.ivecs.gz"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	recall := func(c *Cluster, via int) float64 {
		c.MustDo(0, "PUT", "/collections/fm", map[string]any{"vectors": map[string]any{"size": 784, "distance": "Euclid"},
			"shard_number": 6, "hnsw_config": map[string]any{"m": 16, "ef_construct": 100}}, nil)
		start := time.Now()
		for lo := 0; lo < len(base); lo += 500 {
			hi := min(lo+500, len(base))
			pts := make([]map[string]any, 0, hi-lo)
			for i := lo; i < hi; i++ {
				pts = append(pts, map[string]any{"id": i, "vector": base[i]})
			}
			c.MustDo(lo/500%len(c.Nodes), "PUT", "/collections/fm/points?wait=true", map[string]any{"points": pts}, nil)
		}
		t.Logf("%d node(s): imported in %v", len(c.Nodes), time.Since(start).Round(time.Second))
		for deadline := time.Now().Add(30 * time.Minute); ; {
			done := true
			for i := range c.Nodes {
				var ci struct {
					Indexed int `json:"indexed_vectors_count"`
				}
				c.MustDo(i, "GET", "/collections/fm", nil, &ci)
				if len(c.Nodes) == 1 && ci.Indexed < len(base) {
					done = false
				}
			}
			var opt struct {
				Summary struct {
					QueuedPoints int `json:"queued_points"`
				} `json:"summary"`
			}
			for i := range c.Nodes {
				c.MustDo(i, "GET", "/collections/fm/optimizations", nil, &opt)
				if opt.Summary.QueuedPoints > 0 {
					done = false
				}
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("indexing did not finish")
			}
			time.Sleep(time.Second)
		}
		hits := 0
		for qi, q := range queries {
			var res struct {
				Points []struct {
					ID int `json:"id"`
				} `json:"points"`
			}
			c.MustDo(via, "POST", "/collections/fm/points/query", map[string]any{"query": q, "limit": 10, "params": map[string]any{"hnsw_ef": 64}}, &res)
			want := map[int]bool{}
			for _, id := range truth[qi][:10] {
				want[int(id)] = true
			}
			for _, p := range res.Points {
				if want[p.ID] {
					hits++
				}
			}
		}
		return float64(hits) / float64(10*len(queries))
	}
	single := New(t, Options{Nodes: 1})
	single.Nodes[0].Cfg.Cluster.Enabled = false
	single.Start(0)
	one := recall(single, 0)
	single.Close()
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	three := recall(c, 2)
	t.Logf("recall@10 at ef 64: one node %.4f, 3 nodes (6 shards, searched through node 2) %.4f, difference %.4f", one, three, three-one)
	if d := one - three; d > 0.005 || d < -0.005 {
		t.Fatalf("recall differs by %.4f (limit 0.005)", d)
	}
}
