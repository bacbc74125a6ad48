package service

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// restoreCase describes a collection the restore tests expect to find in
// full: its data, shape and payload index.
type restoreCase struct {
	data   *dataset
	shards int
	index  string // the one payload index
	tag    string // config.metadata["tag"]
}

var (
	// oldCase is the collection that exists before the restore.
	oldCase = restoreCase{data: makeDataset(1, 120, 4, api.DistanceEuclid), shards: 2, index: "color", tag: "old"}
	// newCase is what the snapshot holds: another shape, count and index.
	newCase = restoreCase{data: makeDataset(2, 90, 6, api.DistanceDot), shards: 3, index: "group", tag: "new"}
)

// createCase creates collection name holding rc's data.
func createCase(t *testing.T, s *Service, name string, rc restoreCase) {
	t.Helper()
	shards := rc.shards
	mustNil(t, s.CreateCollection(bg, name, &api.CreateCollection{
		Vectors:     api.VectorsConfig{"": {Size: rc.data.dim, Distance: rc.data.dist}},
		ShardNumber: &shards,
		Metadata:    map[string]any{"tag": rc.tag},
	}))
	schema := api.PayloadFieldSchema{Type: api.SchemaKeyword}
	if rc.index == "group" {
		schema = api.PayloadFieldSchema{Type: api.SchemaInteger}
	}
	_, err := s.CreateFieldIndex(bg, name, &api.CreateFieldIndex{FieldName: rc.index, FieldSchema: &schema}, api.WriteParams{Wait: true})
	mustNil(t, err)
	upsert(t, s, name, rc.data.points(""))
}

// writeArchive writes a collection snapshot of rc into a file and returns
// its path.
func writeArchive(t *testing.T, rc restoreCase) string {
	t.Helper()
	dir := t.TempDir()
	s := newService(t, filepath.Join(dir, "storage"))
	defer s.Close()
	createCase(t, s, "src", rc)
	mgr := newManager(t, s, dir)
	a, err := mgr.CreateArchive(bg, "src")
	mustNil(t, err)
	p := filepath.Join(dir, "src.snapshot")
	mustNil(t, os.Rename(a.Path, p))
	return p
}

func newManager(t *testing.T, s *Service, dir string) *snapshot.Manager {
	t.Helper()
	st, err := snapshot.OpenDirStore(filepath.Join(dir, "snapshots"), "local")
	mustNil(t, err)
	hooks := s.SnapshotHooks(filepath.Join(s.opts.StorageDir, "snapshots_temp"))
	mgr, err := snapshot.NewManager(snapshot.ManagerOptions{Source: hooks, Inspector: hooks, Store: st, PeerID: 1, ShoalVersion: "test"})
	mustNil(t, err)
	return mgr
}

func recoverFile(mgr *snapshot.Manager, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = mgr.RecoverCollection(bg, name, f, snapshot.RecoverOptions{})
	return err
}

