package collection

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// openAtomic opens a collection of 4 shards with two named vectors and
// points 1..n (each with both vectors and a payload), and checks that the
// points are spread over every shard.
func openAtomic(t *testing.T, n int) *Collection {
	t.Helper()
	c, err := Open(Options{Dir: t.TempDir(), Name: "atomic", Config: api.CollectionConfig{Params: api.CollectionParams{
		Vectors: api.VectorsConfig{
			"a": {Size: 3, Distance: api.DistanceEuclid},
			"b": {Size: 2, Distance: api.DistanceDot},
		},
		ShardNumber: 4,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pts := make([]api.PointStruct, n)
	for i := range pts {
		f := float32(i)
		pts[i] = api.PointStruct{ID: api.NumID(uint64(i + 1)),
			Vector:  api.Vectors{"a": {f, f + 1, f + 2}, "b": {f, -f}},
			Payload: api.Payload{"i": float64(i), "tag": "orig", "keep": true}}
	}
	if _, err := c.Update(context.Background(), &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts}}, true); err != nil {
		t.Fatal(err)
	}
	counts, err := c.ShardPointCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for si, n := range counts {
		if n == 0 {
			t.Fatalf("shard %d holds no point (%v): the test needs every shard", si, counts)
		}
	}
	return c
}

// state is everything readers can see of the collection (every point with
// its payload and vectors, in id order) and every shard's last sequence.
func state(t *testing.T, c *Collection) string {
	t.Helper()
	limit := 1 << 20
	res, err := c.Scroll(context.Background(), &api.ScrollRequest{Limit: &limit,
		WithPayload: api.PayloadAll, WithVector: &api.VectorSelector{Enable: true}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res.Points)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for _, s := range c.locals() {
		seqs = append(seqs, fmt.Sprint(s.LastSeq()))
	}
	return string(b) + " seqs=" + strings.Join(seqs, ",")
}

// TestMultiShardWriteIsWhole checks that an operation spanning several
// shards that names one missing point fails with Qdrant's not-found error
// and leaves every shard unchanged (no record, no sequence number), for
// each operation that requires its points to exist, with the missing id
// on the first, a middle or the last shard of the parts.
func TestMultiShardWriteIsWhole(t *testing.T) {
	const n = 40
	c := openAtomic(t, n)
	ctx := context.Background()
	ids := make([]api.PointID, n)
	for i := range ids {
		ids[i] = api.NumID(uint64(i + 1))
	}
	// A missing id owned by each shard in turn.
	missing := map[int]api.PointID{}
	for id := uint64(1000); len(missing) < c.n; id++ {
		s := c.router.ShardOf(api.NumID(id))
		if _, ok := missing[s]; !ok {
			missing[s] = api.NumID(id)
		}
	}
	key := "nested"
	ops := map[string]func(sel []api.PointID) *api.UpdateOperation{
		"set_payload": func(sel []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: api.Payload{"tag": "changed"}, Points: sel}}
		},
		"set_payload_key": func(sel []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: api.Payload{"x": 1.0}, Points: sel, Key: &key}}
		},
		"overwrite_payload": func(sel []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{OverwritePayload: &api.SetPayload{Payload: api.Payload{"only": true}, Points: sel}}
		},
		"delete_payload": func(sel []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{DeletePayload: &api.DeletePayload{Keys: []string{"tag", "keep"}, Points: sel}}
		},
		"clear_payload": func(sel []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{ClearPayload: &api.PointsSelector{Points: sel}}
		},
		"update_vectors": func(sel []api.PointID) *api.UpdateOperation {
			pv := make([]api.PointVectors, len(sel))
			for i, id := range sel {
				pv[i] = api.PointVectors{ID: id, Vector: api.Vectors{"b": {9, 9}}}
			}
			return &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: pv}}
		},
		"delete_vectors": func(sel []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: sel, Vector: []string{"a"}}}
		},
	}
	before := state(t, c)
	for name, mk := range ops {
		for s, miss := range missing {
			for _, pos := range []int{0, n / 2, n} {
				sel := append(append(append([]api.PointID(nil), ids[:pos]...), miss), ids[pos:]...)
				_, err := c.Update(ctx, mk(sel), true)
				want := api.ErrPointNotFound(miss).Message
				if api.KindOf(err) != api.KindNotFound || api.Message(err) != want {
					t.Fatalf("%s with missing %v (shard %d) at %d: err %v, want %q", name, miss, s, pos, err, want)
				}
				if after := state(t, c); after != before {
					t.Fatalf("%s with missing %v (shard %d) at %d changed the collection:\nbefore %s\nafter  %s", name, miss, s, pos, before, after)
				}
			}
		}
		// The same operation without the missing id applies on every shard.
		if _, err := c.Update(ctx, mk(ids), true); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		after := state(t, c)
		if after == before {
			t.Fatalf("%s without a missing id changed nothing", name)
		}
		before = after
	}
	// A batch of operations stops at the failing one: the ones before it
	// stay applied, the failing one leaves no trace.
	st := state(t, c)
	_, err := c.UpdateBatch(ctx, []api.UpdateOperation{
		{SetPayload: &api.SetPayload{Payload: api.Payload{"batch": 1.0}, Points: ids}},
		{SetPayload: &api.SetPayload{Payload: api.Payload{"second": true}, Points: append([]api.PointID{missing[3]}, ids...)}},
	}, true)
	if api.KindOf(err) != api.KindNotFound {
		t.Fatalf("batch with a failing second operation: %v", err)
	}
	recs, err := c.Get(ctx, ids, api.PayloadAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Payload["batch"] != 1.0 || r.Payload["second"] != nil {
			t.Fatalf("point %v after the batch: %v", r.ID, r.Payload)
		}
	}
	if state(t, c) == st {
		t.Fatal("the batch's first operation was not applied")
	}
}

