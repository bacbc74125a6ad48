package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
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
// (SHOAL_BENCH_DEAD_SECONDS), transfers not paced. Once every replica has
// indexed its points and checked its graph's reachability, it stops one
// node for good and reports the time until every shard is back at RF 2 with equal
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
	start := time.Now()
	importRandom(t, c, "hb", points, dim)
	if t.Failed() {
		return
	}
	t.Logf("imported %d points of %d dimensions in %s", points, dim, time.Since(start).Round(time.Second))
	waitConverged(t, c, "hb", 4, 2, 10*time.Minute)
	// The clock starts once every replica has indexed its points: the
	// number is about re-replication, not about an import's indexing.
	waitGreen(t, c, []string{"hb"}, 30*time.Minute)
	t.Logf("indexed %s after the import began", time.Since(start).Round(time.Second))
	// The clock starts on a settled cluster: once indexed, each replica
	// runs a reachability pass over its new graph, minutes of CPU on
	// these random Dot vectors, which on four nodes sharing two cores
	// would slow the transfers of whichever node it ran on.
	settle := time.Now()
	waitSettled(t, c, "hb", 4)
	t.Logf("reachability checked on every replica %s later", time.Since(settle).Round(time.Second))

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
	// The clock starts before the stop: the node stops answering its
	// peers at the start of Close.
	down := time.Now()
	stopProfiles := startProfiles(t, "heal-") // with SHOAL_BENCH_PROFILE=<dir>
	c.Stop(victim)
	t.Logf("node %d stopped for good; it held %d points (%.0f MB of vectors)", victim, held, float64(held)*dim*4/1e6)
	watcher := c.Running()[0]
	waitFor(t, deadAfter+10*time.Minute, func() string {
		// The metadata first: digests hash every replica, seconds of CPU
		// that would compete with the transfers if polled throughout.
		var info struct {
			PeerID       uint64         `json:"peer_id"`
			LocalShards  []replicaState `json:"local_shards"`
			RemoteShards []replicaState `json:"remote_shards"`
		}
		if code, raw := c.Do(watcher, "GET", "/collections/hb/cluster", nil, &info); code != 200 {
			return fmt.Sprintf("GET /collections/hb/cluster: %d %s", code, raw)
		}
		active := map[int]int{}
		for _, r := range append(info.LocalShards, info.RemoteShards...) {
			if r.State != "Active" {
				return fmt.Sprintf("shard %d has a replica %s", r.ShardID, r.State)
			}
			active[r.ShardID]++
		}
		for id := range 4 {
			if active[id] != 2 {
				return fmt.Sprintf("shard %d has %d Active replicas", id, active[id])
			}
		}
		v, err := replicasOf(c, "hb")
		if err != nil {
			return err.Error()
		}
		_, why := v.converged(4, 2)
		return why
	})
	healed := time.Since(down)
	stopProfiles()
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

// waitSettled waits until every replica of the collection's shards on the
// running nodes has indexed its points and checked its graph's
// reachability (shard.WaitIndexed, which runs the pass if one is due), all
// replicas at once.
func waitSettled(t *testing.T, c *Cluster, coll string, shards int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, i := range c.Running() {
		n := c.Nodes[i]
		gen := n.Srv.Cluster().State().Collections[coll].Generation
		for id := range shards {
			sh, _, release, err := n.Srv.Service().LocateShard(context.Background(), coll, gen, id)
			if err != nil {
				continue // not a replica of this node
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer release()
				if err := sh.WaitIndexed(context.Background()); err != nil {
					t.Errorf("node %d shard %d: %v", i, id, err)
				}
			}()
		}
	}
	wg.Wait()
}

