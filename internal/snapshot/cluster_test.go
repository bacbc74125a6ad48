package snapshot

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// clusterTree writes a cluster archive's tree: collection c with two
// shards, each a shard archive of a small tree, and returns its root and
// manifest (Files and Dirs left to WriteArchive). damage flips a byte in
// shard 1's archive after it was written.
func clusterTree(t *testing.T, damage bool) (string, *Manifest) {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "collections", "c", "shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := testManifest("c")
	cc := ClusterCollection{Name: "c", Config: base.Config, Placement: [][]uint64{{1, 2}, {2, 3}}}
	for id := range 2 {
		sm := testManifest("c")
		sm.Kind, sm.Shards = KindShard, []ShardManifest{base.Shards[id]}
		b, _ := buildArchive(t, sm, makeTree(t, uint64(id)+40, 10, 5000))
		if damage && id == 1 {
			b[len(b)-2000] ^= 1
		}
		entry := ClusterShardEntry("c", id)
		if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(entry)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		cc.Shards = append(cc.Shards, ClusterShard{ID: id, Entry: entry, LastSeq: sm.Shards[0].LastSeq, Epoch: 1,
			Points: sm.Shards[0].Points, SourcePeer: 2, Size: int64(len(b)), SHA256: sum(b)})
	}
	return root, &Manifest{FormatVersion: ClusterFormatVersion, Kind: KindCluster, ShoalVersion: "test", PeerID: 1,
		ClusterID: "c1", Labels: map[string]string{"batch": "7"}, Aliases: map[string]string{"al": "c"},
		ClusterCollections: []ClusterCollection{cc}}
}

