package shard

import (
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// BenchmarkCheckpointWriterStall measures how long a write waits behind a
// checkpoint (CheckpointCounted) of a shard whose memtable holds about
// 25 MB of unflushed vectors (8,000 × 784): a writer upserts one point at a
// time throughout, and the longest of its writes is reported (max-write-ms)
// next to the checkpoint's own time.
//
//	go test -run '^$' -bench CheckpointWriterStall -benchtime 5x ./internal/shard
func BenchmarkCheckpointWriterStall(b *testing.B) {
	opts := testOptions(b.TempDir())
	opts.Vectors = api.VectorsConfig{"": {Size: 784, Distance: api.DistanceEuclid}}
	s := openShard(b, opts)
	rng := rand.New(rand.NewPCG(1, 2))
	vec := func() []float32 {
		v := make([]float32, 784)
		for i := range v {
			v[i] = rng.Float32()
		}
		return v
	}
	next := uint64(0)
	fill := func(n int) {
		for n > 0 {
			var pts []api.PointStruct
			for range min(n, 256) {
				pts = append(pts, pt(next, vec(), nil))
				next++
			}
			n -= len(pts)
			apply(b, s, upsert(pts...))
		}
	}
	var worst, total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		fill(8000)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var maxWrite time.Duration
		one := vec()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := uint64(0); ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if _, err := s.Apply(bg, upsert(pt(1_000_000+k, one, nil))); err != nil {
					b.Error(err)
					return
				}
				maxWrite = max(maxWrite, time.Since(start))
			}
		}()
		time.Sleep(20 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		if _, _, err := s.CheckpointCounted(bg, filepath.Join(b.TempDir(), "ck"+strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		time.Sleep(20 * time.Millisecond)
		close(stop)
		wg.Wait()
		worst = max(worst, maxWrite)
		b.StartTimer()
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-write-ms")
}
