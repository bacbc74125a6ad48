package snapshot_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/snapshot"
)

const benchDim = 128

// loadBench creates a 2-shard collection with n points of benchDim floats
// and a small payload.
func loadBench(b *testing.B, n *node, points int) {
	b.Helper()
	shards := 2
	if err := n.svc.CreateCollection(bg, "bench", &api.CreateCollection{
		Vectors: api.VectorsConfig{"v": {Size: benchDim, Distance: "Cosine"}}, ShardNumber: &shards}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for start := 0; start < points; start += 1000 {
		var pts []api.PointStruct
		for i := start; i < min(start+1000, points); i++ {
			pts = append(pts, benchPoint(r, uint64(i)))
		}
		if _, err := n.svc.Upsert(bg, "bench", &api.UpsertPoints{Points: pts}, api.WriteParams{Wait: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPoint(r *rand.Rand, id uint64) api.PointStruct {
	v := make([]float32, benchDim)
	for j := range v {
		v[j] = r.Float32()
	}
	return api.PointStruct{ID: api.NumID(id), Vector: api.Vectors{"v": v}, Payload: api.Payload{"k": "x"}}
}

// BenchmarkWritesDuringSnapshot measures one upsert of 100 points (wait,
// synced) on a 20k-point collection, idle and while snapshots of the same
// collection are taken back to back. Compare the two ns/op.
func BenchmarkWritesDuringSnapshot(b *testing.B) {
	for _, mode := range []string{"idle", "snapshotting", "snapshotting-paced-20MBps"} {
		b.Run(mode, func(b *testing.B) {
			n := newNode(b)
			loadBench(b, n, 20000)
			mgr := n.mgr
			if mode == "snapshotting-paced-20MBps" {
				var err error
				mgr, err = snapshot.NewManager(snapshot.ManagerOptions{Source: n.hooks, Store: n.store, PeerID: 1, WriteBytesPerSecond: 20 << 20})
				if err != nil {
					b.Fatal(err)
				}
			}
			var (
				stop  atomic.Bool
				wg    sync.WaitGroup
				snaps atomic.Int64
				bytes atomic.Int64
			)
			if mode != "idle" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						d, err := mgr.CreateCollectionSnapshot(bg, "bench")
						if err != nil {
							b.Error(err)
							return
						}
						snaps.Add(1)
						bytes.Add(d.Size)
						mgr.DeleteCollectionSnapshot(bg, "bench", d.Name)
					}
				}()
			}
			r := rand.New(rand.NewPCG(3, 4))
			id := uint64(1 << 20)
			b.ResetTimer()
			for b.Loop() {
				pts := make([]api.PointStruct, 100)
				for i := range pts {
					pts[i] = benchPoint(r, id)
					id++
				}
				if _, err := n.svc.Upsert(bg, "bench", &api.UpsertPoints{Points: pts}, api.WriteParams{Wait: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			stop.Store(true)
			wg.Wait()
			if mode != "idle" {
				b.ReportMetric(float64(snaps.Load()), "snapshots")
				if snaps.Load() > 0 {
					b.ReportMetric(float64(bytes.Load())/float64(snaps.Load())/1e6, "MB/snapshot")
				}
			}
		})
	}
}

// BenchmarkCreateSnapshot measures checkpoint + archive of a 20k-point
// collection (SetBytes: archive size, so MB/s is archive throughput).
func BenchmarkCreateSnapshot(b *testing.B) {
	n := newNode(b)
	loadBench(b, n, 20000)
	var size int64
	for b.Loop() {
		d, err := n.mgr.CreateCollectionSnapshot(bg, "bench")
		if err != nil {
			b.Fatal(err)
		}
		size = d.Size
		b.StopTimer()
		n.mgr.DeleteCollectionSnapshot(bg, "bench", d.Name)
		b.StartTimer()
	}
	b.SetBytes(size)
	b.ReportMetric(float64(size)/1e6, "archive-MB")
}

// BenchmarkExtract measures verified extraction (hash of every file and of
// the archive, fsync) of the same archive.
func BenchmarkExtract(b *testing.B) {
	n := newNode(b)
	loadBench(b, n, 20000)
	d, err := n.mgr.CreateCollectionSnapshot(bg, "bench")
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(n.store.Root(), "bench", d.Name))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	parent := b.TempDir()
	i := 0
	for b.Loop() {
		dir := filepath.Join(parent, "x", string(rune('a'+i%26)))
		i++
		os.RemoveAll(filepath.Dir(dir))
		os.MkdirAll(filepath.Dir(dir), 0o755)
		if _, err := snapshot.Extract(context.Background(), bytes.NewReader(data), dir, snapshot.ReadOptions{ExpectedChecksum: d.Checksum}); err != nil {
			b.Fatal(err)
		}
	}
	_ = io.Discard
}
