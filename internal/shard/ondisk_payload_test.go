package shard

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// payloadPair is the same shard twice, payloads in memory and on disk,
// with payload indexes; and a reference without them, whose filters are
// evaluated on payloads alone.
type payloadPair struct {
	t              *testing.T
	mem, disk, ref *Shard
	memDir         string
	diskDir        string
	opts           func(dir string, onDisk bool) Options
}

func openPayloadPair(t *testing.T, indexes map[string]api.PayloadFieldSchema) *payloadPair {
	p := &payloadPair{t: t, memDir: t.TempDir(), diskDir: t.TempDir()}
	p.opts = func(dir string, onDisk bool) Options {
		o := testOptions(dir)
		o.OnDiskPayload = onDisk
		o.PayloadIndexes = indexes
		return o
	}
	p.reopen(false)
	p.ref = openShard(t, testOptions(t.TempDir()))
	t.Cleanup(func() {
		p.mem.Close()
		p.disk.Close()
	})
	return p
}

// reopen opens both shards (closing them first when close is set).
func (p *payloadPair) reopen(close bool) {
	p.t.Helper()
	if close {
		if err := p.mem.Close(); err != nil {
			p.t.Fatal(err)
		}
		if err := p.disk.Close(); err != nil {
			p.t.Fatal(err)
		}
	}
	var err error
	if p.mem, err = Open(p.opts(p.memDir, false)); err != nil {
		p.t.Fatal(err)
	}
	if p.disk, err = Open(p.opts(p.diskDir, true)); err != nil {
		p.t.Fatal(err)
	}
	if p.disk.payloads != nil {
		p.t.Fatalf("on-disk payloads: the shard holds a payload slice of %d", len(p.disk.payloads))
	}
}

// apply applies op to both; both must succeed or fail alike.
func (p *payloadPair) apply(op *api.UpdateOperation) {
	p.t.Helper()
	_, errM := p.mem.Apply(bg, op)
	_, errD := p.disk.Apply(bg, op)
	_, errR := p.ref.Apply(bg, op)
	if (errM == nil) != (errD == nil) || (errM != nil && errM.Error() != errD.Error()) || (errR == nil) != (errD == nil) {
		p.t.Fatalf("operation %s: in memory %v, on disk %v, reference %v", jsonOf(p.t, op), errM, errD, errR)
	}
}

// same checks that the on-disk shard answers every read as the one in
// memory and as the reference.
func (p *payloadPair) same(filters []string) {
	p.t.Helper()
	p.compare(p.mem, "in memory", filters)
	p.compare(p.ref, "reference", filters)
	// The payload storage size (strict mode's) is the JSON of the live
	// points' payloads, whichever way it was reached.
	recs, err := p.ref.Scroll(bg, ScrollRequest{Limit: 1000, WithPayload: api.PayloadAll})
	if err != nil {
		p.t.Fatal(err)
	}
	var want uint64
	for _, r := range recs {
		if len(r.Payload) > 0 {
			b, err := json.Marshal(r.Payload)
			if err != nil {
				p.t.Fatal(err)
			}
			want += uint64(len(b))
		}
	}
	for name, s := range map[string]*Shard{"in memory": p.mem, "on disk": p.disk, "reference": p.ref} {
		if got := s.Stats().PayloadBytes; got != want {
			p.t.Fatalf("%s: payload bytes %d, the payloads' JSON %d", name, got, want)
		}
	}
	// The indexes hold exactly the points with values at their keys (a
	// moved or changed point's old values removed).
	for key, f := range map[string]string{"tag": `{"must":[{"key":"tag","match":{"any":["a","b","c"]}}]}`, "n": `{"must":[{"key":"n","range":{"gte":0}}]}`} {
		want, err := p.ref.Count(bg, filterJSON(p.t, f), true)
		if err != nil {
			p.t.Fatal(err)
		}
		p.disk.mu.RLock()
		got := p.disk.pidx.info()[key].Points
		p.disk.mu.RUnlock()
		if got != want {
			p.t.Fatalf("index on %s holds %d points, %d have values there", key, got, want)
		}
	}
}

