package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memStore is an in-memory Store: a complete implementation of the
// interface (atomic puts, listing by directory), used where a simulation
// needs tens of thousands of store operations.
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	mod  map[string]time.Time
}

func newMemStore() *memStore {
	return &memStore{objs: map[string][]byte{}, mod: map[string]time.Time{}}
}

func (m *memStore) String() string { return "mem" }

func (m *memStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if size >= 0 && int64(len(b)) != size {
		return fmt.Errorf("got %d bytes, want %d", len(b), size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key], m.mod[key] = b, time.Now()
	return nil
}

func (m *memStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
	}
	return ObjectInfo{Name: filepath.Base(key), Size: int64(len(b)), ModTime: m.mod[key]}, nil
}

func (m *memStore) List(ctx context.Context, dir string) ([]ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	var out []ObjectInfo
	for k, b := range m.objs {
		name, ok := strings.CutPrefix(k, prefix)
		if ok && !strings.Contains(name, "/") {
			out = append(out, ObjectInfo{Name: name, Size: int64(len(b)), ModTime: m.mod[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	delete(m.mod, key)
	return nil
}

func TestMemStoreContract(t *testing.T) { storeContract(t, newMemStore()) }

// tinyProducer writes a few bytes per "archive": the scheduler, store and
// retention code paths are the real ones, only the payload is small.
type tinyProducer struct{ dir string }

func (p *tinyProducer) CollectionNames(ctx context.Context) ([]string, error) {
	return []string{"books"}, nil
}

func (p *tinyProducer) CreateArchive(ctx context.Context, collection string) (*LocalArchive, error) {
	now := time.Now()
	name := CollectionSnapshotName(collection, 1, now)
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, []byte(name), 0o644); err != nil {
		return nil, err
	}
	return &LocalArchive{Path: path, Dir: CollectionDir(collection), Description: Description{Name: name, Size: int64(len(name)), Checksum: sum([]byte(name))}}, nil
}

func (p *tinyProducer) CreateFullArchive(ctx context.Context) (*LocalArchive, error) {
	return nil, fmt.Errorf("not used")
}

func (p *tinyProducer) VerifyArchive(ctx context.Context, a *LocalArchive) (*VerifyReport, error) {
	return nil, fmt.Errorf("not used")
}

// TestSchedulerRetentionOverThirteenMonths runs the Scheduler every 15
// minutes for 13 simulated months (testing/synctest's fake clock), pruning
// after every run, and checks exactly which snapshots survive: the 3
// newest, the newest of each of the last 24 hours, 30 days and 12 months.
func TestSchedulerRetentionOverThirteenMonths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		prod := &tinyProducer{dir: t.TempDir()}
		pol := &Policy{Name: "p", Collections: []string{"*"}, Interval: 15 * time.Minute,
			Retention: Retention{KeepLast: 3, Hourly: 24, Daily: 30, Monthly: 12}, Destinations: []Store{st}}
		s, err := NewScheduler(SchedulerOptions{Policies: []*Policy{pol}, Producer: prod,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now() // 2000-01-01 00:00 UTC
		end := start.AddDate(0, 13, 0).Add(10*time.Hour + 30*time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(end.Sub(start) + time.Minute)
		synctest.Wait()
		cancel()
		<-done

		got := names(t, st, "books")
		slices.Sort(got)
		want := map[string]bool{}
		add := func(tm time.Time) {
			if tm.After(end) {
				tm = end
			}
			want[CollectionSnapshotName("books", 1, tm)] = true
		}
		for i := 0; i < 3; i++ {
			add(end.Add(-time.Duration(i) * 15 * time.Minute))
		}
		hour := end.Truncate(time.Hour)
		for i := 0; i < 24; i++ {
			add(hour.Add(-time.Duration(i) * time.Hour).Add(45 * time.Minute))
		}
		day := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
		for i := 0; i < 30; i++ {
			add(day.AddDate(0, 0, -i).Add(23*time.Hour + 45*time.Minute))
		}
		month := time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 12; i++ {
			add(month.AddDate(0, -i+1, 0).Add(-15 * time.Minute))
		}
		var wantList []string
		for n := range want {
			wantList = append(wantList, n)
		}
		slices.Sort(wantList)
		if !reflect.DeepEqual(got, wantList) {
			t.Fatalf("survivors differ:\n got %d: %v\nwant %d: %v", len(got), got, len(wantList), wantList)
		}
		// Every survivor kept its checksum sidecar, and nothing else is left.
		objs, _ := st.List(context.Background(), "books")
		if len(objs) != 2*len(got) {
			t.Fatalf("%d objects for %d snapshots", len(objs), len(got))
		}
		if v := s.m.pruned.WithLabelValues("p", "mem"); v == nil {
			t.Fatal("no pruned metric")
		}
		t.Logf("%d runs, %d survivors", int(end.Sub(start)/(15*time.Minute)), len(got))
	})
}
