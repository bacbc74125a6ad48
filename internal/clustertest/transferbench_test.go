package clustertest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"
)

// TestTransferNumbers measures one large unpaced checkpoint transfer over
// loopback against a local copy of the same replica in the same run: 2
// in-process nodes, one shard of 512-d vectors (SHOAL_BENCH_TRANSFER_POINTS,
// default 75,000: the size of one shard in TestHealNumbers) imported and
// indexed on one node, then replicated to the other with replicate_shard;
// the clock runs from the request until the new replica is Active. The
// local copy reads every file of the source replica and writes it to a new
// directory with one fsync per file. With SHOAL_BENCH_PROFILE=<dir> it
// writes CPU and block profiles of the transfer alone. A benchmark, run on
// demand (docs/benchmarks.md, "Healing"):
//
//	SHOAL_BENCH_TRANSFER=1 go test -run TestTransferNumbers -v -timeout 30m ./internal/clustertest
func TestTransferNumbers(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_TRANSFER") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_TRANSFER=1")
	}
	points := 75000
	if n, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_TRANSFER_POINTS")); err == nil && n > 0 {
		points = n
	}
	const dim = 512
	c := New(t, Options{Nodes: 2, Tick: 100 * time.Millisecond})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/tb", map[string]any{"vectors": map[string]any{"size": dim, "distance": "Dot"},
		"shard_number": 1, "replication_factor": 1}, nil)
	start := time.Now()
	importRandom(t, c, "tb", points, dim)
	if t.Failed() {
		return
	}
	waitGreen(t, c, []string{"tb"}, 30*time.Minute)
	t.Logf("imported and indexed %d points of %d dimensions in %s", points, dim, time.Since(start).Round(time.Second))

	var info struct {
		PeerID      uint64 `json:"peer_id"`
		LocalShards []struct {
			ShardID int `json:"shard_id"`
		} `json:"local_shards"`
	}
	src, dst := -1, -1
	var srcPeer, dstPeer uint64
	for i := range c.Nodes {
		info.LocalShards = nil
		c.MustDo(i, "GET", "/collections/tb/cluster", nil, &info)
		if len(info.LocalShards) > 0 {
			src, srcPeer = i, info.PeerID
		} else {
			dst, dstPeer = i, info.PeerID
		}
	}
	if src < 0 || dst < 0 {
		t.Fatalf("cannot find the source and the destination: %d, %d", src, dst)
	}
	gen := c.Nodes[src].Srv.Cluster().State().Collections["tb"].Generation
	shardDir := filepath.Join(c.Nodes[src].Cfg.Storage.StoragePath, "collections", "tb", "gen-"+strconv.FormatUint(gen, 10), "0")

	size, local := copyReplica(t, shardDir, filepath.Join(t.TempDir(), "copy"))

	stopProfiles := startProfiles(t, "")
	_, beforeBytes := c.Nodes[src].Srv.Service().TransferStats()
	start = time.Now()
	c.MustDo(dst, "POST", "/collections/tb/cluster", map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": srcPeer, "to_peer_id": dstPeer}}, nil)
	for {
		// A loaded machine may lose the Raft leader for a while (503):
		// ask again.
		var cl struct {
			LocalShards []struct {
				State string `json:"state"`
			} `json:"local_shards"`
		}
		if code, _ := c.Do(dst, "GET", "/collections/tb/cluster", nil, &cl); code == 200 && len(cl.LocalShards) == 1 && cl.LocalShards[0].State == "Active" {
			break
		}
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("transfer did not finish: %+v", cl)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	stopProfiles()
	_, afterBytes := c.Nodes[src].Srv.Service().TransferStats()
	wire := afterBytes - beforeBytes
	mb := float64(size) / 1e6
	t.Logf("replica of %.1f MB (%d points): transfer until Active %v = %.1f MB/s (%.1f MB on the wire); local copy %v = %.1f MB/s; ratio %.2f",
		mb, points, took.Round(time.Millisecond), mb/took.Seconds(), float64(wire)/1e6, local.Round(time.Millisecond), mb/local.Seconds(), local.Seconds()/took.Seconds())
	fmt.Fprintf(os.Stderr, "TRANSFER points=%d replica_mb=%.1f wire_mb=%.1f took=%s mb_s=%.1f local=%s local_mb_s=%.1f ratio=%.2f\n",
		points, mb, float64(wire)/1e6, took.Round(time.Millisecond), mb/took.Seconds(), local.Round(time.Millisecond), mb/local.Seconds(), local.Seconds()/took.Seconds())
	digests(t, c, "tb", 1, 2) // fails unless both replicas are equal
}

// copyReplica copies every file of a replica's directory to dir, one
// fsync per file and one per directory, and returns the bytes copied and
// the time the copy took: the local baseline of a transfer.
func copyReplica(t *testing.T, from, dir string) (int64, time.Duration) {
	t.Helper()
	start := time.Now()
	var total int64
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		out := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			if os.IsNotExist(err) { // a Pebble file removed meanwhile
				return nil
			}
			return err
		}
		defer in.Close()
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.CopyBuffer(f, in, make([]byte, 1<<20))
		if err != nil {
			return err
		}
		total += n
		return f.Sync()
	})
	if err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
	return total, time.Since(start)
}

// startProfiles starts a CPU and a block profile when SHOAL_BENCH_PROFILE
// names a directory, and returns the function that writes them there as
// <prefix>cpu.pprof and <prefix>block.pprof.
func startProfiles(t *testing.T, prefix string) func() {
	dir := os.Getenv("SHOAL_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cpu, err := os.Create(filepath.Join(dir, prefix+"cpu.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		t.Fatal(err)
	}
	runtime.SetBlockProfileRate(int(time.Millisecond))
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		runtime.SetBlockProfileRate(0)
		f, err := os.Create(filepath.Join(dir, prefix+"block.pprof"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("block").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
	}
}