func (p *payloadPair) compare(other *Shard, name string, filters []string) {
	p.t.Helper()
	t := p.t
	eq := func(what string, a, b any, errA, errB error) {
		t.Helper()
		if errA != nil || errB != nil {
			t.Fatalf("%s: %s %v, on disk %v", what, name, errA, errB)
		}
		if ja, jb := jsonOf(t, a), jsonOf(t, b); ja != jb {
			t.Fatalf("%s:\n%s %s\non disk %s", what, name, ja, jb)
		}
	}
	dm, nm, _, errM := other.Digest(bg)
	dd, nd, _, errD := p.disk.Digest(bg)
	eq("digest", []any{dm, nm}, []any{dd, nd}, errM, errD)
	var ids []api.PointID
	for i := range 70 {
		ids = append(ids, api.NumID(uint64(i)))
	}
	gm, errM := other.Get(bg, ids, api.PayloadAll, nil)
	gd, errD := p.disk.Get(bg, ids, api.PayloadAll, nil)
	eq("get", gm, gd, errM, errD)
	for _, fs := range filters {
		f := filterJSON(t, fs)
		for _, sel := range []*api.PayloadSelector{nil, api.PayloadAll, {Enable: true, Include: []string{"tag"}}} {
			sm, errM := other.Scroll(bg, ScrollRequest{Limit: 100, Filter: f, WithPayload: sel})
			sd, errD := p.disk.Scroll(bg, ScrollRequest{Limit: 100, Filter: f, WithPayload: sel})
			eq("scroll "+fs, sm, sd, errM, errD)
		}
		for _, exact := range []bool{true, false} {
			req := SearchRequest{Vector: []float32{1, 0.5, 0.25, 0}, Limit: 10, Filter: f, WithPayload: api.PayloadAll, Params: api.SearchParams{Exact: exact}}
			hm, errM := other.Search(bg, req)
			hd, errD := p.disk.Search(bg, req)
			eq(fmt.Sprintf("search (exact %v) %s", exact, fs), hm, hd, errM, errD)
		}
		cm, errM := other.Count(bg, f, true)
		cd, errD := p.disk.Count(bg, f, true)
		eq("count "+fs, cm, cd, errM, errD)
		fm, errM := other.Facet(bg, "tag", f, 10, true)
		fd, errD := p.disk.Facet(bg, "tag", f, 10, true)
		eq("facet tag "+fs, fm, fd, errM, errD)
		fm, errM = other.Facet(bg, "n", f, 10, true)
		fd, errD = p.disk.Facet(bg, "n", f, 10, true)
		eq("facet n "+fs, fm, fd, errM, errD)
	}
}

var payloadPairFilters = []string{
	`{"must":[{"key":"tag","match":{"value":"a"}}]}`,
	`{"must":[{"key":"tag","match":{"any":["b","c"]}}]}`,
	`{"must":[{"key":"n","range":{"gte":10,"lt":40}}]}`,
	`{"must":[{"key":"tag","match":{"value":"a"}},{"key":"n","range":{"lt":30}}]}`,
	`{"must_not":[{"key":"tag","match":{"value":"a"}}]}`,
	`{"should":[{"key":"free","match":{"value":"x"}},{"key":"tag","match":{"value":"c"}}]}`,
	`{"must":[{"key":"free","match":{"value":"y"}}]}`,
	`{"must":[{"is_empty":{"key":"tag"}}]}`,
	`{"must":[{"has_id":[1,5,9,33]}]}`,
}

