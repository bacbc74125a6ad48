package clustertest

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/service"
)

// TestPrimaryKillFailoverTimes SIGKILLs, 20 times (SHOAL_BENCH_KILLS), the
// process holding the primary of a 1-shard, 2-replica collection while a
// client writes through another node, with the default configuration,
// and measures how long after each kill a write succeeds again; after
// every kill the node restarts and the replicas must converge. A
// benchmark, run on demand:
//
//	SHOAL_BENCH_PRIMARY_KILL=1 go test -run TestPrimaryKillFailoverTimes -v -timeout 60m ./internal/clustertest
func TestPrimaryKillFailoverTimes(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_PRIMARY_KILL") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_PRIMARY_KILL=1")
	}
	kills := 20
	if n, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_KILLS")); err == nil && n > 0 {
		kills = n
	}
	pc := newProcCluster(t, 3)
	for i := range 3 {
		pc.start(i)
	}
	pc.waitReady(60 * time.Second)
	pc.waitFormed(60 * time.Second)
	if code, raw, err := httpJSON(pc.nodes[0].HTTP(), "PUT", "/collections/fo", map[string]any{
		"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": 1, "replication_factor": 2}, 30*time.Second); err != nil || code != 200 {
		t.Fatalf("create: %d %s %v", code, raw, err)
	}
	primaryNode := func() int {
		for i, n := range pc.nodes {
			var ds []service.ReplicaDigest
			code, raw, err := httpJSON(n.HTTP(), "GET", "/collections/fo/cluster/digests", nil, 5*time.Second)
			if err != nil || code != 200 || decodeResult(raw, &ds) != nil {
				continue
			}
			for _, d := range ds {
				if d.Primary {
					return i
				}
			}
		}
		return -1
	}
	write := func(node, id int) bool {
		code, _, err := httpJSON(pc.nodes[node].HTTP(), "PUT", "/collections/fo/points?wait=true&timeout=30", map[string]any{
			"points": []any{map[string]any{"id": id, "vector": []float32{1, 2, 3, float32(id)}, "payload": map[string]any{"n": id}}}}, 31*time.Second)
		return err == nil && code == 200
	}
	var times []time.Duration
	id := 0
	for k := range kills {
		victim := primaryNode()
		if victim < 0 {
			t.Fatal("no primary found")
		}
		via := (victim + 1) % 3
		for range 20 {
			id++
			if !write(via, id) {
				t.Fatalf("write before kill %d failed", k)
			}
		}
		pc.nodes[victim].Kill()
		start := time.Now()
		for {
			id++
			if write(via, id) {
				break
			}
			if time.Since(start) > 2*time.Minute {
				t.Fatalf("kill %d: writes did not resume", k)
			}
		}
		took := time.Since(start)
		times = append(times, took)
		t.Logf("kill %d of node %d: writes resumed after %v", k, victim, took.Round(time.Millisecond))
		pc.nodes[victim].Restart(t)
		pc.waitReady(60 * time.Second)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			why := convergedOne(pc)
			if why == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: replicas did not converge: %s", k, why)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Every acknowledged write is there.
	var count struct {
		Count int `json:"count"`
	}
	_, raw, err := httpJSON(pc.nodes[0].HTTP(), "POST", "/collections/fo/points/count?consistency=all", map[string]any{"exact": true}, 10*time.Second)
	if err != nil || decodeResult(raw, &count) != nil {
		t.Fatalf("count: %s %v", raw, err)
	}
	slices.Sort(times)
	p := func(q float64) time.Duration { return times[min(len(times)-1, int(q*float64(len(times))))] }
	t.Logf("writes resumed after a primary kill: p50 %v, p99 %v, max %v over %d kills; %d points (ids written %d, some possibly indeterminate)",
		p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), len(times), count.Count, id)
}

// convergedOne reports "" when the single shard of "fo" has two Active
// replicas with equal digests.
func convergedOne(pc *procCluster) string {
	var all []service.ReplicaDigest
	for i, n := range pc.nodes {
		var ds []service.ReplicaDigest
		code, raw, err := httpJSON(n.HTTP(), "GET", "/collections/fo/cluster/digests", nil, 5*time.Second)
		if err != nil || code != 200 {
			return fmt.Sprintf("node %d: %d %v", i, code, err)
		}
		if err := decodeResult(raw, &ds); err != nil {
			return err.Error()
		}
		all = append(all, ds...)
	}
	if len(all) != 2 {
		return fmt.Sprintf("%d replicas", len(all))
	}
	for _, d := range all {
		if d.State != "Active" || d.Seq != all[0].Seq || d.Digest != all[0].Digest {
			return fmt.Sprintf("%+v", all)
		}
	}
	return ""
}
