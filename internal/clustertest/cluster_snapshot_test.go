package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// clusterSnap is an entry of GET /cluster/snapshots.
type clusterSnap struct {
	Name        string            `json:"name"`
	Size        int64             `json:"size"`
	Checksum    string            `json:"checksum"`
	Labels      map[string]string `json:"labels"`
	Collections []string          `json:"collections"`
	Points      uint64            `json:"points"`
}

// record is a point as scroll returns it.
type record struct {
	ID      int            `json:"id"`
	Vector  []float32      `json:"vector"`
	Payload map[string]any `json:"payload"`
}

// scrollAll reads every point of a collection through node i.
func scrollAll(t *testing.T, c *Cluster, i int, name string) map[int]record {
	t.Helper()
	out := map[int]record{}
	var offset any
	for {
		var page struct {
			Points []record `json:"points"`
			Next   any      `json:"next_page_offset"`
		}
		body := map[string]any{"limit": 500, "with_payload": true, "with_vector": true}
		if offset != nil {
			body["offset"] = offset
		}
		c.MustDo(i, "POST", "/collections/"+name+"/points/scroll?consistency=all", body, &page)
		for _, r := range page.Points {
			out[r.ID] = r
		}
		if page.Next == nil {
			return out
		}
		offset = page.Next
	}
}

// digests returns each shard's digest and sequence number, once every
// replica of every shard agrees.
func digests(t *testing.T, c *Cluster, name string, shards, rf int) map[int]string {
	t.Helper()
	v := waitConverged(t, c, name, shards, rf, 30*time.Second)
	out := map[int]string{}
	for s, rs := range v {
		out[s] = fmt.Sprintf("%s@%d", rs[0].Digest, rs[0].Seq)
	}
	return out
}