// TestOnDiskPayloadSameAsMemory: a shard keeping payloads on disk answers
// every read (get, scroll, searches exact and by graph, count, facet,
// digest) exactly as one keeping them in memory, through random upserts,
// payload changes and deletes, after a reopen, a compaction and a payload
// index created on existing data; and it holds no payload slice.
func TestOnDiskPayloadSameAsMemory(t *testing.T) {
	seed := rand.Uint64()
	if s := os.Getenv("SHOAL_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (SHOAL_TEST_SEED reproduces)", seed)
	r := rand.New(rand.NewPCG(seed, 3))
	p := openPayloadPair(t, map[string]api.PayloadFieldSchema{"tag": {Type: api.SchemaKeyword}, "n": {Type: api.SchemaInteger}})
	tags := []string{"a", "b", "c"}
	randPayload := func() api.Payload {
		switch r.IntN(5) {
		case 0:
			return nil
		case 1:
			return api.Payload{"free": []string{"x", "y"}[r.IntN(2)]}
		}
		pl := fmt.Sprintf(`{"tag":%q,"n":%d,"free":%q,"nested":{"k":[1,2,{"z":%d}]}}`, tags[r.IntN(3)], r.IntN(50), []string{"x", "y"}[r.IntN(2)], r.IntN(9))
		return payload(t, pl)
	}
	vec := func() []float32 { return []float32{r.Float32(), r.Float32(), r.Float32(), r.Float32()} }
	step := func() {
		id := uint64(r.IntN(60))
		switch r.IntN(9) {
		case 0, 1, 2:
			var pts []api.PointStruct
			for range 1 + r.IntN(5) {
				pts = append(pts, pt(uint64(r.IntN(60)), vec(), randPayload()))
			}
			p.apply(upsert(pts...))
		case 3:
			p.apply(&api.UpdateOperation{SetPayload: &api.SetPayload{Points: []api.PointID{api.NumID(id)}, Payload: api.Payload{"tag": tags[r.IntN(3)]}}})
		case 4:
			p.apply(&api.UpdateOperation{OverwritePayload: &api.SetPayload{Filter: filterJSON(t, `{"must":[{"key":"free","match":{"value":"y"}}]}`), Payload: api.Payload{"n": num(r.IntN(50)), "free": "x"}}})
		case 5:
			p.apply(&api.UpdateOperation{DeletePayload: &api.DeletePayload{Points: []api.PointID{api.NumID(id)}, Keys: []string{"tag"}}})
		case 6:
			p.apply(&api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(id)}}})
		case 8:
			p.apply(&api.UpdateOperation{ClearPayload: &api.PointsSelector{Filter: filterJSON(t, `{"must":[{"key":"n","range":{"gt":45}}]}`)}})
		case 7:
			p.apply(&api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(id), Vector: api.Vectors{"": vec()}}}}})
		}
	}
	for i := range 300 {
		step()
		if i%50 == 49 {
			p.same(payloadPairFilters)
		}
	}
	p.reopen(true)
	p.same(payloadPairFilters)
	for range 100 {
		step()
	}
	for _, s := range []*Shard{p.mem, p.disk} {
		if err := s.Compact(bg); err != nil {
			t.Fatal(err)
		}
	}
	p.same(payloadPairFilters)
	for range 50 {
		step()
	}
	for _, s := range []*Shard{p.mem, p.disk} {
		if err := s.CreatePayloadIndex(bg, "free", api.PayloadFieldSchema{Type: api.SchemaKeyword}); err != nil {
			t.Fatal(err)
		}
	}
	p.same(payloadPairFilters)
	p.reopen(true)
	p.same(payloadPairFilters)
}

// num is n as a payload number.
func num(n int) any { return json.Number(strconv.Itoa(n)) }

