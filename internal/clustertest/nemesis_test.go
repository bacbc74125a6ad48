package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/clustertest/history"
	"github.com/shoal-db/shoal/internal/service"
)

// nemesisDuration is how long the nemesis runs: 20 s by default, longer
// on demand (SHOAL_NEMESIS_SECONDS=1800 for the 30-minute run of
// docs/benchmarks.md). SHOAL_NEMESIS_SEED replays a schedule.
func nemesisDuration() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("SHOAL_NEMESIS_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 20 * time.Second
}

// partitioner cuts a cluster's peers apart (netnsProcCluster).
type partitioner interface {
	// partition lets only nodes of one group reach each other.
	partition(groups ...[]int)
	// heal lifts every partition.
	heal()
}

// TestProcessNemesis runs 3 real shoal processes holding a collection of
// 2 shards × 2 replicas while clients write registers (one payload value
// per point id, unique per write) through every node and a seeded
// schedule SIGKILLs and restarts nodes, SIGSTOPs and resumes them, and
// (where the test can make network namespaces: root, ip, nft) cuts a node
// off from its peers and heals the partition, one fault at a time; the
// clients reach every node throughout. Afterwards every node runs again and the checks are: every
// shard's replicas become Active with equal sequence numbers and digests,
// and the value every point holds (read at consistency=all) is one the
// history allows: no acknowledged write is lost.
func TestProcessNemesis(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SHOAL_NEMESIS_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (SHOAL_NEMESIS_SEED=%d replays the schedule)", seed, seed)
	pc, part := netnsProcCluster(t, 3, "SHOAL__CLUSTER__NODE_DOWN_AFTER=1s")
	if pc == nil {
		pc = newProcCluster(t, 3, "SHOAL__CLUSTER__NODE_DOWN_AFTER=1s")
	}
	kinds := 2
	if part != nil {
		kinds = 3
	}
	for i := range 3 {
		pc.start(i)
	}
	pc.waitReady(60 * time.Second)
	pc.waitFormed(60 * time.Second)
	if code, raw, err := httpJSON(pc.nodes[0].HTTP(), "PUT", "/collections/nem", map[string]any{
		"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": 2, "replication_factor": 2}, 30*time.Second); err != nil || code != 200 {
		t.Fatalf("create: %d %s %v", code, raw, err)
	}
	const keys = 24
	rec := history.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), nemesisDuration())
	defer cancel()
	var mu sync.Mutex // guards the process handles against restarts
	var wg sync.WaitGroup
	for client := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(client)+1))
			for n := 0; ctx.Err() == nil; n++ {
				id := 1 + rng.IntN(keys)
				v := fmt.Sprintf("c%d-%d", client, n)
				mu.Lock()
				base := pc.nodes[rng.IntN(3)].HTTP()
				mu.Unlock()
				call := rec.Invoke(client, history.KindPut, strconv.Itoa(id), v)
				code, raw, err := httpJSON(base, "PUT", "/collections/nem/points?wait=true&timeout=5", map[string]any{
					"points": []any{map[string]any{"id": id, "vector": []float32{1, float32(id), 0, 1}, "payload": map[string]any{"v": v}}}}, 6*time.Second)
				switch {
				case err == nil && code == 200:
					call.OK("")
				case err == nil && code >= 400 && code < 500 && code != 408:
					call.Fail(fmt.Errorf("%d %s", code, raw))
				default:
					call.Info(fmt.Errorf("%d %s %v", code, raw, err))
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	faults := 0
	for ctx.Err() == nil {
		time.Sleep(time.Duration(1500+rng.IntN(1500)) * time.Millisecond)
		if ctx.Err() != nil {
			break
		}
		victim := rng.IntN(3)
		down := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		switch kind := rng.IntN(kinds); kind {
		case 2:
			var rest []int
			for i := range 3 {
				if i != victim {
					rest = append(rest, i)
				}
			}
			t.Logf("fault %d: partition node %d from its peers for %s", faults, victim, down)
			part.partition([]int{victim}, rest)
			time.Sleep(down)
			part.heal()
		case 0:
			t.Logf("fault %d: SIGKILL node %d for %s", faults, victim, down)
			mu.Lock()
			pc.nodes[victim].Kill()
			mu.Unlock()
			time.Sleep(down)
			mu.Lock()
			pc.nodes[victim].Restart(t)
			mu.Unlock()
		default:
			t.Logf("fault %d: SIGSTOP node %d for %s", faults, victim, down)
			if err := pc.nodes[victim].Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(down)
			if err := pc.nodes[victim].Resume(); err != nil {
				t.Fatal(err)
			}
		}
		faults++
		pc.waitReady(60 * time.Second)
	}
	wg.Wait()
	pc.waitReady(60 * time.Second)

	// Convergence: every shard's two replicas Active, equal.
	deadline := time.Now().Add(60 * time.Second)
	for {
		why := nemesisConverged(pc)
		if why == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: replicas did not converge: %s", seed, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// No acknowledged write lost.
	final := map[string]string{}
	for id := 1; id <= keys; id++ {
		code, raw, err := httpJSON(pc.nodes[0].HTTP(), "GET", "/collections/nem/points/"+strconv.Itoa(id)+"?consistency=all", nil, 10*time.Second)
		if err != nil || (code != 200 && code != 404) {
			t.Fatalf("final read %d: %d %s %v", id, code, raw, err)
		}
		if code == 200 {
			var rec struct {
				Payload map[string]any `json:"payload"`
			}
			if err := decodeResult(raw, &rec); err != nil {
				t.Fatal(err)
			}
			final[strconv.Itoa(id)], _ = rec.Payload["v"].(string)
		}
	}
	h := rec.History()
	if err := history.CheckNoLostWrites(h, final); err != nil {
		// Keep the history for the post-mortem (the test's directories
		// are removed).
		path := filepath.Join(os.TempDir(), fmt.Sprintf("shoal-nemesis-%d.json", seed))
		if werr := rec.WriteFile(path); werr != nil {
			t.Logf("cannot keep the history: %v", werr)
		} else {
			t.Logf("history kept in %s", path)
		}
		t.Fatalf("seed %d: %v", seed, err)
	}
	oks := 0
	fails := map[string]int{}
	for _, op := range h {
		switch op.Outcome {
		case history.OK:
			oks++
		case history.Fail, history.Info:
			msg := op.Err
			if len(msg) > 100 {
				msg = msg[:100]
			}
			fails[fmt.Sprintf("%v: %s", op.Outcome, msg)]++
		}
	}
	for msg, n := range fails {
		t.Logf("%d× %s", n, msg)
	}
	t.Logf("%d faults, %d writes, %d acknowledged", faults, len(h), oks)
	if faults < 3 || oks < 100 {
		t.Fatalf("too little happened: %d faults, %d acknowledged writes", faults, oks)
	}
}

// nemesisConverged returns "" when both replicas of both shards are Active
// at one sequence number with one digest, else what differs.
func nemesisConverged(pc *procCluster) string {
	byShard := map[int][]service.ReplicaDigest{}
	for i, n := range pc.nodes {
		var ds []service.ReplicaDigest
		code, raw, err := httpJSON(n.HTTP(), "GET", "/collections/nem/cluster/digests", nil, 5*time.Second)
		if err != nil || code != 200 {
			return fmt.Sprintf("node %d: %d %s %v", i, code, raw, err)
		}
		if err := decodeResult(raw, &ds); err != nil {
			return err.Error()
		}
		for _, d := range ds {
			byShard[d.Shard] = append(byShard[d.Shard], d)
		}
	}
	if len(byShard) != 2 {
		return fmt.Sprintf("replicas of %d shards, want 2", len(byShard))
	}
	for s, ds := range byShard {
		if len(ds) != 2 {
			return fmt.Sprintf("shard %d has %d replicas", s, len(ds))
		}
		for _, d := range ds {
			if d.State != "Active" || d.Seq != ds[0].Seq || d.Digest != ds[0].Digest {
				return fmt.Sprintf("shard %d: %+v", s, ds)
			}
		}
	}
	return ""
}