// TestClusterArchive writes a cluster archive and reads it back: the
// manifest round-trips, verification checks every nested shard archive
// (and fails on a damaged one), and inconsistent manifests are refused.
func TestClusterArchive(t *testing.T) {
	root, m := clusterTree(t, false)
	b, cs := buildArchive(t, m, root)
	got, err := ReadManifest(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindCluster || got.FormatVersion != 2 || got.Labels["batch"] != "7" || got.ClusterPoints() != 7 || len(got.ClusterCollections[0].Shards) != 2 {
		t.Fatalf("manifest read back: %+v", got)
	}
	rep, err := Verify(context.Background(), bytes.NewReader(b), "x", cs, t.TempDir(), nil, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Points != 7 || len(rep.Collections) != 2 {
		t.Fatalf("verify: %+v", rep)
	}

	root, m = clusterTree(t, true)
	b, cs = buildArchive(t, m, root)
	rep, err = Verify(context.Background(), bytes.NewReader(b), "x", cs, t.TempDir(), nil, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !strings.Contains(rep.Error, "collection c shard 1") {
		t.Fatalf("verify of a damaged shard archive: %+v", rep)
	}

	for _, tc := range []struct {
		name string
		mod  func(*Manifest)
		want string
	}{
		{"version 1", func(m *Manifest) { m.FormatVersion = 1 }, "needs format version 2"},
		{"version 3", func(m *Manifest) { m.FormatVersion = 3 }, "unknown snapshot format version 3"},
		{"entry", func(m *Manifest) { m.ClusterCollections[0].Shards[1].Entry = "collections/c/shards/0.snapshot" }, "want \"collections/c/shards/1.snapshot\""},
		{"hash", func(m *Manifest) { m.ClusterCollections[0].Shards[0].SHA256 = strings.Repeat("0", 64) }, "twice differently"},
		{"shards", func(m *Manifest) { m.ClusterCollections[0].Shards = m.ClusterCollections[0].Shards[:1] }, "its config says 2"},
		{"alias", func(m *Manifest) { m.Aliases = map[string]string{"al": "gone"} }, "does not hold"},
		{"name", func(m *Manifest) { m.ClusterCollections = append(m.ClusterCollections, m.ClusterCollections[0]) }, "twice"},
	} {
		root, m := clusterTree(t, false)
		if err := ScanDir(context.Background(), root, m, nil); err != nil {
			t.Fatal(err)
		}
		m.FormatVersion = ClusterFormatVersion
		tc.mod(m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// clusterProducer is a treeProducer that also makes "cluster" archives,
// and leads when told.
type clusterProducer struct {
	*treeProducer
	leader atomic.Bool
	runs   atomic.Int64
}

func (p *clusterProducer) IsClusterLeader() bool { return p.leader.Load() }

func (p *clusterProducer) ClusterMode() bool { return true }

func (p *clusterProducer) CreateClusterArchive(ctx context.Context, labels map[string]string, name func(time.Time) string) (*LocalArchive, error) {
	a, err := p.CreateArchive(ctx, "c")
	if err != nil {
		return nil, err
	}
	a.Dir, a.Description.Name = ClusterDir, name(time.Now())
	p.runs.Add(1)
	return a, nil
}

// TestClusterPolicyLeaderChange runs a cluster policy on two simulated
// nodes sharing one destination: only the leader runs; a new leader
// leaves a run its predecessor stored, and takes the run that came due
// while no node led; a starting scheduler takes the run due just before it
// started. Every due time has exactly one archive.
func TestClusterPolicyLeaderChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared, _ := OpenDirStore(filepath.Join(t.TempDir(), "shared"), "shared")
		tree := makeTree(t, 13, 5)
		// A producer that is not a cluster member cannot run cluster policies.
		pol := &Policy{Name: "hourly", Cluster: true, Interval: time.Hour, Destinations: []Store{shared}}
		if _, err := NewScheduler(SchedulerOptions{Policies: []*Policy{pol}, Producer: &treeProducer{t: t}}); err == nil ||
			!strings.Contains(err.Error(), "need a node in cluster mode") {
			t.Fatalf("cluster policy without a cluster producer: %v", err)
		}
		var nodes [2]*clusterProducer
		var cancels [2]context.CancelFunc
		var dones [2]chan struct{}
		for i := range nodes {
			nodes[i] = &clusterProducer{treeProducer: &treeProducer{t: t, src: tree, staging: shared}}
			pol := &Policy{Name: "hourly", Cluster: true, Interval: time.Hour, Destinations: []Store{shared}}
			s, err := NewScheduler(SchedulerOptions{Policies: []*Policy{pol}, Producer: nodes[i],
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			var ctx context.Context
			ctx, cancels[i] = context.WithCancel(context.Background())
			dones[i] = make(chan struct{})
			go func() { s.Run(ctx); close(dones[i]) }()
		}
		start := time.Now()
		nodes[0].leader.Store(true)
		// Hours 1–3: node 0 leads.
		time.Sleep(time.Until(start.Truncate(time.Hour).Add(3*time.Hour + 30*time.Minute)))
		synctest.Wait()
		// Node 0 stops; node 1 leads: it must not run hour 3 again.
		nodes[0].leader.Store(false)
		cancels[0]()
		<-dones[0]
		nodes[1].leader.Store(true)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := nodes[1].runs.Load(); n != 0 {
			t.Fatalf("the new leader ran %d times for runs already stored", n)
		}
		// Hour 5 comes due while no node leads; node 1 leads 40 s later.
		time.Sleep(time.Until(start.Truncate(time.Hour).Add(5*time.Hour - 10*time.Minute)))
		nodes[1].leader.Store(false)
		time.Sleep(10*time.Minute + 40*time.Second)
		synctest.Wait()
		nodes[1].leader.Store(true)
		time.Sleep(time.Until(start.Truncate(time.Hour).Add(6*time.Hour + 30*time.Minute)))
		synctest.Wait()
		cancels[1]()
		<-dones[1]
		ds, err := ListSnapshots(context.Background(), shared, ClusterDir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.Name)
		}
		var want []string
		// Hour 0 is the run due when the schedulers started: it is taken
		// at once, in case its leader went down.
		for h := 0; h <= 6; h++ {
			want = append(want, ScheduledClusterSnapshotName("hourly", start.Truncate(time.Hour).Add(time.Duration(h)*time.Hour)))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("archives %v, want %v", got, want)
		}
		if r0, r1 := nodes[0].runs.Load(), nodes[1].runs.Load(); r0 != 4 || r1 != 3 {
			t.Fatalf("node 0 ran %d times, node 1 %d; want 4 and 3", r0, r1)
		}
	})
}