// checkCollection checks that collection c (and its alias "al") is
// entirely rc: configuration, payload index, exact count, every point's
// vector and payload, and exact searches against brute force. It also
// checks that c's directory holds exactly one generation.
func checkCollection(t *testing.T, s *Service, rc restoreCase) {
	t.Helper()
	info, err := s.CollectionInfo(bg, "c")
	mustNil(t, err)
	vp := info.Config.Params.Vectors[""]
	if vp.Size != rc.data.dim || vp.Distance != rc.data.dist || info.Config.Params.ShardNumber != rc.shards || info.Config.Metadata["tag"] != rc.tag {
		t.Fatalf("config is not %q's: size %d distance %s shards %d metadata %v", rc.tag, vp.Size, vp.Distance, info.Config.Params.ShardNumber, info.Config.Metadata)
	}
	if _, ok := info.PayloadSchema[rc.index]; !ok || len(info.PayloadSchema) != 1 {
		t.Fatalf("payload schema %v, want only %s", info.PayloadSchema, rc.index)
	}
	m := s.state().Collections["c"]
	if _, ok := m.PayloadIndexes[rc.index]; !ok || len(m.PayloadIndexes) != 1 {
		t.Fatalf("metadata payload indexes %v, want only %s", m.PayloadIndexes, rc.index)
	}
	for _, name := range []string{"c", "al"} {
		n, err := s.Count(bg, name, &api.CountRequest{}, api.ReadParams{})
		mustNil(t, err)
		if n.Count != uint64(len(rc.data.vecs)) {
			t.Fatalf("%s counts %d points, want %d (%s)", name, n.Count, len(rc.data.vecs), rc.tag)
		}
	}
	limit := 1000
	res, err := s.Scroll(bg, "c", &api.ScrollRequest{Limit: &limit, WithPayload: &api.PayloadSelector{Enable: true},
		WithVector: &api.VectorSelector{Enable: true}}, api.ReadParams{})
	mustNil(t, err)
	if len(res.Points) != len(rc.data.vecs) {
		t.Fatalf("scroll returned %d points, want %d", len(res.Points), len(rc.data.vecs))
	}
	for _, p := range res.Points {
		want, ok := rc.data.vecs[p.ID.Num]
		if !ok {
			t.Fatalf("point %d is not %q's", p.ID.Num, rc.tag)
		}
		got := p.Vector[""]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("point %d vector %v, want %v", p.ID.Num, got, want)
		}
		if fmt.Sprint(p.Payload["n"]) != fmt.Sprint(rc.data.pays[p.ID.Num]["n"]) {
			t.Fatalf("point %d payload %v, want %v", p.ID.Num, p.Payload, rc.data.pays[p.ID.Num])
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	for range 3 {
		q := randVec(r, rc.data.dim)
		hits, err := s.Search(bg, "c", &api.SearchRequest{Vector: api.NamedVector{Vector: q}, Limit: 5, Params: &api.SearchParams{Exact: true}}, api.ReadParams{})
		mustNil(t, err)
		if want := rc.data.bruteTop(q, 5, nil); !sameIDs(hitIDs(hits), want) {
			t.Fatalf("search found %v, want %v (%s)", hitIDs(hits), want, rc.tag)
		}
		// The filtered path goes through the payload index.
		hits, err = s.Search(bg, "c", &api.SearchRequest{Vector: api.NamedVector{Vector: q}, Limit: 5,
			Filter: filterJSON(t, `{"must":[{"key":"color","match":{"value":"red"}}]}`)}, api.ReadParams{})
		mustNil(t, err)
		want := rc.data.bruteTop(q, 5, func(id uint64) bool { return rc.data.pays[id]["color"] == "red" })
		if !sameIDs(hitIDs(hits), want) {
			t.Fatalf("filtered search found %v, want %v (%s)", hitIDs(hits), want, rc.tag)
		}
	}
	entries, err := os.ReadDir(s.collectionDir("c"))
	mustNil(t, err)
	var names []string
	for _, e := range entries {
		if !meta.BelongsToGeneration(e.Name(), m.Generation) {
			t.Fatalf("collection directory holds %s besides generation %d", e.Name(), m.Generation)
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if m.Generation > 0 && (len(names) != 1 || names[0] != meta.GenerationEntry(m.Generation)) {
		t.Fatalf("collection directory holds %v, want only %s", names, meta.GenerationEntry(m.Generation))
	}
}

// baseStorage builds a storage directory holding the old collection "c"
// with alias "al", closed, and returns it.
func baseStorage(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "storage")
	s := newService(t, dir)
	createCase(t, s, "c", oldCase)
	mustNil(t, s.UpdateAliases(bg, []api.AliasOperation{{CreateAlias: &api.AliasDescription{AliasName: "al", CollectionName: "c"}}}))
	mustNil(t, s.Close())
	return dir
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
}

// crashExitCode is what the child exits with at its failpoint, as a
// process killed with SIGKILL reports itself to a shell.
const crashExitCode = 137

// TestRestoreCrashChild is the child process of TestRestoreCrashAtEveryStep:
// it restores the archive over collection "c" and exits abruptly at the
// named failpoint.
func TestRestoreCrashChild(t *testing.T) {
	storage, archive, point := os.Getenv("SHOAL_RESTORE_STORAGE"), os.Getenv("SHOAL_RESTORE_ARCHIVE"), os.Getenv("SHOAL_RESTORE_CRASH_AT")
	if storage == "" {
		t.Skip("child process of TestRestoreCrashAtEveryStep")
	}
	s, err := New(Options{StorageDir: storage, Failpoint: func(p string) error {
		if p == point {
			os.Exit(crashExitCode)
		}
		return nil
	}})
	mustNil(t, err)
	mgr := newManager(t, s, filepath.Dir(storage))
	if err := recoverFile(mgr, "c", archive); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("restore finished without reaching failpoint %s", point)
}

// TestRestoreCrashAtEveryStep kills a real process at every step of a
// restore over an existing collection, restarts the service on the same
// directory, and checks that the collection is entirely the old one (crash
// before the commit) or entirely the new one (after it), with no other
// generation left on disk. It then restores once more over the recovered
// state (generation 1 to 2, or 0 to 1) and checks the result.
func TestRestoreCrashAtEveryStep(t *testing.T) {
	base := baseStorage(t)
	archive := writeArchive(t, newCase)
	oldArchive := writeArchive(t, oldCase)
	committed := false
	for _, point := range RestoreFailpoints() {
		if point == FailpointRestoreCommitted {
			committed = true
		}
		t.Run(strings.ReplaceAll(point, "/", "-"), func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "storage")
			copyTree(t, base, storage)
			cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SHOAL_RESTORE_STORAGE="+storage, "SHOAL_RESTORE_ARCHIVE="+archive, "SHOAL_RESTORE_CRASH_AT="+point)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != crashExitCode {
				t.Fatalf("child did not crash at %s: %v\n%s", point, err, out)
			}
			s := newService(t, storage)
			defer s.Close()
			want, next, nextArchive := oldCase, newCase, archive
			if committed {
				want, next, nextArchive = newCase, oldCase, oldArchive
			}
			checkCollection(t, s, want)
			// The recovered storage takes the next restore normally.
			mustNil(t, recoverFile(newManager(t, s, filepath.Dir(storage)), "c", nextArchive))
			checkCollection(t, s, next)
			mustNil(t, s.Close())
			s2 := newService(t, storage)
			defer s2.Close()
			checkCollection(t, s2, next)
		})
	}
}