// TestOnDiskPayloadLeavesTheHeap: the payloads of 20,000 points of about
// 1 KB each take tens of megabytes of heap in memory and almost none on
// disk.
func TestOnDiskPayloadLeavesTheHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's allocations blur the heap measured here")
	}
	const n = 20_000
	grow := func(onDisk bool) uint64 {
		opts := testOptions(t.TempDir())
		opts.OnDiskPayload = onDisk
		opts.PayloadIndexes = map[string]api.PayloadFieldSchema{"tag": {Type: api.SchemaKeyword}}
		s := openShard(t, opts)
		for i := 0; i < n; i += 1000 {
			var pts []api.PointStruct
			for j := i; j < i+1000; j++ {
				text := fmt.Sprintf("%0900d", j)
				pts = append(pts, pt(uint64(j), []float32{1, 0, 0, float32(j)}, api.Payload{"tag": strconv.Itoa(j % 7), "text": text, "list": []any{"a", "b", num(j)}}))
			}
			apply(t, s, upsert(pts...))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		s = openShard(t, opts)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if c, err := s.Count(bg, filterJSON(t, `{"must":[{"key":"tag","match":{"value":"3"}}]}`), true); err != nil || c != n/7 {
			t.Fatalf("count tag 3: %d %v", c, err)
		}
		rec := getOne(t, s, 4321)
		if rec == nil || rec.Payload["text"] != fmt.Sprintf("%0900d", 4321) {
			t.Fatalf("payload of 4321: %v", rec)
		}
		runtime.KeepAlive(s)
		return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	}
	mem, disk := grow(false), grow(true)
	t.Logf("heap after open: payloads in memory %.1f MB, on disk %.1f MB", float64(mem)/1e6, float64(disk)/1e6)
	if mem < n*900 {
		t.Fatalf("payloads in memory took %d bytes of heap, want at least %d (the test measures nothing)", mem, n*900)
	}
	if disk > mem/4 {
		t.Fatalf("payloads on disk: %d bytes of heap, in memory %d", disk, mem)
	}
}

// TestOnDiskPayloadReadersSeePublishedState: readers of on-disk payloads
// see each operation whole and only once it is published, while writers
// change payloads and move points. Every point's payload holds "v" and
// "w" equal, with "v" indexed: a search or scroll filtered on either
// must return payloads that match the filter and have v == w.
func TestOnDiskPayloadReadersSeePublishedState(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.OnDiskPayload = true
	opts.PayloadIndexes = map[string]api.PayloadFieldSchema{"v": {Type: api.SchemaInteger}}
	s := openShard(t, opts)
	const points = 50
	var pts []api.PointStruct
	for i := range points {
		pts = append(pts, pt(uint64(i), []float32{1, float32(i), 0, 0}, api.Payload{"v": num(0), "w": num(0)}))
	}
	apply(t, s, upsert(pts...))
	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before the shard's cleanup closes it under the writers
	var writes atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for ctx.Err() == nil {
				id := uint64(r.IntN(points))
				v := num(r.IntN(4))
				var op *api.UpdateOperation
				if r.IntN(2) == 0 {
					op = &api.UpdateOperation{SetPayload: &api.SetPayload{Points: []api.PointID{api.NumID(id)}, Payload: api.Payload{"v": v, "w": v}}}
				} else {
					op = upsert(pt(id, []float32{1, float32(id), r.Float32(), 0}, api.Payload{"v": v, "w": v}))
				}
				if _, err := s.Apply(ctx, op); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
				writes.Add(1)
			}
		}()
	}
	check := func(what string, recs []api.Record, want int) {
		for _, rec := range recs {
			v, w := fmt.Sprint(rec.Payload["v"]), fmt.Sprint(rec.Payload["w"])
			if v != w || v != strconv.Itoa(want) {
				t.Errorf("%s v=%d: point %v has payload %v", what, want, rec.ID, rec.Payload)
			}
		}
	}
	var reads int
	for reads = 0; reads < 3000 && !t.Failed(); reads++ {
		want := reads % 4
		key := []string{"v", "w"}[reads%2]
		f := filterJSON(t, fmt.Sprintf(`{"must":[{"key":%q,"match":{"value":%d}}]}`, key, want))
		recs, err := s.Scroll(bg, ScrollRequest{Limit: points, Filter: f, WithPayload: api.PayloadAll})
		if err != nil {
			t.Fatal(err)
		}
		check("scroll "+key, recs, want)
		hits, err := s.Search(bg, SearchRequest{Vector: []float32{1, 1, 0, 0}, Limit: 5, Filter: f, WithPayload: api.PayloadAll, Params: api.SearchParams{Exact: true}})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			check("search "+key, []api.Record{{ID: h.ID, Payload: h.Payload}}, want)
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d reads beside %d writes", reads, writes.Load())
	if writes.Load() < 100 {
		t.Fatalf("only %d writes ran beside the reads", writes.Load())
	}
}
