package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shoal-db/shoal/internal/config"
)

// TestHealNumbers measures how long a cluster takes to re-replicate a dead
// node's replicas: 4 in-process nodes, 4 shards × RF 2 of 512-d vectors
// (SHOAL_BENCH_HEAL_POINTS, default 300,000: the victim holds half of
// them, about 300 MB of vectors), cluster.dead_node_timeout 30 s
// (SHOAL_BENCH_DEAD_SECONDS), transfers not paced. It stops one node for
// good and reports the time until every shard is back at RF 2 with equal
// digests, and the bytes the checkpoint transfers moved per second once
// the node was declared dead. A benchmark, run on demand
// (docs/benchmarks.md, "Healing"):
//
//	SHOAL_BENCH_HEAL=1 go test -run TestHealNumbers -v -timeout 60m ./internal/clustertest
func TestHealNumbers(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_HEAL") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_HEAL=1")
	}
	points := 300000
	if n, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_HEAL_POINTS")); err == nil && n > 0 {
		points = n
	}
	deadAfter := 30 * time.Second
	if n, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_DEAD_SECONDS")); err == nil && n > 0 {
		deadAfter = time.Duration(n) * time.Second
	}
	const dim = 512
	// The production Raft tick (100 ms): the harness's 20 ms loses its
	// leader while four nodes index 300,000 vectors on two cores.
	c := New(t, Options{Nodes: 4, Tick: 100 * time.Millisecond, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.DeadNodeTimeout = config.Duration(deadAfter)
	}})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/hb", map[string]any{"vectors": map[string]any{"size": dim, "distance": "Dot"},
		"shard_number": 4, "replication_factor": 2}, nil)
	var clients []qdrant.PointsClient
	for _, n := range c.Nodes {
		conn, err := grpc.NewClient(n.Srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients = append(clients, qdrant.NewPointsClient(conn))
	}
	const batch, workers = 256, 4
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			wait := true
			for {
				mu.Lock()
				lo := next
				next += batch
				mu.Unlock()
				if lo >= points {
					return
				}
				hi := min(lo+batch, points)
				pts := make([]*qdrant.PointStruct, 0, hi-lo)
				for i := lo; i < hi; i++ {
					v := make([]float32, dim)
					for j := range v {
						v[j] = rng.Float32()
					}
					pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i) + 1), Vectors: qdrant.NewVectorsDense(v)})
				}
				if _, err := clients[w%len(clients)].Upsert(context.Background(), &qdrant.UpsertPoints{CollectionName: "hb", Wait: &wait, Points: pts}); err != nil {
					t.Errorf("upsert: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("imported %d points of %d dimensions in %s", points, dim, time.Since(start).Round(time.Second))
	waitConverged(t, c, "hb", 4, 2, 10*time.Minute)
	// The clock starts once every replica has indexed its points: the
	// number is about re-replication, not about an import's indexing.
	waitGreen(t, c, []string{"hb"}, 30*time.Minute)
	t.Logf("indexed %s after the import began", time.Since(start).Round(time.Second))

	victim := 3
	if c.Leader() == victim {
		victim = 2
	}
	v, err := replicasOf(c, "hb")
	if err != nil {
		t.Fatal(err)
	}
	var held uint64
	for _, rs := range v {
		for _, r := range rs {
			if r.Node == victim {
				held += r.Points
			}
		}
	}
	var before int64
	var beforeTime time.Duration
	for i, n := range c.Nodes {
		if i != victim {
			_, b := n.Srv.Service().TransferStats()
			before += b
			beforeTime += n.Srv.Service().TransferTime()
		}
	}
	c.Stop(victim)
	down := time.Now()
	t.Logf("node %d stopped for good; it held %d points (%.0f MB of vectors)", victim, held, float64(held)*dim*4/1e6)
	waitFor(t, deadAfter+10*time.Minute, func() string {
		v, err := replicasOf(c, "hb")
		if err != nil {
			return err.Error()
		}
		_, why := v.converged(4, 2)
		return why
	})
	healed := time.Since(down)
	var after, count int64
	var afterTime time.Duration
	for i, n := range c.Nodes {
		if i != victim {
			n2, b := n.Srv.Service().TransferStats()
			after += b
			count += n2
			afterTime += n.Srv.Service().TransferTime()
		}
	}
	moved := after - before
	copying := healed - deadAfter
	busy := afterTime - beforeTime // summed over transfers, which may overlap
	t.Logf("healed %s after the stop (dead_node_timeout %s): checkpoint transfers (%d in all on the survivors) moved %.0f MB, %.0f MB/s over the %s after the timeout; %.0f MB/s per transfer (bytes over the transfers' summed time, %s)",
		healed.Round(100*time.Millisecond), deadAfter, count, float64(moved)/1e6, float64(moved)/1e6/copying.Seconds(), copying.Round(100*time.Millisecond),
		float64(moved)/1e6/busy.Seconds(), busy.Round(100*time.Millisecond))
	fmt.Fprintf(os.Stderr, "HEAL points=%d held=%d healed=%s moved_mb=%.0f rate_mb_s=%.1f per_transfer_mb_s=%.1f\n", points, held, healed,
		float64(moved)/1e6, float64(moved)/1e6/copying.Seconds(), float64(moved)/1e6/busy.Seconds())
	if moved == 0 {
		t.Fatal("the new replicas were not filled by checkpoints")
	}
}

// waitGreen waits until every node reports each of the collections green
// (every replica it holds has indexed its points).
func waitGreen(t *testing.T, c *Cluster, colls []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, name := range colls {
		for i := range c.Nodes {
			for {
				var info struct {
					Status string `json:"status"`
				}
				c.MustDo(i, "GET", "/collections/"+name, nil, &info)
				if info.Status == "green" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s on node %d is still %s", name, i, info.Status)
				}
				time.Sleep(time.Second)
			}
		}
	}
}
