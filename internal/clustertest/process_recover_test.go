package clustertest

import (
	"fmt"
	"testing"
	"time"
)

// TestProcessCollectionSnapshotRecover recovers a collection snapshot
// into a collection spread over three real shoal processes (3 shards,
// replication factor 2) with priority snapshot: the archive is fetched
// by one process over HTTP and its shards staged on the others over the
// peer port; every replica ends with the source's shard digests.
func TestProcessCollectionSnapshotRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	pc := newProcCluster(t, 3)
	for i := range 3 {
		pc.start(i)
	}
	pc.waitReady(60 * time.Second)
	pc.waitFormed(60 * time.Second)
	base := func(i int) string { return pc.nodes[i].HTTP() }
	must := func(i int, method, path string, body, out any) {
		t.Helper()
		code, raw, err := httpJSON(base(i), method, path, body, 2*time.Minute)
		if err != nil || code != 200 {
			t.Fatalf("%s %s on node %d: %d %s %v", method, path, i, code, raw, err)
		}
		if out != nil {
			if err := decodeResult(raw, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	vectors := map[string]any{"size": 8, "distance": "Cosine"}
	must(0, "PUT", "/collections/src", map[string]any{"vectors": vectors, "shard_number": 3, "replication_factor": 3}, nil)
	must(1, "PUT", "/collections/src/points?wait=true", map[string]any{"points": testPoints(300, 8, 51)}, nil)
	must(0, "PUT", "/collections/spread", map[string]any{"vectors": vectors, "shard_number": 3, "replication_factor": 2}, nil)
	other := testPoints(200, 8, 52)
	for i := range other {
		other[i].ID += 5000
	}
	must(2, "PUT", "/collections/spread/points?wait=true", map[string]any{"points": other}, nil)
	var snap struct {
		Name string `json:"name"`
	}
	must(0, "POST", "/collections/src/snapshots?wait=true", nil, &snap)
	type digest struct {
		Shard  int    `json:"shard"`
		State  string `json:"state"`
		Seq    uint64 `json:"seq"`
		Digest string `json:"digest"`
	}
	var srcDs []digest
	must(0, "GET", "/collections/src/cluster/digests", nil, &srcDs)
	want := map[int]string{}
	for _, d := range srcDs {
		want[d.Shard] = fmt.Sprintf("%s@%d", d.Digest, d.Seq)
	}
	must(2, "PUT", "/collections/spread/snapshots/recover",
		map[string]any{"location": base(0) + "/collections/src/snapshots/" + snap.Name, "priority": "snapshot"}, nil)
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[int][]string{}
		for i := range 3 {
			var ds []digest
			must(i, "GET", "/collections/spread/cluster/digests", nil, &ds)
			for _, d := range ds {
				got[d.Shard] = append(got[d.Shard], fmt.Sprintf("%s %s@%d", d.State, d.Digest, d.Seq))
			}
		}
		ok := len(got) == 3
		for s, rs := range got {
			ok = ok && len(rs) == 2 && rs[0] == "Active "+want[s] && rs[1] == rs[0]
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spread's replicas %v, want the source's %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var cnt struct {
		Count int `json:"count"`
	}
	must(1, "POST", "/collections/spread/points/count?consistency=all", map[string]any{"exact": true}, &cnt)
	if cnt.Count != 300 {
		t.Fatalf("spread counts %d points, want the snapshot's 300", cnt.Count)
	}
}
