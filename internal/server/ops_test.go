package server

import (
	"io"
	"strings"
	"testing"
)

// metricsText returns GET /metrics.
func (c *restClient) metricsText() string {
	c.t.Helper()
	resp, err := c.http.Get(c.base + "/metrics")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

// TestStandaloneHealthAndOpsMetrics: a standalone node is green with its
// collections, through REST and its gauges; disk gauges report the data
// directories' file systems.
func TestStandaloneHealthAndOpsMetrics(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	c.ok("PUT", "/collections/a", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}, "shard_number": 2})
	res := c.ok("GET", "/cluster/health", nil)["result"].(map[string]any)
	cols := res["collections"].(map[string]any)
	if res["status"] != "green" || res["standalone"] != true || len(res["reasons"].([]any)) != 0 ||
		cols["a"].(map[string]any)["shard_count"] != float64(2) || cols["a"].(map[string]any)["status"] != "green" {
		t.Fatalf("%v", res)
	}
	m := c.metricsText()
	for _, want := range []string{
		`shoal_cluster_health{status="green"} 1`, `shoal_cluster_health{status="red"} 0`, "shoal_cluster_health_code 0",
		`shoal_collection_health{collection="a",status="green"} 1`,
		`shoal_collection_shards_unreadable{collection="a"} 0`,
		`shoal_disk_free_bytes{path="storage"}`, `shoal_disk_total_bytes{path="snapshots"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, "shoal_cluster_peer_up") {
		t.Error("a standalone node reports peer liveness")
	}
}
