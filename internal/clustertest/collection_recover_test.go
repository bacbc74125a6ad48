package clustertest

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// nodesOfShards returns, per shard, the sorted nodes holding a replica of
// collection name as the running nodes report them.
func nodesOfShards(t *testing.T, c *Cluster, name string) map[int][]int {
	t.Helper()
	v, err := replicasOf(c, name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]int{}
	for s, rs := range v {
		for _, r := range rs {
			out[s] = append(out[s], r.Node)
		}
		slices.Sort(out[s])
	}
	return out
}

// uploadSnapshot posts the archive at path to node i's upload form of
// collection name (POST /collections/{name}/snapshots/upload).
func uploadSnapshot(t *testing.T, c *Cluster, i int, name, query, path string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("snapshot", filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(fw, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mw.Close()
	url := "http://" + c.Nodes[i].Srv.HTTPAddr() + "/collections/" + name + "/snapshots/upload?" + query
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Post(url, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestCollectionSnapshotRecoverCluster recovers Qdrant collection
// snapshots in a 3-node cluster with each priority, through the URL and
// the upload forms: a new collection is created from the snapshot and
// placed over the peers; "replica" keeps a collection whose shards all
// have an Active replica; "snapshot" and "no_sync" replace the data of a
// collection spread over the nodes (3 shards, replication factor 2) on
// every replica, which then hold equal digests, equal to the source's,
// on the same peers; writes go on afterwards; one shard recovers alone
// from the collection snapshot; an incompatible snapshot is refused.
func TestCollectionSnapshotRecoverCluster(t *testing.T) {
	c := startCluster(t, 3)
	vectors := map[string]any{"size": 8, "distance": "Cosine"}
	// The source: 3 shards × 2 replicas, so the node taking its collection
	// snapshot fetches the shards it does not hold from the others.
	c.MustDo(0, "PUT", "/collections/src", map[string]any{"vectors": vectors, "shard_number": 3, "replication_factor": 2}, nil)
	c.MustDo(0, "PUT", "/collections/src/index?wait=true", map[string]any{"field_name": "k", "field_schema": "keyword"}, nil)
	srcPts := testPoints(600, 8, 21)
	for lo := 0; lo < len(srcPts); lo += 200 {
		c.MustDo(lo/200, "PUT", "/collections/src/points?wait=true", map[string]any{"points": srcPts[lo : lo+200]}, nil)
	}
	srcDigests := digests(t, c, "src", 3, 2)
	srcAll := scrollAll(t, c, 0, "src")
	var snap struct {
		Name     string `json:"name"`
		Checksum string `json:"checksum"`
	}
	c.MustDo(0, "POST", "/collections/src/snapshots?wait=true", nil, &snap)
	location := "http://" + c.Nodes[0].Srv.HTTPAddr() + "/collections/src/snapshots/" + snap.Name
	sameData := func(name string) {
		t.Helper()
		got := scrollAll(t, c, 2, name)
		if len(got) != len(srcAll) {
			t.Fatalf("%s holds %d points, want %d", name, len(got), len(srcAll))
		}
		for id, r := range srcAll {
			if g, ok := got[id]; !ok || fmt.Sprint(g) != fmt.Sprint(r) {
				t.Fatalf("%s: point %d is %+v, want %+v", name, id, got[id], r)
			}
		}
	}

	// A new collection, default priority (replica): created from the
	// snapshot with its config, every replica holding the source's data.
	var ok bool
	c.MustDo(1, "PUT", "/collections/fresh/snapshots/recover", map[string]any{"location": location, "checksum": snap.Checksum}, &ok)
	if !ok {
		t.Fatal("recover answered false")
	}
	waitShardDigests(t, c, "fresh", 3, 2, srcDigests)
	sameData("fresh")
	var info struct {
		PayloadSchema map[string]any `json:"payload_schema"`
	}
	c.MustDo(2, "GET", "/collections/fresh", nil, &info)
	if _, ok := info.PayloadSchema["k"]; !ok {
		t.Fatalf("fresh lost the payload index: %+v", info)
	}

	// A collection spread over the nodes: 3 shards, 2 replicas each.
	c.MustDo(0, "PUT", "/collections/spread", map[string]any{"vectors": vectors, "shard_number": 3, "replication_factor": 2}, nil)
	own := testPoints(300, 8, 22)
	for i := range own {
		own[i].ID += 10000
	}
	c.MustDo(2, "PUT", "/collections/spread/points?wait=true", map[string]any{"points": own}, nil)
	digests(t, c, "spread", 3, 2)
	peers := nodesOfShards(t, c, "spread")

	// replica: every shard has an Active replica, whose data wins.
	c.MustDo(2, "PUT", "/collections/spread/snapshots/recover", map[string]any{"location": location, "priority": "replica"}, nil)
	if n := countAll(t, c, 1, "spread"); n != len(own) {
		t.Fatalf("priority replica changed spread: %d points, want its own %d", n, len(own))
	}

	// snapshot: the snapshot's data on every replica, the same peers.
	c.MustDo(2, "PUT", "/collections/spread/snapshots/recover", map[string]any{"location": location, "priority": "snapshot"}, nil)
	waitShardDigests(t, c, "spread", 3, 2, srcDigests)
	sameData("spread")
	if got := nodesOfShards(t, c, "spread"); fmt.Sprint(got) != fmt.Sprint(peers) {
		t.Fatalf("spread moved from %v to %v", peers, got)
	}
	var cinfo struct {
		Config struct {
			Params struct {
				ReplicationFactor int `json:"replication_factor"`
			} `json:"params"`
		} `json:"config"`
	}
	c.MustDo(0, "GET", "/collections/spread", nil, &cinfo)
	if cinfo.Config.Params.ReplicationFactor != 2 {
		t.Fatalf("spread's replication factor became %d", cinfo.Config.Params.ReplicationFactor)
	}
	// Writes go on after the restore, on every replica.
	c.MustDo(0, "PUT", "/collections/spread/points?wait=true", map[string]any{"points": own[:50]}, nil)
	waitCount(t, c, 2, "spread", len(srcAll)+50)
	digests(t, c, "spread", 3, 2)

	// no_sync through the upload form, to a node holding the archive.
	archive := filepath.Join(t.TempDir(), "src.snapshot")
	resp, err := http.Get(location)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f.Close()
	if code, raw := uploadSnapshot(t, c, 1, "spread", "priority=no_sync&wait=true", archive); code != 200 {
		t.Fatalf("upload no_sync: %d %s", code, raw)
	}
	// The upload answers once this node applied the restore; the
	// others follow.
	waitShardDigests(t, c, "spread", 3, 2, srcDigests)
	sameData("spread")
	// Each replaced generation's files are gone from every node.
	for i := range c.Nodes {
		gens, _ := filepath.Glob(filepath.Join(c.Nodes[i].Cfg.Storage.StoragePath, "collections", "spread", "gen-*"))
		dirs := 0
		for _, g := range gens {
			if !strings.HasSuffix(g, ".lease") {
				dirs++
			}
		}
		if dirs > 1 {
			t.Fatalf("node %d keeps replaced generations: %v", i, gens)
		}
	}

	// Again while a writer upserts through another node: the replicas
	// converge.
	stop := startWriter(t, c, 0, "spread", own)
	c.MustDo(2, "PUT", "/collections/spread/snapshots/recover", map[string]any{"location": location, "priority": "snapshot"}, nil)
	time.Sleep(300 * time.Millisecond)
	wrote, failed := stop()
	t.Logf("writer during the restore: %d batches acknowledged, %d failed", wrote, failed)
	if wrote == 0 {
		t.Fatal("no write succeeded around the restore")
	}
	digests(t, c, "spread", 3, 2)

	// Shard 0 alone, from the collection snapshot, after writes to it.
	c.MustDo(1, "PUT", "/collections/spread/points?wait=true", map[string]any{"points": own}, nil)
	dirty := digests(t, c, "spread", 3, 2)
	c.MustDo(1, "PUT", "/collections/spread/shards/0/snapshots/recover", map[string]any{"location": location, "priority": "snapshot"}, nil)
	want := map[int]string{0: srcDigests[0], 1: dirty[1], 2: dirty[2]}
	waitShardDigests(t, c, "spread", 3, 2, want)

	// Refusals: vectors that differ (Qdrant's text).
	c.MustDo(0, "PUT", "/collections/other", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Cosine"}, "shard_number": 3}, nil)
	code, raw := c.Do(1, "PUT", "/collections/other/snapshots/recover", map[string]any{"location": location, "priority": "snapshot"}, nil)
	if code != 400 || !strings.Contains(string(raw), "Snapshot is not compatible with existing collection") {
		t.Fatalf("incompatible snapshot: %d %s", code, raw)
	}
}