// startCluster starts an n-node cluster and waits for it to form.
func startCluster(t *testing.T, n int) *Cluster {
	t.Helper()
	c := New(t, Options{Nodes: n, Configure: fastFailure})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// searches returns exact top-10 answers for a few query vectors.
func searches(t *testing.T, c *Cluster, i int, name string, pts []point) []any {
	t.Helper()
	var out []any
	for _, p := range pts[:5] {
		var got any
		c.MustDo(i, "POST", "/collections/"+name+"/points/query",
			map[string]any{"query": p.Vector, "limit": 10, "params": map[string]any{"exact": true}, "with_payload": true}, &got)
		out = append(out, normalize(got))
	}
	return out
}

// TestClusterSnapshotRestore snapshots a 3-node cluster holding two
// collections with replication factor 2 while writes to one of them go on,
// then restores the snapshot into fresh 2-node and 4-node clusters: the
// static collection's counts, per-shard digests and search answers equal
// the source's, the written one holds every write acknowledged before the
// snapshot started and exactly the points the manifest counts, each equal
// to the source's; payload indexes and aliases come back; and one
// collection restores into a running cluster under a new name.
func TestClusterSnapshotRestore(t *testing.T) {
	src := startCluster(t, 3)
	src.MustDo(0, "PUT", "/collections/busy", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"},
		"shard_number": 4, "replication_factor": 2}, nil)
	src.MustDo(1, "PUT", "/collections/calm", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 3, "replication_factor": 2}, nil)
	src.MustDo(2, "PUT", "/collections/calm/index?wait=true", map[string]any{"field_name": "k", "field_schema": "keyword"}, nil)
	src.MustDo(0, "POST", "/collections/aliases", map[string]any{"actions": []any{
		map[string]any{"create_alias": map[string]any{"collection_name": "calm", "alias_name": "quiet"}}}}, nil)
	calm := testPoints(900, 8, 11)
	for lo := 0; lo < len(calm); lo += 300 {
		src.MustDo(lo/300, "PUT", "/collections/calm/points?wait=true", map[string]any{"points": calm[lo : lo+300]}, nil)
	}
	busy := testPoints(20000, 8, 12)
	// The first 1,000 are written before anything else.
	src.MustDo(0, "PUT", "/collections/busy/points?wait=true", map[string]any{"points": busy[:1000]}, nil)

	// A writer keeps adding new points to busy through every node.
	var acked atomic.Int64 // points busy[:acked] are acknowledged
	acked.Store(1000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for lo, n := 1000, 0; lo+50 <= len(busy); lo, n = lo+50, n+1 {
			select {
			case <-stop:
				return
			default:
			}
			if code, raw := src.Do(n%3, "PUT", "/collections/busy/points?wait=true", map[string]any{"points": busy[lo : lo+50]}, nil); code != 200 {
				t.Errorf("write of busy[%d:%d]: %d %s", lo, lo+50, code, raw)
				return
			}
			acked.Store(int64(lo + 50))
		}
	}()
	time.Sleep(300 * time.Millisecond)
	before := int(acked.Load())
	var snap clusterSnap
	src.MustDo(1, "POST", "/cluster/snapshots", map[string]any{"labels": map[string]string{"batch": "b-17"}}, &snap)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	after := int(acked.Load())
	t.Logf("snapshot %s: %d bytes, %d points; busy had %d acknowledged points when it started, %d at the end", snap.Name, snap.Size, snap.Points, before, after)
	if after <= before {
		t.Fatalf("no write was acknowledged during the snapshot (%d before, %d after)", before, after)
	}
	// The snapshot is in the store of the node that took it (its local
	// snapshots directory here; S3 makes it every node's).
	var list []clusterSnap
	src.MustDo(1, "GET", "/cluster/snapshots", nil, &list)
	if len(list) != 1 || list[0].Name != snap.Name || list[0].Labels["batch"] != "b-17" || list[0].Checksum == "" ||
		!reflect.DeepEqual(list[0].Collections, []string{"busy", "calm"}) {
		t.Fatalf("GET /cluster/snapshots: %+v, want %+v", list, snap)
	}
	var described struct {
		Snapshot clusterSnap `json:"snapshot"`
		Manifest struct {
			Kind        string `json:"kind"`
			Collections []struct {
				Name   string `json:"name"`
				Shards []struct {
					LastSeq    uint64 `json:"last_seq"`
					SourcePeer uint64 `json:"source_peer"`
					SHA256     string `json:"sha256"`
				} `json:"shards"`
			} `json:"cluster_collections"`
		} `json:"manifest"`
	}
	src.MustDo(1, "GET", "/cluster/snapshots/"+snap.Name+"/manifest", nil, &described)
	if m := described.Manifest; m.Kind != "cluster" || len(m.Collections) != 2 || len(m.Collections[0].Shards) != 4 ||
		m.Collections[0].Shards[0].SourcePeer == 0 || m.Collections[0].Shards[0].SHA256 == "" || described.Snapshot.Checksum != snap.Checksum {
		t.Fatalf("GET /cluster/snapshots/%s/manifest: %+v", snap.Name, described)
	}
	if code, _ := src.Do(1, "GET", "/cluster/snapshots/nope.snapshot/manifest", nil, nil); code != 404 {
		t.Fatalf("manifest of a missing snapshot: %d", code)
	}
	if int(snap.Points) < before+len(calm) {
		t.Fatalf("the snapshot holds %d points, want at least %d", snap.Points, before+len(calm))
	}

	srcBusy := scrollAll(t, src, 0, "busy")
	srcCalm := scrollAll(t, src, 1, "calm")
	calmDigests := digests(t, src, "calm", 3, 2)
	calmSearch := searches(t, src, 0, "calm", calm)
	location := "http://" + src.Nodes[1].Srv.HTTPAddr() + "/cluster/snapshots/" + snap.Name

	check := func(t *testing.T, c *Cluster, calmName string) {
		t.Helper()
		if got := digests(t, c, calmName, 3, 2); !reflect.DeepEqual(got, calmDigests) {
			t.Fatalf("digests of the restored calm: %v, want %v", got, calmDigests)
		}
		for i := range c.Nodes {
			if got := searches(t, c, i, calmName, calm); !reflect.DeepEqual(got, calmSearch) {
				t.Fatalf("node %d: searches of the restored calm differ:\n got %v\nwant %v", i, got, calmSearch)
			}
			if n := countAll(t, c, i, calmName); n != len(srcCalm) {
				t.Fatalf("node %d counts %d calm points, want %d", i, n, len(srcCalm))
			}
		}
		var info struct {
			PayloadSchema map[string]any `json:"payload_schema"`
		}
		c.MustDo(0, "GET", "/collections/"+calmName, nil, &info)
		if _, ok := info.PayloadSchema["k"]; !ok {
			t.Fatalf("the restored calm lost its payload index: %v", info.PayloadSchema)
		}
	}
	checkBusy := func(t *testing.T, c *Cluster) {
		t.Helper()
		digests(t, c, "busy", 4, 2)
		got := scrollAll(t, c, len(c.Nodes)-1, "busy")
		if len(got)+len(srcCalm) != int(snap.Points) {
			t.Fatalf("the restored busy holds %d points; the snapshot counts %d with calm's %d", len(got), snap.Points, len(srcCalm))
		}
		for _, p := range busy[:before] {
			if _, ok := got[p.ID]; !ok {
				t.Fatalf("point %d, acknowledged before the snapshot started, is not in the restored busy", p.ID)
			}
		}
		for id, r := range got {
			if want, ok := srcBusy[id]; !ok || !reflect.DeepEqual(normalize(r), normalize(want)) {
				t.Fatalf("restored point %d: %+v, the source holds %+v", id, r, want)
			}
		}
	}

	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("into%d", n), func(t *testing.T) {
			dst := startCluster(t, n)
			start := time.Now()
			var res struct {
				Restored []string `json:"restored"`
				Points   uint64   `json:"points"`
			}
			dst.MustDo(n-1, "POST", "/cluster/snapshots/recover", map[string]any{"location": location, "checksum": snap.Checksum}, &res)
			t.Logf("restored into %d nodes in %s: %+v", n, time.Since(start), res)
			sort.Strings(res.Restored)
			if !reflect.DeepEqual(res.Restored, []string{"busy", "calm"}) || res.Points != snap.Points {
				t.Fatalf("restore answered %+v", res)
			}
			check(t, dst, "calm")
			checkBusy(t, dst)
			var aliases struct {
				Aliases []struct {
					Alias      string `json:"alias_name"`
					Collection string `json:"collection_name"`
				} `json:"aliases"`
			}
			dst.MustDo(0, "GET", "/aliases", nil, &aliases)
			if len(aliases.Aliases) != 1 || aliases.Aliases[0].Alias != "quiet" || aliases.Aliases[0].Collection != "calm" {
				t.Fatalf("aliases after the restore: %+v", aliases)
			}
			// Writes go on in the restored collection, on every replica.
			more := testPoints(50, 8, 99)
			for i := range more {
				more[i].ID += 1_000_000
			}
			dst.MustDo(0, "PUT", "/collections/busy/points?wait=true", map[string]any{"points": more}, nil)
			digests(t, dst, "busy", 4, 2)
			if n == 4 {
				// One collection into a running cluster, under a new name;
				// restoring it under its own name is refused.
				if code, raw := dst.Do(1, "POST", "/cluster/snapshots/recover", map[string]any{"location": location, "collection": "calm"}, nil); code != 400 {
					t.Fatalf("restoring calm over itself: %d %s", code, raw)
				}
				dst.MustDo(1, "POST", "/cluster/snapshots/recover", map[string]any{"location": location, "collection": "calm", "as": "calm2"}, nil)
				check(t, dst, "calm2")
			}
			for i := range dst.Nodes {
				dst.Stop(i)
			}
		})
	}

	// Delete, and what is gone answers 404.
	src.MustDo(1, "DELETE", "/cluster/snapshots/"+snap.Name, nil, nil)
	if code, raw := src.Do(1, "GET", "/cluster/snapshots/"+snap.Name, nil, nil); code != 404 {
		b, _ := json.Marshal(string(raw))
		t.Fatalf("download of a deleted snapshot: %d %s", code, b)
	}
}

