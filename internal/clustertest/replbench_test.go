package clustertest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
	"github.com/shoal-db/shoal/internal/texmex"
)

// TestReplicationNumbers measures, in one run on one machine: gRPC import
// throughput and p50 batch latency into a standalone node, a 3-node
// cluster at replication factor 1 and the same at replication factor 2
// (rounds in ABC, CBA order, each round's collection deleted before the
// next), and the speed of a checkpoint transfer over
// loopback against writing the same shard's archive to a local file. A
// benchmark, run on demand (docs/benchmarks.md, "Replication"):
//
//	SHOAL_BENCH_REPLICATION=1 go test -run TestReplicationNumbers -v -timeout 60m ./internal/clustertest
//
// SHOAL_BENCH_POINTS (default 30,000) and SHOAL_BENCH_ROUNDS (default 2,
// alternating the order) set the import's size and repetitions.
// SHOAL_BENCH_REPLICATION=import measures the import only (no checkpoint
// transfer), for profiling the write path; SHOAL_BENCH_CONFIGS (for
// example "rf2") then limits it to the named configurations, and
// SHOAL_BENCH_NOINDEX=1 creates the collections without indexing
// (indexing_threshold 0), which separates the write path's own cost from
// the HNSW indexing that competes with it for the cores.
func TestReplicationNumbers(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_REPLICATION") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_REPLICATION=1")
	}
	dir := os.Getenv("SHOAL_DATA")
	if dir == "" {
		dir = "../../../shared/data/fashion-mnist-784-euclidean"
	}
	points, rounds := 30000, 2
	if n, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_POINTS")); err == nil && n > 0 {
		points = n
	}
	if n, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	base, err := texmex.ReadFvecs(filepath.Join(dir, "base.fvecs.gz"), points)
	if err != nil {
		t.Fatalf("%v (set SHOAL_DATA to the data set's directory)", err)
	}
	// Qdrant's default Raft tick (100 ms, elections after 1 s), not the
	// tests' 20 ms: on 2 loaded cores 200 ms elections flap for seconds
	// after an import, and the transfer below waits for a leader.
	// The three nodes share the machine's cores, so they share one write
	// signal: a node's indexers yield while any node imports, as the
	// standalone node's do while it imports (on machines of their own,
	// a node's indexers would use only its own idle cores).
	// SHOAL_BENCH_SHARED_WRITES=0 gives each node its own, the control.
	shared := os.Getenv("SHOAL_BENCH_SHARED_WRITES") != "0"
	c := New(t, Options{Configure: fastFailure, Tick: 100 * time.Millisecond, SharedWrites: shared, ShardOptions: func(o *shard.Options) { o.OpLogRetain = 64 }})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	single := New(t, Options{Nodes: 1})
	single.Nodes[0].Cfg.Cluster.Enabled = false
	single.Start(0)

	dial := func(addr string) qdrant.PointsClient {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return qdrant.NewPointsClient(conn)
	}
	var clusterClients []qdrant.PointsClient
	for _, n := range c.Nodes {
		clusterClients = append(clusterClients, dial(n.Srv.GRPCAddr()))
	}
	singleClients := []qdrant.PointsClient{dial(single.Nodes[0].Srv.GRPCAddr())}

	const batch, workers = 256, 4
	var tail string // the last import's p90 and slowest batch, for the log
	importInto := func(clients []qdrant.PointsClient, name string) (float64, time.Duration) {
		var mu sync.Mutex
		var lat []time.Duration
		next := 0
		var wg sync.WaitGroup
		start := time.Now()
		wait := true
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					lo := next
					next += batch
					mu.Unlock()
					if lo >= len(base) {
						return
					}
					hi := min(lo+batch, len(base))
					pts := make([]*qdrant.PointStruct, 0, hi-lo)
					for i := lo; i < hi; i++ {
						pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i)), Vectors: qdrant.NewVectorsDense(base[i])})
					}
					t0 := time.Now()
					_, err := clients[(lo/batch+w)%len(clients)].Upsert(context.Background(), &qdrant.UpsertPoints{CollectionName: name, Wait: &wait, Points: pts})
					if err != nil {
						t.Errorf("upsert into %s: %v", name, err)
						return
					}
					mu.Lock()
					lat = append(lat, time.Since(t0))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		slices.Sort(lat)
		tail = fmt.Sprintf("p90 %v, slowest %v", lat[len(lat)*9/10].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
		return float64(len(base)) / took.Seconds(), lat[len(lat)/2]
	}
	create := func(cl *Cluster, name string, rf int) {
		body := map[string]any{"vectors": map[string]any{"size": 784, "distance": "Euclid"}, "shard_number": 3, "replication_factor": rf}
		if os.Getenv("SHOAL_BENCH_NOINDEX") != "" {
			body["optimizers_config"] = map[string]any{"indexing_threshold": 0}
		}
		// On 2 shared cores the indexing of the round before can starve
		// the cluster's Raft heartbeats: wait out a lost leader. A create
		// that answered 503 may still have been applied: a retry then
		// finds the collection.
		retried := false
		for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
			code, raw := cl.Do(0, "PUT", "/collections/"+name, body, nil)
			if code == 200 || retried && code == 400 && strings.Contains(string(raw), "already exists") {
				return
			}
			retried = true
			if code != 503 || time.Since(start) > time.Minute {
				t.Fatalf("create %s: %d %s", name, code, raw)
			}
		}
	}
	type result struct {
		pps []float64
		p50 []time.Duration
		cpu []time.Duration
	}
	res := map[string]*result{"single": {}, "rf1": {}, "rf2": {}}
	only := os.Getenv("SHOAL_BENCH_CONFIGS")
	run := func(cfg string, round int) {
		if only != "" && !slices.Contains(strings.Split(only, ","), cfg) {
			return
		}
		name := cfg + "-" + string(rune('a'+round))
		var pps float64
		var p50 time.Duration
		cpu0 := processCPU(t)
		switch cfg {
		case "single":
			create(single, name, 1)
			pps, p50 = importInto(singleClients, name)
		case "rf1":
			create(c, name, 1)
			pps, p50 = importInto(clusterClients, name)
		case "rf2":
			create(c, name, 2)
			pps, p50 = importInto(clusterClients, name)
		}
		res[cfg].pps = append(res[cfg].pps, pps)
		res[cfg].p50 = append(res[cfg].p50, p50)
		cpu := processCPU(t) - cpu0
		res[cfg].cpu = append(res[cfg].cpu, cpu)
		cl := c
		if cfg == "single" {
			cl = single
		}
		// How much indexing competed with the import (indexers yield to
		// writes; what they inserted anyway took cores from them).
		indexed := indexedOn(cl, 0, name)
		t.Logf("round %d %s: %.0f points/s, p50 batch latency %v (%s), process CPU %v (%.1f ms per 1,000 points), %d vectors in node 0's graphs after it",
			round, cfg, pps, p50.Round(time.Millisecond), tail, cpu.Round(time.Millisecond), float64(cpu.Milliseconds())/float64(len(base))*1000, indexed)
		// The round's collection goes (its indexing with it), so that the
		// next round does not compete with this one's unindexed vectors:
		// which configuration came before would otherwise decide how much
		// of its CPU is left.
		for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
			code, raw := cl.Do(0, "DELETE", "/collections/"+name, nil, nil)
			if code == 200 || code == 404 {
				break
			}
			if code != 503 || time.Since(start) > time.Minute {
				t.Fatalf("delete %s: %d %s", name, code, raw)
			}
		}
	}
	for round := range rounds {
		order := []string{"single", "rf1", "rf2"}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, cfg := range order {
			run(cfg, round)
		}
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	meanD := func(xs []time.Duration) time.Duration {
		if len(xs) == 0 {
			return 0
		}
		var s time.Duration
		for _, x := range xs {
			s += x
		}
		return s / time.Duration(len(xs))
	}
	t.Logf("import: single %.0f/s, rf1 %.0f/s, rf2 %.0f/s; rf2/single %.2f, rf2/rf1 %.2f; p50 rf1 %v, rf2 %v (ratio %.2f)",
		mean(res["single"].pps), mean(res["rf1"].pps), mean(res["rf2"].pps),
		mean(res["rf2"].pps)/mean(res["single"].pps), mean(res["rf2"].pps)/mean(res["rf1"].pps),
		meanD(res["rf1"].p50).Round(time.Millisecond), meanD(res["rf2"].p50).Round(time.Millisecond),
		float64(meanD(res["rf2"].p50))/float64(meanD(res["rf1"].p50)))
	t.Logf("process CPU per 1,000 points imported: single %.1f ms, rf1 %.1f ms, rf2 %.1f ms",
		float64(meanD(res["single"].cpu).Milliseconds())/float64(len(base))*1000,
		float64(meanD(res["rf1"].cpu).Milliseconds())/float64(len(base))*1000,
		float64(meanD(res["rf2"].cpu).Milliseconds())/float64(len(base))*1000)
	if os.Getenv("SHOAL_BENCH_REPLICATION") == "import" {
		return
	}

	// Checkpoint transfer: replicate shard 0 of a fresh RF 1 collection,
	// imported and indexed (so that its index files travel too), to a
	// node that does not hold it; its op log (64 operations) no longer
	// holds the start.
	create(c, "rf1-b", 1)
	importInto(clusterClients, "rf1-b")
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		indexed := 0
		for i := range c.Nodes {
			indexed += indexedOn(c, i, "rf1-b")
		}
		if indexed >= len(base) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d vectors indexed", indexed, len(base))
		}
	}
	var info struct {
		PeerID      uint64 `json:"peer_id"`
		LocalShards []struct {
			ShardID int `json:"shard_id"`
		} `json:"local_shards"`
	}
	src, dst := -1, -1
	var srcPeer, dstPeer uint64
	for i := range c.Nodes {
		c.MustDo(i, "GET", "/collections/rf1-b/cluster", nil, &info)
		holds := slices.ContainsFunc(info.LocalShards, func(s struct {
			ShardID int `json:"shard_id"`
		}) bool {
			return s.ShardID == 0
		})
		if holds && src < 0 {
			src, srcPeer = i, info.PeerID
		} else if !holds && dst < 0 {
			dst, dstPeer = i, info.PeerID
		}
	}
	gen := c.Nodes[src].Srv.Cluster().State().Collections["rf1-b"].Generation
	shardDir := filepath.Join(c.Nodes[src].Cfg.Storage.StoragePath, "collections", "rf1-b", "gen-"+strconv.FormatUint(gen, 10), "0")
	// The local baseline: the same shard's checkpoint archived to a file.
	tmp := t.TempDir()
	size, local := archiveShard(t, shardDir, filepath.Join(tmp, "cp"), filepath.Join(tmp, "archive.tar"))
	// The other baseline: a real local snapshot of the same shard on its
	// node (checkpoint, archive written and fsynced into the node's
	// snapshot store), as an operator takes one.
	snapStart := time.Now()
	c.MustDo(src, "POST", "/collections/rf1-b/shards/0/snapshots?wait=true", nil, nil)
	snapTook := time.Since(snapStart)
	xfer0 := c.Nodes[src].Srv.Service().TransferTime()
	start := time.Now()
	c.MustDo(dst, "POST", "/collections/rf1-b/cluster", map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": srcPeer, "to_peer_id": dstPeer}}, nil)
	for {
		p := shardPeers(t, c, 0, "rf1-b")
		if p[dstPeer] == "Active" {
			break
		}
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("transfer did not finish: %v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	// The transfer itself (checkpoint, stream, the receiver's install),
	// as the source's primary timed it; the end-to-end time adds the
	// metadata commands (add the replica, make it Active) and the
	// sender's start, which on loaded cores cost more than the bytes.
	xfer := c.Nodes[src].Srv.Service().TransferTime() - xfer0
	mb := float64(size) / (1 << 20)
	t.Logf("checkpoint transfer: %.1f MB; the transfer %v = %.1f MB/s; request to Active %v = %.1f MB/s; local archive of the same shard's files %v = %.1f MB/s; local shard snapshot %v = %.1f MB/s; ratio of the transfer to the archive %.2f, to the snapshot %.2f",
		mb, xfer.Round(time.Millisecond), mb/xfer.Seconds(), took.Round(time.Millisecond), mb/took.Seconds(),
		local.Round(time.Millisecond), mb/local.Seconds(), snapTook.Round(time.Millisecond), mb/snapTook.Seconds(),
		local.Seconds()/xfer.Seconds(), snapTook.Seconds()/xfer.Seconds())
}

// indexedOn returns the vectors in the graphs of node i's replicas of the
// collection.
func indexedOn(c *Cluster, i int, name string) int {
	var ci struct {
		Indexed int `json:"indexed_vectors_count"`
	}
	c.MustDo(i, "GET", "/collections/"+name, nil, &ci)
	return ci.Indexed
}

// archiveShard copies a shard directory's files (as the checkpoint's hard
// links would be) and writes them as a snapshot archive to a file,
// returning the bytes archived and the time the archive took (the copy
// excluded).
func archiveShard(t *testing.T, shardDir, copyDir, out string) (int64, time.Duration) {
	t.Helper()
	if err := os.CopyFS(copyDir, os.DirFS(shardDir)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	filepath.Walk(copyDir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
		return nil
	})
	start := time.Now()
	pr, pw := io.Pipe()
	go func() {
		ms := &snapshot.Manifest{Kind: snapshot.KindFull}
		_, err := snapshot.WriteArchive(context.Background(), pw, ms, copyDir, nil)
		pw.CloseWithError(err)
	}()
	if _, err := io.Copy(f, pr); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return total, time.Since(start)
}

// TestCatchUpAfterDowntime stops the node of a backup replica for a while
// (60 s by default, SHOAL_BENCH_DOWN_SECONDS) under 200 writes per second,
// restarts it and measures how long until its replicas are Active again,
// checking that no checkpoint was needed. A benchmark, run on demand:
//
//	SHOAL_BENCH_CATCHUP=1 go test -run TestCatchUpAfterDowntime -v -timeout 20m ./internal/clustertest
func TestCatchUpAfterDowntime(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_CATCHUP") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_CATCHUP=1")
	}
	down := 60 * time.Second
	if s, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_DOWN_SECONDS")); err == nil && s > 0 {
		down = time.Duration(s) * time.Second
	}
	c := New(t, Options{Configure: func(_ int, cfg *config.Config) { cfg.Cluster.NodeDownAfter = config.Duration(2 * time.Second) }})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/cu", map[string]any{"vectors": map[string]any{"size": 128, "distance": "Cosine"},
		"shard_number": 3, "replication_factor": 2}, nil)
	pts := testPoints(20000, 128, 21)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond) // 200 writes/s
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			case <-tick.C:
			}
			p := pts[n%len(pts)]
			if code, raw := c.Do(n%2, "PUT", "/collections/cu/points?wait=true", map[string]any{"points": []point{p}}, nil); code != 200 {
				t.Errorf("write %d: %d %s", n, code, raw)
			}
			n++
		}
	}()
	time.Sleep(5 * time.Second)
	c.Stop(2)
	t.Logf("node 2 down for %v under writes", down)
	time.Sleep(down)
	start := time.Now()
	c.Start(2)
	deadline := start.Add(5 * time.Minute)
	for {
		v, err := replicasOf(c, "cu")
		if err == nil {
			all := true
			for _, rs := range v {
				for _, r := range rs {
					if r.Node == 2 && r.State != "Active" {
						all = false
					}
				}
			}
			if all && len(v) == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("replicas of the restarted node did not become Active")
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	close(stop)
	n := <-done
	var transfers int64
	for _, i := range c.Running() {
		k, _ := c.Nodes[i].Srv.Service().TransferStats()
		transfers += k
	}
	t.Logf("%d writes in all; node 2's replicas Active %v after its restart; %d checkpoint transfers", n, took.Round(time.Millisecond), transfers)
	if transfers != 0 {
		t.Errorf("the catch-up needed %d checkpoint transfers, want log only", transfers)
	}
	waitConverged(t, c, "cu", 3, 2, time.Minute)
}