// TestRestoreFailureKeepsOldCollection injects an error at every step in
// process: before the commit the restore fails and the old collection
// keeps serving (also after a restart) with nothing of the new one left on
// disk; after the commit the error cannot undo the restore.
func TestRestoreFailureKeepsOldCollection(t *testing.T) {
	archive := writeArchive(t, newCase)
	base := baseStorage(t)
	for i, point := range RestoreFailpoints() {
		t.Run(strings.ReplaceAll(point, "/", "-"), func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "storage")
			copyTree(t, base, storage)
			injected := errors.New("injected failure")
			var armed atomic.Bool
			armed.Store(true)
			s, err := New(Options{StorageDir: storage, Failpoint: func(p string) error {
				if p == point && armed.Load() {
					return injected
				}
				return nil
			}})
			mustNil(t, err)
			defer s.Close()
			err = recoverFile(newManager(t, s, filepath.Dir(storage)), "c", archive)
			want := oldCase
			if i >= 3 { // committed, old-closed, done
				mustNil(t, err)
				want = newCase
			} else if !errors.Is(err, injected) {
				t.Fatalf("restore failing at %s returned %v", point, err)
			}
			checkCollection(t, s, want)
			mustNil(t, s.Close())
			s2 := newService(t, storage)
			defer s2.Close()
			checkCollection(t, s2, want)
		})
	}
}

// TestRestoreNewCollectionCrash covers a restore under a name that does not
// exist: a crash before the commit leaves no collection and no directory,
// after it the whole new collection.
func TestRestoreNewCollectionCrash(t *testing.T) {
	archive := writeArchive(t, newCase)
	for _, point := range []string{FailpointRestoreOpened, FailpointRestoreCommitted} {
		t.Run(strings.ReplaceAll(point, "/", "-"), func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "storage")
			s := newService(t, storage)
			mustNil(t, s.Close())
			cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SHOAL_RESTORE_STORAGE="+storage, "SHOAL_RESTORE_ARCHIVE="+archive, "SHOAL_RESTORE_CRASH_AT="+point)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != crashExitCode {
				t.Fatalf("child did not crash at %s: %v\n%s", point, err, out)
			}
			s = newService(t, storage)
			defer s.Close()
			if point == FailpointRestoreOpened {
				if ok, _ := s.CollectionExists(bg, "c"); ok {
					t.Fatal("collection exists after a crash before the commit")
				}
				if _, err := os.Stat(s.collectionDir("c")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("directory of the uncommitted collection left: %v", err)
				}
				return
			}
			mustNil(t, s.UpdateAliases(bg, []api.AliasOperation{{CreateAlias: &api.AliasDescription{AliasName: "al", CollectionName: "c"}}}))
			checkCollection(t, s, newCase)
			if g := s.state().Collections["c"].Generation; g != 0 {
				t.Fatalf("new collection restored as generation %d, want 0", g)
			}
		})
	}
}