// TestClusterSnapshotSchedule runs a cluster policy (every 2 s, verified,
// into one shared destination) on three nodes and stops the leader twice,
// once right at a due time (the stop, a graceful shutdown, and the election
// may outlast an interval): the destination ends with exactly one archive
// per due time from the first to the last, none missing, each verified by
// restoring it into scratch.
func TestClusterSnapshotSchedule(t *testing.T) {
	shared := t.TempDir()
	policy := map[string]any{"name": "every2s", "cluster": true, "interval": "2s", "verify": true,
		"retention": map[string]any{"keep_last": 1000}, "destinations": []any{map[string]any{"fs": shared}}}
	c := New(t, Options{Configure: func(i int, cfg *config.Config) {
		fastFailure(i, cfg)
		cfg.Snapshots = map[string]any{"policies": []any{policy}}
	}})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/sched", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 2, "replication_factor": 2}, nil)
	c.MustDo(1, "PUT", "/collections/sched/points?wait=true", map[string]any{"points": testPoints(300, 8, 5)}, nil)
	written := time.Now()

	store, err := snapshot.OpenDirStore(shared, "shared")
	if err != nil {
		t.Fatal(err)
	}
	dues := func() []time.Time {
		t.Helper()
		ds, err := snapshot.ListSnapshots(context.Background(), store, snapshot.ClusterDir)
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Time
		for _, d := range ds {
			due, ok := snapshot.NameTime(d.Name)
			if !ok || !strings.HasPrefix(d.Name, "cluster-every2s-") {
				t.Fatalf("unexpected archive %s", d.Name)
			}
			out = append(out, due)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
		return out
	}
	waitDues := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for len(dues()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d scheduled cluster snapshots after a minute, want %d", len(dues()), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitDues(2)
	stopped := map[int]bool{}
	for round := range 2 {
		leader := -1
		for leader < 0 {
			leader = c.Leader()
			time.Sleep(20 * time.Millisecond)
		}
		// Round 0 stops the leader just after a due time (its run under
		// way), round 1 between two.
		next := time.Now().UTC().Truncate(2 * time.Second).Add(2 * time.Second)
		if round == 1 {
			next = next.Add(time.Second)
		}
		time.Sleep(time.Until(next) + 30*time.Millisecond)
		c.Stop(leader)
		stopped[leader] = true
		t.Logf("round %d: stopped leader node %d at %s", round, leader, time.Now().UTC().Format("15:04:05.000"))
		c.Start(leader)
		waitDues(len(dues()) + 2)
	}
	ds := dues()
	for i := 1; i < len(ds); i++ {
		if gap := ds[i].Sub(ds[i-1]); gap != 2*time.Second {
			t.Fatalf("dues %s and %s are %s apart: a run was skipped (all: %v)", ds[i-1], ds[i], gap, ds)
		}
	}
	// Every run was verified; those due after the points were written
	// hold them (each of the 2 shards opened and checked).
	for _, due := range ds {
		name := snapshot.ScheduledClusterSnapshotName("every2s", due)
		// The report is stored just after the archive.
		var rep *snapshot.VerifyReport
		for deadline := time.Now().Add(10 * time.Second); rep == nil; time.Sleep(50 * time.Millisecond) {
			if rep, err = snapshot.ReadVerifyReport(context.Background(), store, snapshot.ClusterDir, name); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if rep == nil && time.Now().After(deadline) {
				t.Fatalf("%s has no verification report", name)
			}
		}
		if !rep.OK || rep.Kind != snapshot.KindCluster || (due.After(written) && (rep.Points != 300 || len(rep.Collections) != 2)) {
			t.Fatalf("%s: verification report %+v", name, rep)
		}
	}
	t.Logf("%d scheduled cluster snapshots, one per due time, from %s to %s", len(ds), ds[0].Format("15:04:05"), ds[len(ds)-1].Format("15:04:05"))
}

// TestClusterRestoreStagedLeak stops the node running a cluster restore
// after it staged every replica and before it proposed the collection (a
// crash: nothing of the restore runs on): the other nodes remove what was
// staged on them once its lease runs out, and the restarted node removes
// what it staged on itself at start, before its lease would have run out.
func TestClusterRestoreStagedLeak(t *testing.T) {
	const ttl = 8 * time.Second
	staged := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	c := New(t, Options{Configure: func(i int, cfg *config.Config) {
		fastFailure(i, cfg)
		cfg.Cluster.RestoreStageTimeout = config.Duration(ttl)
	}, Failpoint: func(i int, point string) error {
		if i != 0 || point != service.FailpointClusterRestoreStaged {
			return nil
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil
		}
		close(staged)
		<-release // the node is stopped meanwhile: the restore never goes on
		return errors.New("crashed")
	}})
	t.Cleanup(func() { close(release) })
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"},
		"shard_number": 3, "replication_factor": 3}, nil)
	c.MustDo(0, "PUT", "/collections/c/points?wait=true", map[string]any{"points": testPoints(300, 8, 5)}, nil)
	var snap clusterSnap
	c.MustDo(1, "POST", "/cluster/snapshots", map[string]any{}, &snap)
	location := "http://" + c.Nodes[1].Srv.HTTPAddr() + "/cluster/snapshots/" + snap.Name
	// The restore through node 0 as c2 (every node gets a replica of every
	// shard) stops at the failpoint; the request is abandoned.
	addr := c.Nodes[0].Srv.HTTPAddr()
	go func() {
		b, _ := json.Marshal(map[string]any{"location": location, "collection": "c", "as": "c2"})
		resp, err := (&http.Client{Timeout: time.Minute}).Post("http://"+addr+"/cluster/snapshots/recover", "application/json", bytes.NewReader(b))
		if err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-staged:
	case <-time.After(30 * time.Second):
		t.Fatal("the restore did not reach its staged step")
	}
	stagedDirs := func(i int) []string {
		m, _ := filepath.Glob(filepath.Join(c.Nodes[i].Cfg.Storage.StoragePath, "collections", "c2", "gen-*"))
		return m
	}
	for i := range c.Nodes {
		if len(stagedDirs(i)) != 2 { // the generation's directory and its lease
			t.Fatalf("node %d holds %v after staging", i, stagedDirs(i))
		}
	}
	leasePaths, _ := filepath.Glob(filepath.Join(c.Nodes[0].Cfg.Storage.StoragePath, "collections", "c2", "gen-*.lease"))
	raw, err := os.ReadFile(leasePaths[0])
	if err != nil {
		t.Fatal(err)
	}
	var lease struct {
		Expires time.Time `json:"expires"`
	}
	if err := json.Unmarshal(raw, &lease); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	c.Nodes[0].Srv.Close(ctx)
	cancel()
	c.Nodes[0].Srv = nil
	stopped := time.Now()

	// Node 0 restarts at once: what it staged on itself in its earlier
	// incarnation goes at start, without waiting for the lease.
	c.Start(0)
	for len(stagedDirs(0)) > 0 {
		if time.Now().After(lease.Expires) {
			t.Fatalf("node 0 still holds %v at its lease's end (%s after it stopped)", stagedDirs(0), time.Since(stopped))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("node 0 removed its own staged replicas %s after it stopped", time.Since(stopped).Round(time.Millisecond))
	// The others remove theirs once the lease runs out.
	for _, i := range []int{1, 2} {
		for len(stagedDirs(i)) > 0 {
			if time.Since(stopped) > ttl+10*time.Second {
				t.Fatalf("node %d still holds %v %s after the owner stopped", i, stagedDirs(i), time.Since(stopped))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("staged replicas removed everywhere %s after the owner stopped", time.Since(stopped).Round(time.Millisecond))
	// The restore can run again, and completes.
	c.MustDo(2, "POST", "/cluster/snapshots/recover", map[string]any{"location": location, "collection": "c", "as": "c2"}, nil)
	if got, want := len(scrollAll(t, c, 1, "c2")), 300; got != want {
		t.Fatalf("restored c2 holds %d points, want %d", got, want)
	}
	for i := range c.Nodes {
		if leases, _ := filepath.Glob(filepath.Join(c.Nodes[i].Cfg.Storage.StoragePath, "collections", "c2", "gen-*.lease")); len(leases) != 0 {
			// The sweep removes a committed restore's leases soon after.
			deadline := time.Now().Add(10 * time.Second)
			for len(leases) != 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				leases, _ = filepath.Glob(filepath.Join(c.Nodes[i].Cfg.Storage.StoragePath, "collections", "c2", "gen-*.lease"))
			}
			if len(leases) != 0 {
				t.Fatalf("node %d keeps the leases %v of a committed restore", i, leases)
			}
		}
	}
}
