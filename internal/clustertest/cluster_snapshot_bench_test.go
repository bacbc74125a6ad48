package clustertest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/texmex"
)

// TestClusterSnapshotNumbers measures cluster snapshots on a 3-node
// cluster holding Fashion-MNIST twice (two collections, 3 shards,
// replication factor 2): write throughput while a cluster snapshot runs
// against the same writers without one for as long (alternating rounds,
// SHOAL_BENCH_ROUNDS, default 4, each window from an indexed state, after
// an unmeasured warm-up), the
// snapshot's time and size, the restore into a fresh 3-node cluster, and
// search recall of the source and the restored cluster. A benchmark, run
// on demand (docs/benchmarks.md, "Cluster snapshots"):
//
//	SHOAL_BENCH_CLUSTER_SNAPSHOT=1 go test -run TestClusterSnapshotNumbers -v -timeout 60m ./internal/clustertest
//
// SHOAL_DATA names the data set's directory, SHOAL_BENCH_POINTS the points
// per collection (default 60,000: all of them). SHOAL_BENCH_WRITES says
// what the writers write: "reupsert" (the default) upserts fm-a's points
// again, which makes every window's writes also cost graph tombstones,
// repairs or rebuilds, and shard compactions, whose timing varies from
// window to window far more than a snapshot's effect; "insert" adds new
// points to fm-a (new ids; each vector one of the data set's with its
// elements shuffled, by a permutation of its own for each pass over the
// data set: as long and as dense as the data, but far from every query,
// so that recall still measures the data set's neighbours; the
// collection grows by each window's writes, and a window longer than
// 10 s indexes them). SHOAL_BENCH_RATE_MB paces the snapshot's bytes,
// SHOAL_BENCH_CPU_SHARE sets snapshots.cpu_share_during_writes (0: no
// limit, for comparison).
func TestClusterSnapshotNumbers(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_CLUSTER_SNAPSHOT") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_CLUSTER_SNAPSHOT=1")
	}
	dir := os.Getenv("SHOAL_DATA")
	if dir == "" {
		dir = "/work/shared/data/fashion-mnist-784-euclidean"
	}
	n := 60000
	if v, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_POINTS")); err == nil && v > 0 {
		n = v
	}
	base, err := texmex.ReadFvecs(filepath.Join(dir, "base.fvecs.gz"), n)
	if err != nil {
		t.Fatalf("%v (set SHOAL_DATA to the data set's directory)", err)
	}
	queries, err := texmex.ReadFvecs(filepath.Join(dir, "query.fvecs.gz"), 200)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := texmex.ReadIvecs(filepath.Join(dir, "groundtruth.ivecs.gz"), 200)
	if err != nil {
		t.Fatal(err)
	}
	// SHOAL_BENCH_RATE_MB paces the snapshot: each shard's fetch
	// (cluster.transfer_rate_limit_mb) and the archive's writing
	// (snapshots.write_rate_mb).
	rate, _ := strconv.Atoi(os.Getenv("SHOAL_BENCH_RATE_MB"))
	// SHOAL_BENCH_CPU_SHARE sets snapshots.cpu_share_during_writes (unset:
	// the default; 0: no limit).
	share := os.Getenv("SHOAL_BENCH_CPU_SHARE")
	// The production Raft tick (100 ms): the harness's 20 ms, made for
	// quick failovers in tests, lets a leader whose heartbeats wait 100 ms
	// for a core step down, and the benchmark's load kept the cluster in
	// elections for most of its run.
	src := New(t, Options{Tick: 100 * time.Millisecond, Configure: func(i int, cfg *config.Config) {
		fastFailure(i, cfg)
		cfg.Cluster.TransferRateLimitMB = rate
		cfg.Snapshots = map[string]any{"write_rate_mb": rate}
		if share != "" {
			cfg.Snapshots["cpu_share_during_writes"] = share
		}
	}})
	for i := range src.Nodes {
		src.Start(i)
	}
	if err := src.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot pacing: %d MiB/s (0: unpaced); CPU share during writes: %q (empty: the default)", rate, share)
	dial := func(addr string) qdrant.PointsClient {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return qdrant.NewPointsClient(conn)
	}
	var clients []qdrant.PointsClient
	for _, nd := range src.Nodes {
		clients = append(clients, dial(nd.Srv.GRPCAddr()))
	}
	wait := true
	// upsert writes points lo..hi-1: point i has id i and the vector
	// vector(i).
	var permMu sync.Mutex
	var perms [][]int // perms[p] shuffles the vectors of pass p+1
	vector := func(i int) []float32 {
		pass, v := i/len(base), base[i%len(base)]
		if pass == 0 {
			return v
		}
		permMu.Lock()
		for len(perms) < pass {
			perms = append(perms, rand.New(rand.NewPCG(uint64(len(perms)+1), 7)).Perm(len(v)))
		}
		perm := perms[pass-1]
		permMu.Unlock()
		out := make([]float32, len(v))
		for j, k := range perm {
			out[j] = v[k]
		}
		return out
	}
	upsert := func(name string, lo, hi int, c qdrant.PointsClient) error {
		pts := make([]*qdrant.PointStruct, 0, hi-lo)
		for i := lo; i < hi; i++ {
			pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i)), Vectors: qdrant.NewVectorsDense(vector(i))})
		}
		_, err := c.Upsert(context.Background(), &qdrant.UpsertPoints{CollectionName: name, Wait: &wait, Points: pts})
		return err
	}
	colls := []string{"fm-a", "fm-b"}
	loadStart := time.Now()
	for _, name := range colls {
		// A loaded machine may lose the Raft leader for a moment: the
		// create is retried while the cluster answers 503.
		for try := 0; ; try++ {
			code, raw := src.Do(0, "PUT", "/collections/"+name, map[string]any{"vectors": map[string]any{"size": 784, "distance": "Euclid"},
				"shard_number": 3, "replication_factor": 2}, nil)
			if code == 200 || (try > 0 && code == 400 && strings.Contains(string(raw), "already exists")) {
				break
			}
			if code != 503 || try == 30 {
				t.Fatalf("PUT /collections/%s: %d %s", name, code, raw)
			}
			time.Sleep(time.Second)
		}
		var wg sync.WaitGroup
		var next atomic.Int64
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					lo := int(next.Add(256)) - 256
					if lo >= len(base) {
						return
					}
					if err := upsert(name, lo, min(lo+256, len(base)), clients[w%len(clients)]); err != nil {
						t.Errorf("load %s: %v", name, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	if t.Failed() {
		return
	}
	t.Logf("loaded %d points into each of %v in %s", len(base), colls, time.Since(loadStart).Round(time.Second))
	// The measurements start once every replica has indexed its points
	// (status green everywhere), so that indexing does not weigh on one
	// round more than another.
	waitGreen(t, src, colls, 20*time.Minute)
	t.Logf("indexed after %s", time.Since(loadStart).Round(time.Second))

	// The writers write to fm-a in batches of 64, two at a time,
	// round-robin over the nodes: new points (ids from len(base) on, one
	// counter over all windows) or fm-a's points again. New points are
	// indexed between the windows (settled), as their inserts yield to
	// the writes for up to 10 s.
	writes := cmp.Or(os.Getenv("SHOAL_BENCH_WRITES"), "reupsert")
	if writes != "insert" && writes != "reupsert" {
		t.Fatalf("SHOAL_BENCH_WRITES=%q: want insert or reupsert", writes)
	}
	t.Logf("writers: %s", writes)
	var nextNew atomic.Int64
	nextNew.Store(int64(len(base)))
	var latMu sync.Mutex
	var lats []time.Duration // the batch latencies of the last window
	writeFor := func(during func()) (float64, time.Duration) {
		var written atomic.Int64
		latMu.Lock()
		lats = lats[:0]
		latMu.Unlock()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := w; ; k += 2 {
					select {
					case <-stop:
						return
					default:
					}
					lo := (k * 64) % (len(base) - 64)
					if writes == "insert" {
						lo = int(nextNew.Add(64)) - 64
					}
					t0 := time.Now()
					if err := upsert("fm-a", lo, lo+64, clients[k%len(clients)]); err != nil {
						t.Errorf("write: %v", err)
						return
					}
					d := time.Since(t0)
					if d > time.Second {
						t.Logf("slow batch: %v from %s through node %d", d, t0.UTC().Format("15:04:05.000"), k%len(clients))
					}
					latMu.Lock()
					lats = append(lats, d)
					latMu.Unlock()
					written.Add(64)
				}
			}()
		}
		start := time.Now()
		during()
		took := time.Since(start)
		close(stop)
		wg.Wait()
		return float64(written.Load()) / took.Seconds(), took
	}
	var snap clusterSnap
	var idle, busy []float64
	// Each window starts with every replica indexed (green): the writers
	// re-upsert points, which gives the indexers work, and indexers yield
	// to writes for up to 10 s before they insert anyway, so a window
	// that started with a backlog, or ran longer than the other, would
	// measure the indexers' cycle rather than the snapshot. The window
	// without a snapshot lasts as long as the snapshot's; even rounds
	// run it first (as long as the last snapshot, 10 s at first), odd
	// rounds after the snapshot, so that neither window always follows
	// the other.
	rounds := 4
	if v, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	last := 10 * time.Second
	var cpuIdle, cpuBusy []float64
	// With SHOAL_BENCH_PROFILE=<dir>, round 1's windows are profiled
	// (idle-*.pprof, snap-*.pprof).
	profile := func(round int, prefix string) func() {
		if round != 1 {
			return func() {}
		}
		return startProfiles(t, prefix)
	}
	// latencies describes the last window's batch latencies.
	latencies := func() string {
		latMu.Lock()
		defer latMu.Unlock()
		if len(lats) == 0 {
			return "no batches"
		}
		slices.Sort(lats)
		q := func(f float64) time.Duration {
			return lats[min(len(lats)-1, int(f*float64(len(lats))))].Round(time.Millisecond)
		}
		return fmt.Sprintf("batch p50 %s, p99 %s, max %s", q(0.5), q(0.99), lats[len(lats)-1].Round(time.Millisecond))
	}
	// settled waits until every replica of both collections has indexed,
	// repaired and reachability-checked its graph: the writers' re-upserts
	// leave graph tombstones and unindexed offsets behind them, and a
	// window that began during that work would measure it.
	settled := func() {
		waitGreen(t, src, colls, 20*time.Minute)
		for _, name := range colls {
			waitSettled(t, src, name, 3)
		}
	}
	var idleLat, busyLat []string
	without := func(round int, d time.Duration) {
		settled()
		c0 := cpuSeconds()
		stop := profile(round, "idle-")
		pps, _ := writeFor(func() { time.Sleep(d) })
		stop()
		idleLat = append(idleLat, latencies())
		idle = append(idle, pps)
		cpuIdle = append(cpuIdle, (cpuSeconds()-c0)/d.Seconds())
	}
	// A warm-up, not measured: a snapshot window, 30 s more of writes,
	// and another snapshot window (whose length round 0's window without
	// one takes). The writers'
	// first re-upserts run with no dead offsets yet (a shard compacts only
	// past 65,536, then every 20–30 s at these rates), so without it round
	// 0 compared a guessed 10 s window before the shards' first
	// compactions with a snapshot window holding all of them (0.41–0.64×
	// in round 0 against 0.73–0.99× in the later rounds of one run), and
	// a warm-up of the snapshot alone left them all to round 0's window
	// without one (2.91×).
	// The warm-up's first snapshot, of data without dead offsets yet, is
	// shorter than the later ones (10 s against 30–45 s), so a second one
	// after the 30 s gives round 0's window its length.
	settled()
	_, first := writeFor(func() { snap = createAndWait(t, src, 1, -1) })
	writeFor(func() { time.Sleep(30 * time.Second) })
	settled()
	_, last = writeFor(func() { snap = createAndWait(t, src, 1, -2) })
	t.Logf("warm-up: a snapshot in %s, 30 s of writes, a snapshot in %s (%s)", first.Round(time.Millisecond), last.Round(time.Millisecond), latencies())
	for round := range rounds {
		if round%2 == 0 {
			without(round, last)
		}
		settled()
		c0 := cpuSeconds()
		stop := profile(round, "snap-")
		pps, took := writeFor(func() { snap = createAndWait(t, src, 1, round) })
		stop()
		busyLat = append(busyLat, latencies())
		busy = append(busy, pps)
		cpuBusy = append(cpuBusy, (cpuSeconds()-c0)/took.Seconds())
		last = took
		if round%2 == 1 {
			without(round, took)
		}
		t.Logf("round %d: %.0f points/s without a snapshot (%.2f cores; %s), %.0f during one (%.2f cores; %s; %.2f×); snapshot %s: %.1f MB in %s",
			round, idle[round], cpuIdle[round], idleLat[round], busy[round], cpuBusy[round], busyLat[round], busy[round]/idle[round], snap.Name, float64(snap.Size)/1e6, took.Round(time.Millisecond))
	}
	if t.Failed() {
		return
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	t.Logf("writes: %.0f points/s idle, %.0f during a cluster snapshot: ratio %.2f (target >= 0.8)", mean(idle), mean(busy), mean(busy)/mean(idle))

	recall := func(c *Cluster, name string) float64 {
		hits := 0
		for qi, q := range queries {
			var res struct {
				Points []struct {
					ID int `json:"id"`
				} `json:"points"`
			}
			c.MustDo(qi%len(c.Nodes), "POST", "/collections/"+name+"/points/query", map[string]any{"query": q, "limit": 10}, &res)
			want := map[int]bool{}
			for _, id := range truth[qi][:10] {
				if int(id) < len(base) {
					want[int(id)] = true
				}
			}
			for _, p := range res.Points {
				if want[p.ID] {
					hits++
				}
			}
		}
		return float64(hits) / float64(10*len(queries))
	}
	for _, name := range colls {
		waitConverged(t, src, name, 3, 2, 5*time.Minute)
	}
	srcRecall := map[string]float64{}
	for _, name := range colls {
		srcRecall[name] = recall(src, name)
	}

	dst := startCluster(t, 3)
	start := time.Now()
	location := "http://" + src.Nodes[1].Srv.HTTPAddr() + "/cluster/snapshots/" + snap.Name
	// The harness's requests time out after a minute; a restore on a
	// loaded machine may take longer.
	body, _ := json.Marshal(map[string]any{"location": location, "checksum": snap.Checksum})
	resp, err := (&http.Client{Timeout: 30 * time.Minute}).Post("http://"+dst.Nodes[0].Srv.HTTPAddr()+"/cluster/snapshots/recover", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("restore: %d %s", resp.StatusCode, raw)
	}
	restoreTook := time.Since(start)
	for _, name := range colls {
		waitConverged(t, dst, name, 3, 2, 5*time.Minute)
		t.Logf("%s: recall@10 %.4f on the source, %.4f restored", name, srcRecall[name], recall(dst, name))
	}
	t.Logf("restore of %s (%.1f MB, %d points) into a fresh 3-node cluster: %s", snap.Name, float64(snap.Size)/1e6, snap.Points, restoreTook.Round(time.Millisecond))
}

// createAndWait creates a cluster snapshot through node i and waits for
// it (with a client that outlasts the harness's one-minute timeout), so
// that a failed snapshot fails the benchmark with its error.
func createAndWait(t *testing.T, c *Cluster, i, round int) clusterSnap {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"labels": map[string]string{"round": strconv.Itoa(round)}})
	resp, err := (&http.Client{Timeout: 30 * time.Minute}).Post("http://"+c.Nodes[i].Srv.HTTPAddr()+"/cluster/snapshots", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Result clusterSnap `json:"result"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &env) != nil {
		t.Fatalf("POST /cluster/snapshots: %d %s", resp.StatusCode, raw)
	}
	return env.Result
}

// cpuSeconds returns the user and system CPU time this process (the whole
// in-process cluster and its clients) has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