// TestReadersDuringRestoreNeverSeeNotFound runs readers (by name and by
// alias) and payload index changes while the collection is restored back
// and forth and one of its shards is restored: no read fails, each sees
// the old or the new collection whole, and nothing deadlocks.
func TestReadersDuringRestoreNeverSeeNotFound(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "storage")
	copyTree(t, baseStorage(t), storage)
	newArchive := writeArchive(t, newCase)
	oldArchive := writeArchive(t, oldCase)
	s := newService(t, storage)
	defer s.Close()
	mgr := newManager(t, s, filepath.Dir(storage))

	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	var reads, failures atomic.Int64
	var firstErr sync.Once
	var failure error
	report := func(err error) {
		failures.Add(1)
		firstErr.Do(func() { failure = err })
	}
	valid := map[uint64]bool{uint64(len(oldCase.data.vecs)): true, uint64(len(newCase.data.vecs)): true}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{"c", "al"}[r%2]
			for ctx.Err() == nil {
				n, err := s.Count(bg, name, &api.CountRequest{}, api.ReadParams{})
				if err != nil {
					report(fmt.Errorf("count %s: %w", name, err))
					continue
				}
				if !valid[n.Count] {
					report(fmt.Errorf("count %s = %d, neither collection's", name, n.Count))
				}
				recs, err := s.GetPoints(bg, name, &api.GetPoints{IDs: []api.PointID{api.NumID(1)}, WithVector: &api.VectorSelector{Enable: true}}, api.ReadParams{})
				if err != nil {
					report(fmt.Errorf("get %s: %w", name, err))
					continue
				}
				if len(recs) != 1 || (len(recs[0].Vector[""]) != oldCase.data.dim && len(recs[0].Vector[""]) != newCase.data.dim) {
					report(fmt.Errorf("get %s returned %+v", name, recs))
				}
				if _, err := s.CollectionInfo(bg, name); err != nil {
					report(fmt.Errorf("info %s: %w", name, err))
				}
				reads.Add(1)
			}
		}()
	}
	// Payload index changes race with the restores (both take the
	// metadata lock; the index build holds the collection).
	wg.Add(1)
	go func() {
		defer wg.Done()
		schema := api.PayloadFieldSchema{Type: api.SchemaKeyword}
		for ctx.Err() == nil {
			if _, err := s.CreateFieldIndex(bg, "c", &api.CreateFieldIndex{FieldName: "extra", FieldSchema: &schema}, api.WriteParams{Wait: true}); err != nil {
				report(fmt.Errorf("create index: %w", err))
			}
			if _, err := s.DeleteFieldIndex(bg, "c", "extra", api.WriteParams{Wait: true}); err != nil {
				report(fmt.Errorf("delete index: %w", err))
			}
		}
	}()

	waitReads := func(n int64) {
		deadline := time.Now().Add(10 * time.Second)
		for reads.Load() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	waitReads(20)
	for i := range 4 {
		archive := newArchive
		if i%2 == 1 {
			archive = oldArchive
		}
		before := reads.Load()
		mustNil(t, recoverFile(mgr, "c", archive))
		waitReads(before + 20)
	}
	// The collection is the old one again: restore one of its shards from
	// a shard snapshot while reads go on.
	a, err := mgr.CreateShardSnapshot(bg, "c", 1)
	mustNil(t, err)
	rc, _, err := mgr.OpenShardSnapshot(bg, "c", 1, a.Name)
	mustNil(t, err)
	before := reads.Load()
	_, err = mgr.RecoverShard(bg, "c", 1, rc, snapshot.RecoverOptions{})
	rc.Close()
	mustNil(t, err)
	waitReads(before + 20)
	cancel()
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d of %d reads failed during restores; first: %v", failures.Load(), reads.Load(), failure)
	}
	if reads.Load() < 100 {
		t.Fatalf("only %d reads ran during the restores", reads.Load())
	}
	// The index loop may have left "extra"; drop it for the full check.
	_, err = s.DeleteFieldIndex(bg, "c", "extra", api.WriteParams{Wait: true})
	mustNil(t, err)
	checkCollection(t, s, oldCase)
	t.Logf("%d reads during 4 collection restores and 1 shard restore", reads.Load())
}