// TestConcurrentMultiShardWrites runs writers of multi-shard operations at
// once: some over every point, some over random subsets (so that writers
// lock different sets of shards), some naming a missing point. Every
// operation must apply whole or not at all, and none may deadlock: at the
// end every point carries the payload of the same last whole-collection
// write, no trace of a failed one is left, and each shard's sequence
// counts exactly the successful operations that touched it.
func TestConcurrentMultiShardWrites(t *testing.T) {
	const n, writers, rounds = 64, 8, 30
	c := openAtomic(t, n)
	ctx := context.Background()
	ids := make([]api.PointID, n)
	for i := range ids {
		ids[i] = api.NumID(uint64(i + 1))
	}
	var missing api.PointID
	for id := uint64(1000); ; id++ {
		if c.router.ShardOf(api.NumID(id)) == 2 {
			missing = api.NumID(id)
			break
		}
	}
	base := make([]uint64, c.n)
	for i, s := range c.locals() {
		base[i] = s.LastSeq()
	}
	var applied [4]atomic.Uint64 // successful operations per shard
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Readers scroll meanwhile.
	wg.Add(1)
	go func() {
		defer wg.Done()
		limit := n
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Scroll(ctx, &api.ScrollRequest{Limit: &limit, WithPayload: api.PayloadAll}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for r := range rounds {
				var sel []api.PointID
				var pl api.Payload
				fail := false
				switch rng.IntN(3) {
				case 0: // every point
					sel, pl = ids, api.Payload{"w": float64(w), "r": float64(r)}
				case 1: // a random subset
					for _, id := range ids {
						if rng.IntN(4) == 0 {
							sel = append(sel, id)
						}
					}
					pl = api.Payload{"sub": float64(w*1000 + r)}
				default: // names a missing point
					sel = append(append([]api.PointID(nil), ids[:n/2]...), missing)
					sel = append(sel, ids[n/2:]...)
					pl, fail = api.Payload{"bad": true}, true
				}
				op := &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: pl, Points: sel}}
				if fail && rng.IntN(2) == 0 {
					pv := make([]api.PointVectors, len(sel))
					for i, id := range sel {
						pv[i] = api.PointVectors{ID: id, Vector: api.Vectors{"a": {-1, -1, -1}}}
					}
					op = &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: pv}}
				}
				_, err := c.Update(ctx, op, true)
				if fail {
					if api.KindOf(err) != api.KindNotFound {
						t.Errorf("operation naming a missing point: %v", err)
					}
					continue
				}
				if err != nil {
					t.Error(err)
					continue
				}
				touched := map[int]bool{}
				for _, id := range sel {
					touched[c.router.ShardOf(id)] = true
				}
				for s := range touched {
					applied[s].Add(1)
				}
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	recs, err := c.Get(ctx, ids, api.PayloadAll, &api.VectorSelector{Enable: true})
	if err != nil {
		t.Fatal(err)
	}
	var last api.Payload
	for _, r := range recs {
		if r.Payload["bad"] != nil {
			t.Fatalf("point %v carries a failed write: %v", r.ID, r.Payload)
		}
		if v := r.Vector["a"]; len(v) > 0 && v[0] == -1 {
			t.Fatalf("point %v carries a failed vector update: %v", r.ID, r.Vector)
		}
		if last == nil {
			last = r.Payload
			continue
		}
		if r.Payload["w"] != last["w"] || r.Payload["r"] != last["r"] {
			t.Fatalf("points disagree on the last whole-collection write: %v has w=%v r=%v, another w=%v r=%v",
				r.ID, r.Payload["w"], r.Payload["r"], last["w"], last["r"])
		}
	}
	for i, s := range c.locals() {
		if got, want := s.LastSeq()-base[i], applied[i].Load(); got != want {
			t.Errorf("shard %d applied %d operations, %d succeeded on it", i, got, want)
		}
	}
}
