package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// treeProducer snapshots a fixed directory tree as every collection: real
// archives, written through the same code the Manager uses.
type treeProducer struct {
	t       testing.TB
	src     string
	staging *DirStore
	names   []string
	created atomic.Int64
	failFor string // collection whose snapshot fails
}

func (p *treeProducer) CollectionNames(ctx context.Context) ([]string, error) { return p.names, nil }

func (p *treeProducer) CreateArchive(ctx context.Context, collection string) (*LocalArchive, error) {
	if collection == p.failFor {
		return nil, errors.New("engine on fire")
	}
	m := testManifest(collection)
	m.CreatedAt = time.Now()
	name := CollectionSnapshotName(collection, m.PeerID, m.CreatedAt)
	f, err := p.staging.TempFile(Key(CollectionDir(collection), name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hw := NewHashingWriter(f)
	if _, err := WriteArchive(ctx, hw, m, p.src, nil); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	p.created.Add(1)
	return &LocalArchive{Path: f.Name(), Dir: CollectionDir(collection), Manifest: m,
		Description: Description{Name: name, Size: hw.Size(), Checksum: hw.Sum(), CreationTime: m.CreatedAt.UTC().Format(qdrantTimeLayout)}}, nil
}

func (p *treeProducer) CreateFullArchive(ctx context.Context) (*LocalArchive, error) {
	return nil, errors.New("treeProducer makes collection archives only")
}

func (p *treeProducer) VerifyArchive(ctx context.Context, a *LocalArchive) (*VerifyReport, error) {
	f, err := os.Open(a.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Verify(ctx, f, a.Description.Name, a.Description.Checksum, p.staging.Root(), nil, time.Now, nil)
}

func names(t *testing.T, st Store, dir string) []string {
	t.Helper()
	ds, err := ListSnapshots(context.Background(), st, dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func TestSchedulerRunsPrunesAndSurvivesFailingDestination(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		local, err := OpenDirStore(filepath.Join(t.TempDir(), "local"), "local")
		if err != nil {
			t.Fatal(err)
		}
		remote, err := OpenDirStore(filepath.Join(t.TempDir(), "remote"), "fs:remote")
		if err != nil {
			t.Fatal(err)
		}
		// A destination that always fails: its root becomes a file.
		brokenRoot := filepath.Join(t.TempDir(), "broken")
		broken, _ := OpenDirStore(brokenRoot, "fs:broken")
		os.RemoveAll(brokenRoot)
		os.WriteFile(brokenRoot, []byte("not a directory"), 0o644)

		prod := &treeProducer{t: t, src: makeTree(t, 11, 10, 300), staging: local, names: []string{"books", "films", "other"}, failFor: "films"}
		cron, _ := ParseCron("0 */12 * * *")
		pol := &Policy{
			Name: "twice-daily", Collections: []string{"books", "films"}, Cron: cron,
			Retention:    Retention{KeepLast: 2, Daily: 7, Weekly: 4},
			Destinations: []Store{broken, remote, local}, Verify: true,
		}
		reg := prometheus.NewRegistry()
		s, err := NewScheduler(SchedulerOptions{Policies: []*Policy{pol}, Producer: prod, Registerer: reg,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now() // 2000-01-01 00:00 UTC in the bubble
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(35*24*time.Hour + time.Minute)
		synctest.Wait()
		cancel()
		<-done

		runs := 35 * 2 // every 12 hours for 35 days
		if got := prod.created.Load(); got != int64(runs) {
			t.Fatalf("created %d snapshots, want %d", got, runs)
		}
		last := start.Add(35 * 24 * time.Hour)
		want := map[string]bool{}
		add := func(tm time.Time) { want[CollectionSnapshotName("books", 7, tm)] = true }
		add(last)
		add(last.Add(-12 * time.Hour))
		for d := 0; d < 7; d++ { // newest of each of the last 7 days: 12:00 (today: 00:00)
			day := time.Date(last.Year(), last.Month(), last.Day(), 12, 0, 0, 0, time.UTC).AddDate(0, 0, -d)
			if day.After(last) {
				day = last
			}
			add(day)
		}
		// Newest of each of the last 4 ISO weeks: the current week's is the
		// last snapshot; earlier weeks end on Sunday, whose last run is 12:00.
		add(last)
		monday := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC)
		for monday.Weekday() != time.Monday {
			monday = monday.AddDate(0, 0, -1)
		}
		for w := 1; w < 4; w++ {
			add(monday.AddDate(0, 0, -7*(w-1)).Add(-12 * time.Hour))
		}
		var wantList []string
		for n := range want {
			wantList = append(wantList, n)
		}
		slices.Sort(wantList)
		for _, st := range []Store{local, remote} {
			got := names(t, st, "books")
			slices.Sort(got)
			if !reflect.DeepEqual(got, wantList) {
				t.Fatalf("%s keeps\n%v\nwant\n%v", st, got, wantList)
			}
			// Every survivor has its checksum and verification report.
			for _, n := range got {
				rep, err := ReadVerifyReport(context.Background(), st, "books", n)
				if err != nil || rep == nil || !rep.OK || rep.Files != 4 {
					t.Fatalf("%s: verify report of %s = %+v, %v", st, n, rep, err)
				}
			}
		}
		if got := names(t, local, "films"); len(got) != 0 {
			t.Fatalf("failing collection stored %v", got)
		}
		if got := names(t, local, "other"); len(got) != 0 {
			t.Fatalf("collection outside the policy stored %v", got)
		}
		// No stray temporary files in the local store.
		for _, e := range treeDigest(t, local.Root()) {
			if filepath.Base(e) != "" && (containsTmp(e)) {
				t.Fatalf("stray temporary file: %s", e)
			}
		}
		// Metrics.
		if v := testutil.ToFloat64(s.m.failures.WithLabelValues("twice-daily", "fs:broken")); v != float64(runs) {
			t.Fatalf("broken destination failures %v, want %d", v, runs)
		}
		if v := testutil.ToFloat64(s.m.failures.WithLabelValues("twice-daily", creationDestination)); v != float64(runs) {
			t.Fatalf("creation failures %v, want %d", v, runs)
		}
		if v := testutil.ToFloat64(s.m.failures.WithLabelValues("twice-daily", "local")); v != 0 {
			t.Fatalf("local failures %v", v)
		}
		if v := testutil.ToFloat64(s.m.lastSuccess.WithLabelValues("twice-daily", "fs:remote")); v != float64(last.Unix()) {
			t.Fatalf("last success %v, want %d", v, last.Unix())
		}
		if v := testutil.ToFloat64(s.m.verifyTotal.WithLabelValues("twice-daily", "ok")); v != float64(runs) {
			t.Fatalf("verifications %v", v)
		}
		// films fails every run: no run was wholly successful, so the
		// policy's snapshots are as old as the scheduler.
		if v := testutil.ToFloat64(s.m.lastRunOK.WithLabelValues("twice-daily")); v != 0 {
			t.Fatalf("last run success %v", v)
		}
		if v := testutil.ToFloat64(s.m.lastRun.WithLabelValues("twice-daily")); v != float64(last.Unix()) {
			t.Fatalf("last run %v, want %d", v, last.Unix())
		}
		if age := s.Age("twice-daily"); age != time.Since(start) {
			t.Fatalf("age %v, want %v", age, time.Since(start))
		}
		if v := testutil.ToFloat64(s.m.interval.WithLabelValues("twice-daily")); v != 12*3600 {
			t.Fatalf("interval %v", v)
		}
		if v := testutil.ToFloat64(s.m.verifyLast.WithLabelValues("twice-daily")); v != 1 {
			t.Fatalf("verify last result %v", v)
		}
		if n := testutil.CollectAndCount(reg, "snapshot_age_seconds"); n != 1 {
			t.Fatalf("age series %d", n)
		}
		// Without the failing collection and destination the next run
		// succeeds and the age starts again.
		pol.Collections, pol.Destinations = []string{"books"}, []Store{remote, local}
		s.RunPolicy(context.Background(), pol)
		if v := testutil.ToFloat64(s.m.lastRunOK.WithLabelValues("twice-daily")); v != 1 || s.Age("twice-daily") != 0 {
			t.Fatalf("after a good run: success %v age %v", v, s.Age("twice-daily"))
		}
		if n := testutil.CollectAndCount(reg, "snapshot_size_bytes", "snapshot_duration_seconds"); n != 2 {
			t.Fatalf("size/duration series: %d", n)
		}
	})
}

func containsTmp(s string) bool {
	return len(s) > 0 && (filepath.Base(s)[0] == '.' || contains(s, tmpMarker))
}

func contains(s, sub string) bool { return len(sub) > 0 && len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestSchedulerIntervalSkipsMissedRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		local, _ := OpenDirStore(filepath.Join(t.TempDir(), "local"), "local")
		prod := &treeProducer{t: t, src: makeTree(t, 12, 5), staging: local, names: []string{"c"}}
		pol := &Policy{Name: "p", Collections: []string{"*"}, Interval: time.Hour, Destinations: []Store{local}}
		s, err := NewScheduler(SchedulerOptions{Policies: []*Policy{pol}, Producer: prod,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(10*time.Hour + time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if got := prod.created.Load(); got != 10 {
			t.Fatalf("%d runs in 10 hours", got)
		}
		if got := names(t, local, "c"); len(got) != 10 {
			t.Fatalf("stored %v", got)
		}
	})
}

func TestDecodePolicies(t *testing.T) {
	raw := []any{
		map[string]any{
			"name": "nightly", "collections": []any{"*"}, "cron": "0 3 * * *",
			"retention":    map[string]any{"keep_last": 3, "daily": 7},
			"destinations": []any{"local", map[string]any{"fs": "/mnt/x"}, map[string]any{"s3": map[string]any{"endpoint": "s3.local:9000", "bucket": "b", "prefix": "p"}}},
			"verify":       true,
		},
		map[string]any{"collections": []any{"books"}, "interval": "15m", "destinations": []any{"local"}},
	}
	ps, err := DecodePolicies(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Retention != (Retention{KeepLast: 3, Daily: 7}) || !ps[0].Destinations[0].Local ||
		ps[0].Destinations[1].FS != "/mnt/x" || ps[0].Destinations[2].S3.Bucket != "b" || !ps[0].Verify ||
		time.Duration(ps[1].Interval) != 15*time.Minute || ps[1].Name != "policy-1" {
		t.Fatalf("decoded %+v", ps)
	}
	for i, bad := range []any{
		[]any{map[string]any{"collections": []any{"*"}, "destinations": []any{"local"}}},                                     // no schedule
		[]any{map[string]any{"collections": []any{"*"}, "interval": "1h", "cron": "@daily", "destinations": []any{"local"}}}, // both
		[]any{map[string]any{"collections": []any{"*"}, "interval": "1h"}},                                                   // no destination
		[]any{map[string]any{"collections": []any{"*"}, "interval": "1h", "destinations": []any{"remote"}}},                  // unknown
		[]any{map[string]any{"collections": []any{"*"}, "interval": "1h", "destinations": []any{map[string]any{}}}},          // empty object
		[]any{map[string]any{"collections": []any{"*"}, "cron": "61 * * * *", "destinations": []any{"local"}}},               // bad cron
		[]any{map[string]any{"collections": []any{}, "interval": "1h", "destinations": []any{"local"}}},                      // no collections
		[]any{map[string]any{"collections": []any{"*"}, "interval": "1h", "destinations": []any{"local"}, "retention": map[string]any{"daily": -1}}},
		[]any{map[string]any{"collections": []any{"*"}, "interval": "1h", "destinations": []any{"local"}, "colections": 1}}, // typo
	} {
		if _, err := DecodePolicies(bad); err == nil {
			t.Errorf("case %d accepted", i)
		} else {
			t.Logf("case %d: %v", i, err)
		}
	}
	_ = fmt.Sprint
}