// TestStartupRecoversLeftovers checks the start-up recovery of directories:
// an earlier build's restore that moved a collection aside is rolled back,
// a generation the metadata does not name is removed, and a collection
// whose real name looks like a leftover is left alone.
func TestStartupRecoversLeftovers(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "storage")
	copyTree(t, baseStorage(t), storage)
	s := newService(t, storage)
	createUnnamed(t, s, "e.restore-old-0123456789ab", 4, api.DistanceDot, 1)
	upsert(t, s, "e.restore-old-0123456789ab", oldCase.data.points("")[:5])
	mustNil(t, s.Close())
	coll := filepath.Join(storage, "collections")
	// An earlier build crashed between moving c aside and moving the new
	// one in.
	mustNil(t, os.Rename(filepath.Join(coll, "c"), filepath.Join(coll, "c.restore-old-a1b2c3d4e5f6")))
	// ... and left a staging directory and an unnamed generation.
	mustNil(t, os.MkdirAll(filepath.Join(coll, "c.restore-tmp-ffeeddccbbaa", "0"), 0o755))
	stray := filepath.Join(coll, "c.restore-old-a1b2c3d4e5f6", "gen-7", "0")
	mustNil(t, os.MkdirAll(stray, 0o755))
	mustNil(t, os.WriteFile(filepath.Join(stray, "junk"), []byte("x"), 0o644))

	s = newService(t, storage)
	defer s.Close()
	checkCollection(t, s, oldCase)
	n, err := s.Count(bg, "e.restore-old-0123456789ab", &api.CountRequest{}, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 5 {
		t.Fatalf("collection with a leftover-like name holds %d points, want 5", n.Count)
	}
	entries, err := os.ReadDir(coll)
	mustNil(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if fmt.Sprint(names) != "[c e.restore-old-0123456789ab]" {
		t.Fatalf("collections directory holds %v", names)
	}
}

// TestReaderFollowsReplacement holds a reader in the window between
// finding the collection and registering with it while a restore replaces
// and closes that collection, and while a shard restore has it closed: the
// reader must be served by the new collection, not answered 404.
func TestReaderFollowsReplacement(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "storage")
	copyTree(t, baseStorage(t), storage)
	archive := writeArchive(t, newCase)
	var shardReader func()
	s, err := New(Options{StorageDir: storage, Failpoint: func(p string) error {
		if p == FailpointShardRestoreSwapped && shardReader != nil {
			shardReader()
		}
		return nil
	}})
	mustNil(t, err)
	defer s.Close()
	mgr := newManager(t, s, filepath.Dir(storage))

	lookedUp, restored := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.afterLookup = func(string) {
		once.Do(func() {
			close(lookedUp)
			<-restored
		})
	}
	type result struct {
		n   uint64
		err error
	}
	count := func(out chan<- result) {
		n, err := s.Count(bg, "al", &api.CountRequest{}, api.ReadParams{})
		if err != nil {
			out <- result{err: err}
			return
		}
		out <- result{n: n.Count}
	}
	res := make(chan result, 1)
	go count(res)
	<-lookedUp
	// The reader holds the old collection but has not registered: the
	// restore closes it without waiting.
	mustNil(t, recoverFile(mgr, "c", archive))
	close(restored)
	r := <-res
	if r.err != nil || r.n != uint64(len(newCase.data.vecs)) {
		t.Fatalf("reader across a restore: count %d, err %v; want %d", r.n, r.err, len(newCase.data.vecs))
	}

	// A shard restore closes the collection for the swap; a reader that
	// arrives then waits for the reopened one.
	a, err := mgr.CreateShardSnapshot(bg, "c", 2)
	mustNil(t, err)
	rc, _, err := mgr.OpenShardSnapshot(bg, "c", 2, a.Name)
	mustNil(t, err)
	defer rc.Close()
	shardRes := make(chan result, 1)
	shardReader = func() {
		go count(shardRes)
		// Give the reader time to find the collection closed and wait.
		time.Sleep(50 * time.Millisecond)
		select {
		case r := <-shardRes:
			t.Errorf("reader answered while the shard was swapped: %+v", r)
			shardRes <- r
		default:
		}
	}
	_, err = mgr.RecoverShard(bg, "c", 2, rc, snapshot.RecoverOptions{})
	mustNil(t, err)
	r = <-shardRes
	if r.err != nil || r.n != uint64(len(newCase.data.vecs)) {
		t.Fatalf("reader during a shard restore: count %d, err %v; want %d", r.n, r.err, len(newCase.data.vecs))
	}
	checkCollection(t, s, newCase)
}
