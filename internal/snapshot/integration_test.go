package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/rest"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/snapshot"
)

var bg = context.Background()

// node is a real service over a temporary storage directory with a
// snapshot manager over a local snapshots directory.
type node struct {
	svc   *service.Service
	mgr   *snapshot.Manager
	store *snapshot.DirStore
	hooks *service.SnapshotHooks
	dir   string
}

func newNode(t testing.TB) *node {
	t.Helper()
	dir := t.TempDir()
	svc, err := service.New(service.Options{StorageDir: filepath.Join(dir, "storage")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	st, err := snapshot.OpenDirStore(filepath.Join(dir, "snapshots"), "local")
	if err != nil {
		t.Fatal(err)
	}
	hooks := svc.SnapshotHooks(filepath.Join(dir, "storage", "snapshots_temp"))
	mgr, err := snapshot.NewManager(snapshot.ManagerOptions{Source: hooks, Inspector: hooks, Store: st, PeerID: 42, ShoalVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &node{svc: svc, mgr: mgr, store: st, hooks: hooks, dir: dir}
}

const dim = 4

func createCollection(t testing.TB, svc *service.Service, name string, shards int) {
	t.Helper()
	err := svc.CreateCollection(bg, name, &api.CreateCollection{
		Vectors:     api.VectorsConfig{"text": {Size: dim, Distance: "Euclid"}, "img": {Size: 2, Distance: "Dot"}},
		ShardNumber: &shards,
	})
	if err != nil {
		t.Fatal(err)
	}
	schema := api.PayloadFieldSchema{Type: api.SchemaKeyword}
	if _, err := svc.CreateFieldIndex(bg, name, &api.CreateFieldIndex{FieldName: "city", FieldSchema: &schema}, api.WriteParams{Wait: true}); err != nil {
		t.Fatal(err)
	}
}

// op is one write of the model: an upsert of id with a value, or a delete.
type op struct {
	id     uint64
	delete bool
	seq    int // value written
}

func point(id uint64, seq int) api.PointStruct {
	r := rand.New(rand.NewPCG(id, uint64(seq)))
	v := make([]float32, dim)
	for i := range v {
		v[i] = r.Float32()
	}
	return api.PointStruct{ID: api.NumID(id),
		Vector:  api.Vectors{"text": v, "img": {float32(seq), float32(id)}},
		Payload: api.Payload{"city": fmt.Sprintf("c%d", seq%7), "seq": json.Number(fmt.Sprint(seq)), "tags": []any{"a", fmt.Sprint(id)}}}
}

func apply(t testing.TB, svc *service.Service, coll string, o op) {
	t.Helper()
	var err error
	if o.delete {
		_, err = svc.DeletePoints(bg, coll, &api.PointsSelector{Points: []api.PointID{api.NumID(o.id)}}, api.WriteParams{Wait: true})
	} else {
		_, err = svc.Upsert(bg, coll, &api.UpsertPoints{Points: []api.PointStruct{point(o.id, o.seq)}}, api.WriteParams{Wait: true})
	}
	if err != nil {
		t.Error(err)
	}
}

// nextOp generates a mix of inserts, overwrites and deletes.
func nextOp(k int) op {
	switch {
	case k%5 == 4 && k >= 10:
		return op{id: uint64(k - 7), delete: true}
	case k%3 == 2:
		return op{id: uint64(k / 2), seq: k}
	}
	return op{id: uint64(k), seq: k}
}

// state is id -> canonical JSON of the record.
type state map[uint64]string

func recordJSON(t testing.TB, id uint64, vec api.Vectors, pl api.Payload) string {
	b, err := json.Marshal(struct {
		V api.Vectors
		P api.Payload
	}{vec, pl})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func modelAfter(t testing.TB, ops []op) state {
	s := state{}
	for _, o := range ops {
		if o.delete {
			delete(s, o.id)
			continue
		}
		p := point(o.id, o.seq)
		s[o.id] = recordJSON(t, o.id, p.Vector, p.Payload)
	}
	return s
}

func readAll(t testing.TB, svc *service.Service, coll string) state {
	t.Helper()
	out := state{}
	limit := 1000
	var offset *api.PointID
	for {
		res, err := svc.Scroll(bg, coll, &api.ScrollRequest{Offset: offset, Limit: &limit, WithPayload: &api.PayloadSelector{Enable: true},
			WithVector: &api.VectorSelector{Enable: true}}, api.ReadParams{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Points {
			// Round-trip the payload through JSON for a canonical form.
			b, _ := json.Marshal(r.Payload)
			pl, err := api.DecodePayload(b)
			if err != nil {
				t.Fatal(err)
			}
			out[r.ID.Num] = recordJSON(t, r.ID.Num, r.Vector, pl)
		}
		if res.NextPageOffset == nil {
			return out
		}
		offset = res.NextPageOffset
	}
}

func canonicalModel(t testing.TB, s state) state {
	out := state{}
	for id, js := range s {
		var v struct {
			V api.Vectors
			P json.RawMessage
		}
		json.Unmarshal([]byte(js), &v)
		pl, err := api.DecodePayload(v.P)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = recordJSON(t, id, v.V, pl)
	}
	return out
}

// TestRoundTripWhileWriting snapshots a collection while a writer runs,
// recovers it under another name, and checks that every shard holds
// exactly a prefix of that shard's operations, with every point, vector,
// payload and index identical to the model, and at least every operation
// acknowledged before the snapshot began.
func TestRoundTripWhileWriting(t *testing.T) {
	n := newNode(t)
	const shards = 3
	createCollection(t, n.svc, "books", shards)

	var (
		mu    sync.Mutex
		ops   []op
		stop  atomic.Bool
		wg    sync.WaitGroup
		ready = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; !stop.Load() && k < 5000; k++ {
			o := nextOp(k)
			apply(t, n.svc, "books", o)
			mu.Lock()
			ops = append(ops, o)
			mu.Unlock()
			if k == 150 {
				close(ready)
			}
		}
	}()
	<-ready
	mu.Lock()
	ackedBefore := len(ops)
	mu.Unlock()
	desc, err := n.mgr.CreateCollectionSnapshot(bg, "books")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let writes continue after the checkpoint
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// The listing and checksum sidecar.
	ds, err := n.mgr.ListCollectionSnapshots(bg, "books")
	if err != nil || len(ds) != 1 || ds[0] != desc || len(desc.Checksum) != 64 ||
		!strings.HasPrefix(desc.Name, "books-42-") || !strings.HasSuffix(desc.Name, ".snapshot") {
		t.Fatalf("list = %+v (%v), created %+v", ds, err, desc)
	}
	if sum, _, _ := snapshot.ChecksumFile(filepath.Join(n.store.Root(), "books", desc.Name)); sum != desc.Checksum {
		t.Fatalf("checksum sidecar %s, file %s", desc.Checksum, sum)
	}

	// Recover under another name from the stored file.
	f, err := os.Open(filepath.Join(n.store.Root(), "books", desc.Name))
	if err != nil {
		t.Fatal(err)
	}
	man, err := n.mgr.RecoverCollection(bg, "restored", f, snapshot.RecoverOptions{Checksum: desc.Checksum})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, n.svc, "restored")

	// Per shard: the restored points are exactly the model after some
	// prefix of that shard's operations, no shorter than what was
	// acknowledged before the snapshot.
	router := collection.NewRouter(shards)
	perShard := make([][]op, shards)
	ackedPerShard := make([]int, shards)
	for i, o := range ops {
		s := router.ShardOf(api.NumID(o.id))
		perShard[s] = append(perShard[s], o)
		if i < ackedBefore {
			ackedPerShard[s] = len(perShard[s])
		}
	}
	gotPerShard := make([]state, shards)
	for i := range gotPerShard {
		gotPerShard[i] = state{}
	}
	for id, js := range got {
		gotPerShard[router.ShardOf(api.NumID(id))][id] = js
	}
	total := 0
	for s := 0; s < shards; s++ {
		match := -1
		for j := len(perShard[s]); j >= 0; j-- {
			if reflect.DeepEqual(canonicalModel(t, modelAfter(t, perShard[s][:j])), gotPerShard[s]) {
				match = j
				break
			}
		}
		if match < 0 {
			t.Fatalf("shard %d: restored state (%d points) is no prefix of its %d operations", s, len(gotPerShard[s]), len(perShard[s]))
		}
		if match < ackedPerShard[s] {
			t.Fatalf("shard %d: restored prefix %d lacks acknowledged operations (%d)", s, match, ackedPerShard[s])
		}
		if uint64(len(gotPerShard[s])) != man.Shards[s].Points {
			t.Fatalf("shard %d: %d points, manifest says %d", s, len(gotPerShard[s]), man.Shards[s].Points)
		}
		total += match
	}
	if total == len(ops) {
		t.Logf("note: the snapshot caught every operation (%d); the writer was too slow to overlap", total)
	}
	t.Logf("ops: %d acknowledged before, %d in snapshot, %d total; %d points restored", ackedBefore, total, len(ops), len(got))

	// Config and payload indexes identical.
	a, err := n.svc.CollectionInfo(bg, "books")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.svc.CollectionInfo(bg, "restored")
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a.Config)
	jb, _ := json.Marshal(b.Config)
	if string(ja) != string(jb) {
		t.Fatalf("config differs:\n%s\n%s", ja, jb)
	}
	if b.PayloadSchema["city"].DataType != api.SchemaKeyword || b.PayloadSchema["city"].Points != uint64(len(got)) {
		t.Fatalf("payload index not restored: %+v", b.PayloadSchema)
	}
	// The index answers: count by the indexed field equals a scan.
	want := 0
	for _, js := range got {
		if strings.Contains(js, `"city":"c3"`) {
			want++
		}
	}
	exact := true
	cnt, err := n.svc.Count(bg, "restored", &api.CountRequest{Exact: &exact, Filter: mustFilter(t, `{"must":[{"key":"city","match":{"value":"c3"}}]}`)}, api.ReadParams{})
	if err != nil || cnt.Count != uint64(want) {
		t.Fatalf("count by indexed field = %+v, %v; want %d", cnt, err, want)
	}
	// Searches answer on the restored collection.
	for id, js := range got {
		var v struct{ V api.Vectors }
		json.Unmarshal([]byte(js), &v)
		hits, err := n.svc.Search(bg, "restored", &api.SearchRequest{Vector: api.NamedVector{Name: "text", Vector: v.V["text"]}, Limit: 1}, api.ReadParams{})
		if err != nil || len(hits) != 1 || hits[0].ID.Num != id {
			t.Fatalf("search for point %d: %+v, %v", id, hits, err)
		}
		break
	}

	// Verification of the stored snapshot passes and is recorded.
	rep, err := n.mgr.VerifyStored(bg, "books", desc.Name)
	if err != nil || !rep.OK || len(rep.Shards) != shards || rep.Points != man.Points() {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
	for _, sc := range rep.Shards {
		if sc.Points != sc.ExpectedPoints || (sc.Points > 0 && (sc.SampledPoints == 0 || sc.Searches == 0)) {
			t.Fatalf("shard check %+v", sc)
		}
	}
	if r2, _ := snapshot.ReadVerifyReport(bg, n.store, "books", desc.Name); r2 == nil || !r2.OK {
		t.Fatalf("verify sidecar = %+v", r2)
	}

	// Recover over an existing collection replaces it.
	apply(t, n.svc, "restored", op{id: 999999, seq: 1})
	f, _ = os.Open(filepath.Join(n.store.Root(), "books", desc.Name))
	if _, err := n.mgr.RecoverCollection(bg, "restored", f, snapshot.RecoverOptions{Priority: "snapshot"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if again := readAll(t, n.svc, "restored"); !reflect.DeepEqual(again, got) {
		t.Fatalf("recover over an existing collection: %d points, want %d", len(again), len(got))
	}
	// No scratch left behind.
	if entries, _ := os.ReadDir(n.hooks.TempDir()); len(entries) != 0 {
		t.Fatalf("scratch left: %v", entries)
	}
	entries, _ := os.ReadDir(filepath.Join(n.dir, "storage", "collections"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if !reflect.DeepEqual(names, []string{"books", "restored"}) {
		t.Fatalf("collections directory: %v", names)
	}
}

func mustFilter(t testing.TB, s string) *api.Filter {
	var f api.Filter
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestRecoverRefusesBadArchiveAndKeepsCollection(t *testing.T) {
	n := newNode(t)
	createCollection(t, n.svc, "books", 2)
	for k := 0; k < 30; k++ {
		apply(t, n.svc, "books", op{id: uint64(k), seq: k})
	}
	before := readAll(t, n.svc, "books")
	desc, err := n.mgr.CreateCollectionSnapshot(bg, "books")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(n.store.Root(), "books", desc.Name))
	// Wrong checksum, truncated, corrupted: all refused, collection intact.
	corrupt := bytes.Clone(data)
	corrupt[len(corrupt)/2] ^= 1
	for name, tc := range map[string]struct {
		data []byte
		sum  string
		kind api.Kind
	}{
		"checksum":  {data, strings.Repeat("ab", 32), api.KindChecksumMismatch},
		"truncated": {data[:len(data)/3], "", api.KindBadRequest},
		"corrupted": {corrupt, "", api.KindBadRequest},
	} {
		_, err := n.mgr.RecoverCollection(bg, "books", bytes.NewReader(tc.data), snapshot.RecoverOptions{Checksum: tc.sum})
		if err == nil || api.KindOf(err) != tc.kind {
			t.Fatalf("%s: got %v (kind %v)", name, err, api.KindOf(err))
		}
		if after := readAll(t, n.svc, "books"); !reflect.DeepEqual(after, before) {
			t.Fatalf("%s: collection changed", name)
		}
	}
	// A shard snapshot with the wrong dimensions is refused for shard recovery.
	createCollection(t, n.svc, "other", 2)
	sd, err := n.mgr.CreateShardSnapshot(bg, "books", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.DeleteCollection(bg, "other"); err != nil {
		t.Fatal(err)
	}
	shards := 2
	n.svc.CreateCollection(bg, "other", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 8, Distance: "Euclid"}}, ShardNumber: &shards})
	f, _ := os.Open(filepath.Join(n.store.Root(), "books", "shards", "1", sd.Name))
	defer f.Close()
	_, err = n.mgr.RecoverShard(bg, "other", 1, f, snapshot.RecoverOptions{})
	if err == nil || !strings.Contains(err.Error(), "wrong dimensions") {
		t.Fatalf("shard recovery with wrong dimensions: %v", err)
	}
}

func TestShardSnapshotRecover(t *testing.T) {
	n := newNode(t)
	createCollection(t, n.svc, "books", 2)
	for k := 0; k < 40; k++ {
		apply(t, n.svc, "books", op{id: uint64(k), seq: k})
	}
	before := readAll(t, n.svc, "books")
	sd, err := n.mgr.CreateShardSnapshot(bg, "books", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Damage shard 0's data, then recover the shard.
	router := collection.NewRouter(2)
	var victims []api.PointID
	for id := range before {
		if router.ShardOf(api.NumID(id)) == 0 {
			victims = append(victims, api.NumID(id))
		}
	}
	n.svc.DeletePoints(bg, "books", &api.PointsSelector{Points: victims}, api.WriteParams{Wait: true})
	f, _ := os.Open(filepath.Join(n.store.Root(), "books", "shards", "0", sd.Name))
	defer f.Close()
	if _, err := n.mgr.RecoverShard(bg, "books", 0, f, snapshot.RecoverOptions{Checksum: sd.Checksum}); err != nil {
		t.Fatal(err)
	}
	if after := readAll(t, n.svc, "books"); !reflect.DeepEqual(after, before) {
		t.Fatalf("shard recovery: %d points, want %d", len(after), len(before))
	}
}

func TestFullSnapshotRoundTrip(t *testing.T) {
	n := newNode(t)
	createCollection(t, n.svc, "a", 1)
	createCollection(t, n.svc, "b", 2)
	for k := 0; k < 20; k++ {
		apply(t, n.svc, "a", op{id: uint64(k), seq: k})
		apply(t, n.svc, "b", op{id: uint64(k), seq: k + 1})
	}
	n.svc.UpdateAliases(bg, []api.AliasOperation{{CreateAlias: &api.AliasDescription{AliasName: "latest", CollectionName: "b"}}})
	wantA, wantB := readAll(t, n.svc, "a"), readAll(t, n.svc, "b")
	d, err := n.mgr.CreateFullSnapshot(bg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Name, "full-snapshot-") {
		t.Fatal(d.Name)
	}
	rep, err := n.mgr.VerifyStored(bg, snapshot.FullDir, d.Name)
	if err != nil || !rep.OK || len(rep.Collections) != 2 {
		t.Fatalf("verify full = %+v, %v", rep, err)
	}
	n.svc.DeleteCollection(bg, "a")
	n.svc.DeleteCollection(bg, "b")
	rc, _, err := n.mgr.OpenFullSnapshot(bg, d.Name)
	if err != nil {
		t.Fatal(err)
	}
	man, err := n.mgr.RecoverFull(bg, rc, d.Checksum)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if man.Aliases["latest"] != "b" {
		t.Fatalf("aliases %v", man.Aliases)
	}
	if !reflect.DeepEqual(readAll(t, n.svc, "a"), wantA) || !reflect.DeepEqual(readAll(t, n.svc, "b"), wantB) {
		t.Fatal("full snapshot round trip differs")
	}
}

// TestRESTEndpoints drives the Qdrant snapshot API through the real REST
// adapter over this package's Manager.
func TestRESTEndpoints(t *testing.T) {
	n := newNode(t)
	createCollection(t, n.svc, "books", 2)
	for k := 0; k < 25; k++ {
		apply(t, n.svc, "books", op{id: uint64(k), seq: k})
	}
	want := readAll(t, n.svc, "books")
	h := rest.New(rest.Options{Service: n.svc, Snapshots: n.mgr})
	srv := httptest.NewServer(h)
	defer srv.Close()
	call := func(method, path string, body io.Reader, ctype string) (int, map[string]any, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, body)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m, raw
	}
	code, m, raw := call("POST", "/collections/books/snapshots?wait=true", nil, "")
	if code != 200 {
		t.Fatalf("create: %d %s", code, raw)
	}
	res := m["result"].(map[string]any)
	name, checksum := res["name"].(string), res["checksum"].(string)
	if res["size"].(float64) <= 0 || len(res["creation_time"].(string)) != 19 {
		t.Fatalf("description %v", res)
	}
	code, m, _ = call("GET", "/collections/books/snapshots", nil, "")
	if code != 200 || len(m["result"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, m)
	}
	code, _, archive := call("GET", "/collections/books/snapshots/"+name, nil, "")
	if code != 200 || snapshotSum(archive) != checksum {
		t.Fatalf("download: %d, %d bytes", code, len(archive))
	}
	code, m, _ = call("GET", "/collections/books/snapshots/nope.snapshot", nil, "")
	if code != 404 || !strings.Contains(fmt.Sprint(m["status"]), "not found") {
		t.Fatalf("missing snapshot: %d %v", code, m)
	}
	// Upload into a new collection (multipart, field "snapshot").
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("snapshot", name)
	fw.Write(archive)
	mw.Close()
	code, _, raw = call("POST", "/collections/uploaded/snapshots/upload?priority=snapshot&checksum="+checksum, &body, mw.FormDataContentType())
	if code != 200 {
		t.Fatalf("upload: %d %s", code, raw)
	}
	if got := readAll(t, n.svc, "uploaded"); !reflect.DeepEqual(got, want) {
		t.Fatal("uploaded collection differs")
	}
	// Recover from a file:// location and from an http URL.
	loc := "file://" + filepath.Join(n.store.Root(), "books", name)
	code, _, raw = call("PUT", "/collections/fromfile/snapshots/recover", strings.NewReader(`{"location":"`+loc+`","checksum":"`+checksum+`"}`), "application/json")
	if code != 200 || !reflect.DeepEqual(readAll(t, n.svc, "fromfile"), want) {
		t.Fatalf("recover from file: %d %s", code, raw)
	}
	code, _, raw = call("PUT", "/collections/fromurl/snapshots/recover", strings.NewReader(`{"location":"`+srv.URL+"/collections/books/snapshots/"+name+`"}`), "application/json")
	if code != 200 || !reflect.DeepEqual(readAll(t, n.svc, "fromurl"), want) {
		t.Fatalf("recover from url: %d %s", code, raw)
	}
	// A peer that wants an API key: api_key is sent as the api-key header.
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("api-key") != "secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write(archive)
	}))
	defer peer.Close()
	code, m, _ = call("PUT", "/collections/frompeer/snapshots/recover", strings.NewReader(`{"location":"`+peer.URL+`/s"}`), "application/json")
	if code != 400 || !strings.Contains(fmt.Sprint(m["status"]), "401") {
		t.Fatalf("recover from a peer without the key: %d %v", code, m)
	}
	code, _, raw = call("PUT", "/collections/frompeer/snapshots/recover", strings.NewReader(`{"location":"`+peer.URL+`/s","api_key":"secret"}`), "application/json")
	if code != 200 || !reflect.DeepEqual(readAll(t, n.svc, "frompeer"), want) {
		t.Fatalf("recover from a peer with the key: %d %s", code, raw)
	}
	code, m, _ = call("PUT", "/collections/bad/snapshots/recover", strings.NewReader(`{"location":"`+loc+`","checksum":"`+strings.Repeat("0", 64)+`"}`), "application/json")
	if code != 400 || !strings.Contains(fmt.Sprint(m["status"]), "Checksum mismatch") {
		t.Fatalf("bad checksum: %d %v", code, m)
	}
	if ok, _ := n.svc.CollectionExists(bg, "bad"); ok {
		t.Fatal("a refused recovery created the collection")
	}
	code, _, _ = call("PUT", "/collections/bad/snapshots/recover", strings.NewReader(`{"location":"`+loc+`","priority":"sometimes"}`), "application/json")
	if code != 400 {
		t.Fatalf("bad priority: %d", code)
	}
	// Shard snapshots and the streamed shard snapshot.
	code, m, raw = call("POST", "/collections/books/shards/1/snapshots", nil, "")
	if code != 200 {
		t.Fatalf("shard snapshot: %d %s", code, raw)
	}
	code, _, stream := call("GET", "/collections/books/shards/1/snapshot", nil, "")
	if code != 200 {
		t.Fatalf("streamed shard snapshot: %d", code)
	}
	if man, err := snapshot.ReadManifest(bytes.NewReader(stream)); err != nil || man.Kind != snapshot.KindShard || man.Shards[0].ID != 1 {
		t.Fatalf("streamed shard manifest %+v, %v", man, err)
	}
	code, m, _ = call("GET", "/collections/books/shards/1/snapshots", nil, "")
	if code != 200 || len(m["result"].([]any)) != 1 {
		t.Fatalf("shard list: %d %v", code, m)
	}
	// Full snapshots.
	code, m, raw = call("POST", "/snapshots", nil, "")
	if code != 200 {
		t.Fatalf("full: %d %s", code, raw)
	}
	full := m["result"].(map[string]any)["name"].(string)
	code, m, _ = call("GET", "/snapshots", nil, "")
	if code != 200 || len(m["result"].([]any)) != 1 {
		t.Fatalf("full list: %d %v", code, m)
	}
	code, _, _ = call("DELETE", "/snapshots/"+full, nil, "")
	if code != 200 {
		t.Fatalf("full delete: %d", code)
	}
	// Async create answers accepted.
	code, m, _ = call("POST", "/collections/books/snapshots?wait=false", nil, "")
	if code != 202 || m["status"] != "accepted" {
		t.Fatalf("async create: %d %v", code, m)
	}
	// Wait for it to be stored: it runs on after the response, and must not
	// write into the directory while the test's cleanup removes it.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, m, _ = call("GET", "/collections/books/snapshots", nil, "")
		if code == 200 && len(m["result"].([]any)) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("async snapshot not stored: %d %v", code, m)
		}
	}
	// Delete.
	code, _, _ = call("DELETE", "/collections/books/snapshots/"+name, nil, "")
	if code != 200 {
		t.Fatalf("delete: %d", code)
	}
	code, _, _ = call("DELETE", "/collections/books/snapshots/"+name, nil, "")
	if code != 404 {
		t.Fatalf("second delete: %d", code)
	}
	code, _, _ = call("GET", "/collections/nope/snapshots", nil, "")
	if code != 404 {
		t.Fatalf("list of a missing collection: %d", code)
	}
}

func snapshotSum(b []byte) string {
	dir, _ := os.MkdirTemp("", "sum")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "x")
	os.WriteFile(p, b, 0o644)
	s, _, _ := snapshot.ChecksumFile(p)
	return s
}

// TestScheduledFullSnapshots runs a full-storage policy with the real
// Manager as producer: verified full archives land in two stores and
// retention keeps one.
func TestScheduledFullSnapshots(t *testing.T) {
	n := newNode(t)
	createCollection(t, n.svc, "a", 1)
	createCollection(t, n.svc, "b", 2)
	for k := 0; k < 10; k++ {
		apply(t, n.svc, "a", op{id: uint64(k), seq: k})
		apply(t, n.svc, "b", op{id: uint64(k), seq: k})
	}
	remote, err := snapshot.OpenDirStore(filepath.Join(t.TempDir(), "remote"), "fs:remote")
	if err != nil {
		t.Fatal(err)
	}
	pc := snapshot.PolicyConfig{Name: "full", Full: true, Interval: snapshot.Duration(time.Hour), Retention: snapshot.Retention{KeepLast: 1},
		Destinations: []snapshot.DestinationConfig{{Local: true}, {FS: filepath.Join(t.TempDir(), "unused")}}, Verify: true}
	p, err := pc.Resolve(n.store)
	if err != nil {
		t.Fatal(err)
	}
	p.Destinations[1] = remote
	s, err := snapshot.NewScheduler(snapshot.SchedulerOptions{Policies: []*snapshot.Policy{p}, Producer: n.mgr})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		res := s.RunPolicy(bg, p)
		if len(res) != 1 || len(res[0].Errors) != 0 || res[0].Verify == nil || !res[0].Verify.OK || len(res[0].Verify.Collections) != 2 {
			t.Fatalf("run %d: %+v", i, res)
		}
	}
	for _, st := range []snapshot.Store{n.store, remote} {
		ds, err := snapshot.ListSnapshots(bg, st, snapshot.FullDir)
		if err != nil || len(ds) != 1 || !strings.HasPrefix(ds[0].Name, "full-snapshot-") {
			t.Fatalf("%s: %+v, %v", st, ds, err)
		}
	}
	if _, err := (&snapshot.PolicyConfig{Name: "x", Full: true, Collections: []string{"a"}, Interval: snapshot.Duration(time.Hour),
		Destinations: []snapshot.DestinationConfig{{Local: true}}}).Resolve(n.store); err == nil {
		t.Fatal("full policy with collections accepted")
	}
}

// TestRecoverRefusesArchiveLargerThanFreeSpace checks the free-space check
// that runs on the manifest before anything is extracted.
func TestRecoverRefusesArchiveLargerThanFreeSpace(t *testing.T) {
	n := newNode(t)
	mgr, err := snapshot.NewManager(snapshot.ManagerOptions{Source: n.hooks, Store: n.store, MaxArchiveSize: 1 << 50})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &api.CollectionConfig{Params: api.CollectionParams{Vectors: api.VectorsConfig{"": {Size: 4, Distance: "Dot"}}, ShardNumber: 1}}
	man := snapshot.Manifest{FormatVersion: snapshot.FormatVersion, Kind: snapshot.KindCollection, Collection: "huge", Config: cfg,
		Dirs:   []string{"shards", "shards/0"},
		Shards: []snapshot.ShardManifest{{ID: 0, Dir: "shards/0"}},
		Files:  []snapshot.FileEntry{{Path: "shards/0/big", Size: 1 << 49, SHA256: strings.Repeat("0", 64)}}}
	mb, _ := json.Marshal(man)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: snapshot.ManifestName, Size: int64(len(mb)), Mode: 0o644})
	tw.Write(mb)
	tw.Close()
	_, err = mgr.RecoverCollection(bg, "huge", &buf, snapshot.RecoverOptions{})
	if api.KindOf(err) != api.KindInsufficientStorage || !strings.Contains(api.Message(err), "Not enough space") {
		t.Fatalf("got %v (kind %v)", err, api.KindOf(err))
	}
	if ok, _ := n.svc.CollectionExists(bg, "huge"); ok {
		t.Fatal("collection created")
	}
	if entries, _ := os.ReadDir(n.hooks.TempDir()); len(entries) != 0 {
		t.Fatalf("scratch left: %v", entries)
	}
}