// waitGreen waits until every running node reports each of the
// collections green (every replica it holds has indexed its points); a
// failed request counts as not green yet.
func waitGreen(t *testing.T, c *Cluster, colls []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, name := range colls {
		for _, i := range c.Running() {
			for {
				var info struct {
					Status string `json:"status"`
				}
				// A loaded machine may lose the Raft leader for a while
				// (503 without a leader): wait on, as for yellow.
				if code, _ := c.Do(i, "GET", "/collections/"+name, nil, &info); code == 200 && info.Status == "green" {
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

// pointsClients returns a gRPC points client for every running node.
func pointsClients(t *testing.T, c *Cluster) []qdrant.PointsClient {
	t.Helper()
	var clients []qdrant.PointsClient
	for _, i := range c.Running() {
		conn, err := grpc.NewClient(c.Nodes[i].Srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients = append(clients, qdrant.NewPointsClient(conn))
	}
	return clients
}

// importRandom upserts points random vectors of dim dimensions (ids 1 to
// points) into coll over gRPC, in batches of 256 from 4 clients spread
// over the running nodes, waiting for each batch.
func importRandom(t *testing.T, c *Cluster, coll string, points, dim int) {
	t.Helper()
	clients := pointsClients(t, c)
	const batch, workers = 256, 4
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
				if _, err := clients[w%len(clients)].Upsert(context.Background(), &qdrant.UpsertPoints{CollectionName: coll, Wait: &wait, Points: pts}); err != nil {
					t.Errorf("upsert: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestRebalanceNumbers measures search throughput while a cluster
// rebalances: 3 in-process nodes hold 12 shards × RF 2 of 128-d vectors
// (SHOAL_BENCH_REBALANCE_POINTS, default 100,000); 4 clients search
// through the first three nodes without pause; after a steady window a
// fourth node joins with rebalancing on, and replicas move to it until
// every node holds the mean ± 1. It reports the searches per second
// before and during the moves, and their ratio (issue 13's target: at
// least 0.7). A benchmark, run on demand (docs/benchmarks.md, "Healing"):
//
//	SHOAL_BENCH_REBALANCE=1 go test -run TestRebalanceNumbers -v -timeout 60m ./internal/clustertest
func TestRebalanceNumbers(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_REBALANCE") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_REBALANCE=1")
	}
	points := 100000
	if n, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_REBALANCE_POINTS")); err == nil && n > 0 {
		points = n
	}
	const dim, shards = 128, 12
	c := New(t, Options{Nodes: 4, Tick: 100 * time.Millisecond, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.BootstrapExpect = 3
		cfg.Cluster.Join = cfg.Cluster.Join[:3]
		cfg.Cluster.Rebalance = true
	}})
	for i := range 3 {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/rb", map[string]any{"vectors": map[string]any{"size": dim, "distance": "Dot"},
		"shard_number": shards, "replication_factor": 2}, nil)
	start := time.Now()
	importRandom(t, c, "rb", points, dim)
	if t.Failed() {
		return
	}
	waitGreen(t, c, []string{"rb"}, 30*time.Minute)
	t.Logf("imported and indexed %d points in %s", points, time.Since(start).Round(time.Second))

	// Searchers count completed searches per second.
	clients := pointsClients(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var done atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			limit := uint64(10)
			for ctx.Err() == nil {
				v := make([]float32, dim)
				for j := range v {
					v[j] = rng.Float32()
				}
				_, err := clients[w%len(clients)].Query(ctx, &qdrant.QueryPoints{CollectionName: "rb", Query: qdrant.NewQueryDense(v), Limit: &limit})
				switch {
				case err == nil:
					done.Add(1)
				case ctx.Err() == nil:
					failed.Add(1)
				}
			}
		}()
	}
	defer wg.Wait()
	defer cancel()
	rate := func(d time.Duration) float64 {
		n0, t0 := done.Load(), time.Now()
		time.Sleep(d)
		return float64(done.Load()-n0) / time.Since(t0).Seconds()
	}
	rate(3 * time.Second) // warm-up
	steady := rate(20 * time.Second)
	t.Logf("steady: %.0f searches/s", steady)

	// balanced reports whether every node holds 5 to 7 of the 24
	// replicas, all Active, by node 0's metadata.
	balanced := func() (bool, map[uint64]int) {
		rs := replicaStates(t, c, 0, "rb")
		per := map[uint64]int{}
		ok := len(rs) == 2*shards
		for _, r := range rs {
			per[r.PeerID]++
			ok = ok && r.State == "Active"
		}
		ok = ok && len(per) == 4
		for _, n := range per {
			ok = ok && n >= 5 && n <= 7
		}
		return ok, per
	}
	failedBefore := failed.Load()
	moveStart := time.Now()
	n0 := done.Load()
	c.Start(3)
	var perSecond []float64
	for {
		perSecond = append(perSecond, rate(time.Second))
		if ok, _ := balanced(); ok {
			break
		}
		if time.Since(moveStart) > 30*time.Minute {
			_, per := balanced()
			t.Fatalf("not balanced after 30 minutes: %v", per)
		}
	}
	took := time.Since(moveStart)
	during := float64(done.Load()-n0) / took.Seconds()
	slices.Sort(perSecond)
	_, per := balanced()
	t.Logf("rebalanced in %s (replicas per peer %v): %.0f searches/s during the moves, %.2f of steady; slowest second %.0f, median second %.0f; %d searches failed during the moves",
		took.Round(100*time.Millisecond), per, during, during/steady, perSecond[0], perSecond[len(perSecond)/2], failed.Load()-failedBefore)
	fmt.Fprintf(os.Stderr, "REBALANCE points=%d steady=%.0f during=%.0f ratio=%.2f took=%s failed=%d\n", points, steady, during, during/steady, took, failed.Load()-failedBefore)
	if failed.Load() > failedBefore {
		t.Errorf("%d searches failed during the moves", failed.Load()-failedBefore)
	}
}
