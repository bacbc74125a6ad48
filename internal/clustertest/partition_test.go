package clustertest

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/faultnet"
)

// TestMinorityPartition cuts the leader off from the other two nodes
// through the fault proxies. On the minority side metadata changes fail
// within their timeout with Qdrant's 503, while searches of a collection
// it holds go on; the majority elects a leader and takes changes; after
// healing, the old leader sees them.
func TestMinorityPartition(t *testing.T) {
	c := New(t, Options{Faults: true})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Every node holds both shards (replication_factor 3).
	c.MustDo(0, "PUT", "/collections/p", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Euclid"},
		"shard_number": 2, "replication_factor": 3}, nil)
	c.MustDo(1, "PUT", "/collections/p/points?wait=true", map[string]any{"points": testPoints(100, 8, 3)}, nil)
	query := map[string]any{"query": testPoints(1, 8, 9)[0].Vector, "limit": 5}
	var before any
	c.MustDo(2, "POST", "/collections/p/points/query", query, &before)

	old := c.Leader()
	if old < 0 {
		t.Fatal("no leader")
	}
	majority := (old + 1) % 3
	c.Net.Isolate(old)

	start := time.Now()
	code, raw := c.Do(old, "PUT", "/collections/minority?timeout=2", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("metadata change on the minority side: %d %s, want 503", code, raw)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the refused change took %v", d)
	}
	var during any
	c.MustDo(old, "POST", "/collections/p/points/query", query, &during)
	if !reflect.DeepEqual(during, before) {
		t.Fatalf("search on the minority side: %v, want %v", during, before)
	}

	start = time.Now()
	// An attempt that timed out may still have been applied: a retry then
	// finds the collection.
	for retried := false; ; retried = true {
		code, raw := c.Do(majority, "PUT", "/collections/after?timeout=2", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, nil)
		if code == http.StatusOK || retried && code == http.StatusBadRequest && strings.Contains(string(raw), "already exists") {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the majority takes no change: %d %s", code, raw)
		}
	}
	t.Logf("majority took a change %v after the partition", time.Since(start))

	c.Net.Heal()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := c.Do(old, "GET", "/collections/after", nil, nil)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the healed node does not see the new collection: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := c.Do(majority, "GET", "/collections/minority", nil, nil); code != http.StatusNotFound {
		t.Fatalf("the refused collection exists: %d", code)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestStableLeaderUnderLatency delays every link between the nodes by
// 50 ms each way (100 ms round trips) with Qdrant's default 100 ms tick:
// the cluster forms and keeps one leader and one term for 10 s, and
// metadata changes go through.
func TestStableLeaderUnderLatency(t *testing.T) {
	c := New(t, Options{Faults: true, Tick: 100 * time.Millisecond})
	c.Net.Links(func(_, _ int, p *faultnet.Proxy) { p.Delay(50*time.Millisecond, 5*time.Millisecond) })
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := c.Nodes[0].Srv.Cluster().Status()
	leader, term := *st.RaftInfo.Leader, st.RaftInfo.Term
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		c.MustDo(n%3, "PUT", fmt.Sprintf("/collections/l%d", n), map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, nil)
		for i := range c.Nodes {
			s := c.Nodes[i].Srv.Cluster().Status()
			if s.RaftInfo.Leader == nil || *s.RaftInfo.Leader != leader || s.RaftInfo.Term != term {
				t.Fatalf("node %d: leader %v term %d, want leader %d term %d", i, s.RaftInfo.Leader, s.RaftInfo.Term, leader, term)
			}
		}
	}
}
