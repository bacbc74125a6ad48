package collection

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// TestReconfigure checks that a collection gives up, gains and reopens
// single replicas while writers and readers keep going: the replicas kept
// stay the same open shards, a dropped replica's directory may be removed
// in Between, a gained one opens empty, a reopened one takes the files
// Between put in place, and no call fails meanwhile.
func TestReconfigure(t *testing.T) {
	cfg := api.CollectionConfig{Params: api.CollectionParams{
		Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceEuclid}}, ShardNumber: 3}}
	// elsewhere stands for the replicas on other peers: a collection of
	// its own, holding every shard.
	elsewhere, err := Open(Options{Dir: t.TempDir(), Name: "c", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer elsewhere.Close()
	route := func(i int, local *shard.Shard) Shard {
		if local != nil {
			return local
		}
		return elsewhere.LocalShard(i)
	}
	dir := t.TempDir()
	c, err := Open(Options{Dir: dir, Name: "c", Config: cfg, Local: func(i int) bool { return i != 2 }, Route: route})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bg := context.Background()
	upsert := func(from, n int) error {
		pts := make([]api.PointStruct, n)
		for k := range pts {
			f := float32(from + k)
			pts[k] = api.PointStruct{ID: api.NumID(uint64(from + k)), Vector: api.Vectors{"": {f, -f}}}
		}
		_, err := c.Update(bg, &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts}}, true)
		return err
	}
	if err := upsert(1, 300); err != nil {
		t.Fatal(err)
	}
	kept := c.LocalShard(1)
	before1, _ := kept.Count(bg, nil, true)
	if before1 == 0 || c.LocalShard(2) != nil {
		t.Fatalf("setup: shard 1 holds %d points, shard 2 local: %v", before1, c.LocalShard(2) != nil)
	}
	// A checkpoint of shard 1 now, installed later by a reopen.
	ckpt := filepath.Join(t.TempDir(), "ckpt")
	if _, err := kept.Checkpoint(bg, ckpt); err != nil {
		t.Fatal(err)
	}

	// Writers and readers run through both reconfigurations.
	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		calls  atomic.Int64
		failed atomic.Value
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; !stop.Load(); k++ {
				var err error
				if w == 0 {
					err = upsert(1000+k%500, 5)
				} else {
					_, err = c.Count(bg, nil, true)
				}
				if err != nil {
					failed.Store(err)
					return
				}
				calls.Add(1)
			}
		}()
	}

	// Give up shard 0 (its directory removed), gain shard 2.
	err = c.Reconfigure(Reconfig{Config: cfg, Local: func(i int) bool { return i != 0 }, Route: route,
		Between: func() error { return os.RemoveAll(filepath.Join(dir, "0")) }})
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalShard(0) != nil || c.LocalShard(1) != kept || c.LocalShard(2) == nil {
		t.Fatalf("after the first change: shard 0 local %v, shard 1 kept %v, shard 2 local %v",
			c.LocalShard(0) != nil, c.LocalShard(1) == kept, c.LocalShard(2) != nil)
	}
	if _, err := os.Stat(filepath.Join(dir, "0")); !os.IsNotExist(err) {
		t.Fatalf("the dropped replica's directory is still there: %v", err)
	}
	if n, err := c.LocalShard(2).Count(bg, nil, true); err != nil || n != 0 {
		t.Fatalf("the gained replica holds %d points (%v), want an empty one", n, err)
	}

	// Reopen shard 1 with the checkpoint's files.
	err = c.Reconfigure(Reconfig{Config: cfg, Local: func(i int) bool { return i != 0 }, Route: route, Reopen: []int{1},
		Between: func() error {
			if err := os.RemoveAll(filepath.Join(dir, "1")); err != nil {
				return err
			}
			return os.Rename(ckpt, filepath.Join(dir, "1"))
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("a call failed during the changes: %v", err)
	}
	if calls.Load() == 0 {
		t.Fatal("no call ran")
	}
	re := c.LocalShard(1)
	if re == nil || re == kept {
		t.Fatal("shard 1 was not opened again")
	}
	// The reopened replica holds the checkpoint's points (1..300 of shard
	// 1) plus whatever writers put there after it was reopened.
	for id := uint64(1); id <= 300; id++ {
		if c.router.ShardOf(api.NumID(id)) != 1 {
			continue
		}
		recs, err := re.Get(bg, []api.PointID{api.NumID(id)}, nil, nil)
		if err != nil || len(recs) != 1 {
			t.Fatalf("point %d missing from the reopened replica: %v", id, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
