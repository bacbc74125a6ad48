package clustertest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
)

type healthResult struct {
	Status      string   `json:"status"`
	Standalone  bool     `json:"standalone"`
	Reasons     []string `json:"reasons"`
	Collections map[string]struct {
		Status            string   `json:"status"`
		ShardCount        int      `json:"shard_count"`
		ShardsBelowFactor int      `json:"shards_below_replication_factor"`
		ShardsUnreadable  int      `json:"shards_unreadable"`
		Reasons           []string `json:"reasons"`
	} `json:"collections"`
}

// scrape returns node i's /metrics text.
func (c *Cluster) scrape(i int) string {
	c.t.Helper()
	resp, err := http.Get("http://" + c.Nodes[i].Srv.HTTPAddr() + "/metrics")
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

// metricValue returns the value of the series line starting with series
// (name and labels exactly as exposed), or -1 when absent.
func metricValue(text, series string) float64 {
	for line := range strings.SplitSeq(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestClusterHealth follows GET /cluster/health and its gauges through a
// real change of replica placement: green on every node with every shard
// at its replication factor; after a peer holding replicas is removed by
// force, the collection with two replicas per shard is yellow (its shards
// on the removed peer are below the factor but readable) and the one with
// one replica per shard is red (the shard that lived on the removed peer
// has no replica left), on every remaining node.
func TestClusterHealth(t *testing.T) {
	// Without the allocator: healing would bring collection two back to
	// its replication factor (two peers remain) before the yellow is seen.
	c := New(t, Options{Configure: func(_ int, cfg *config.Config) { cfg.Cluster.AutoHeal = false }})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/two", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2}, nil)
	c.MustDo(1, "PUT", "/collections/one", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}, "shard_number": 3}, nil)
	for i := range c.Nodes {
		var h healthResult
		c.MustDo(i, "GET", "/cluster/health", nil, &h)
		if h.Status != "green" || h.Standalone || len(h.Reasons) != 0 || h.Collections["two"].Status != "green" || h.Collections["one"].ShardCount != 3 {
			t.Fatalf("node %d: %+v", i, h)
		}
		m := c.scrape(i)
		if metricValue(m, `shoal_cluster_health{status="green"}`) != 1 || metricValue(m, `shoal_cluster_health_code`) != 0 ||
			metricValue(m, `collection_active_replicas_min{id="two"}`) != 2 {
			t.Fatalf("node %d metrics:\n%s", i, grepLines(m, "health", "replicas"))
		}
	}

	victim := c.Nodes[2].Srv.Cluster().ID()
	c.MustDo(0, "DELETE", fmt.Sprintf("/cluster/peer/%d?force=true", victim), nil, nil)
	for i := range 2 {
		deadline := time.Now().Add(10 * time.Second)
		var h healthResult
		for {
			c.MustDo(i, "GET", "/cluster/health", nil, &h)
			if h.Status != "green" || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		two, one := h.Collections["two"], h.Collections["one"]
		if h.Status != "red" || two.Status != "yellow" || two.ShardsBelowFactor != 2 || two.ShardsUnreadable != 0 ||
			one.Status != "red" || one.ShardsUnreadable != 1 || one.ShardsBelowFactor != 1 {
			t.Fatalf("node %d after removing peer %d: %+v", i, victim, h)
		}
		if len(h.Reasons) != 3 || !strings.Contains(strings.Join(h.Reasons, "\n"), "collection one: shard") ||
			!strings.Contains(strings.Join(h.Reasons, "\n"), "has no Active replica") ||
			!strings.Contains(strings.Join(h.Reasons, "\n"), "has 1 of 2 Active replicas") {
			t.Fatalf("node %d reasons: %q", i, h.Reasons)
		}
		m := c.scrape(i)
		if metricValue(m, `shoal_cluster_health{status="red"}`) != 1 || metricValue(m, `shoal_cluster_health{status="green"}`) != 0 ||
			metricValue(m, `shoal_collection_health{collection="two",status="yellow"}`) != 1 ||
			metricValue(m, `shoal_collection_shards_below_replication_factor{collection="two"}`) != 2 ||
			metricValue(m, `shoal_collection_shards_unreadable{collection="one"}`) != 1 ||
			metricValue(m, `collection_active_replicas_min{id="one"}`) != 0 ||
			metricValue(m, `collection_active_replicas_max{id="one"}`) != 1 {
			t.Fatalf("node %d metrics:\n%s", i, grepLines(m, "health", "shards_", "replicas"))
		}
	}
}

// TestLeaderAndLivenessMetrics stops a follower (the leader reports it
// down) and then the leader (the survivors count a new leader).
func TestLeaderAndLivenessMetrics(t *testing.T) {
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	leader := c.Leader()
	follower := (leader + 1) % 3
	other := 3 - leader - follower
	fid := strconv.FormatUint(c.Nodes[follower].Srv.Cluster().ID(), 10)
	lid := strconv.FormatUint(c.Nodes[leader].Srv.Cluster().ID(), 10)
	m := c.scrape(leader)
	if metricValue(m, `shoal_cluster_peer_up{peer="`+fid+`"}`) != 1 || metricValue(m, "shoal_cluster_is_leader") != 1 ||
		metricValue(m, "shoal_cluster_leader_known") != 1 {
		t.Fatalf("leader metrics:\n%s", grepLines(m, "shoal_cluster"))
	}
	m = c.scrape(other)
	if metricValue(m, `shoal_cluster_peer_up{peer="`+lid+`"}`) != 1 || metricValue(m, "shoal_cluster_is_leader") != 0 ||
		metricValue(m, "shoal_cluster_leader_changes_total") < 1 {
		t.Fatalf("follower metrics:\n%s", grepLines(m, "shoal_cluster"))
	}
	c.Stop(follower)
	waitMetric(t, c, leader, `shoal_cluster_peer_up{peer="`+fid+`"}`, func(v float64) bool { return v == 0 })
	c.Start(follower)
	waitMetric(t, c, leader, `shoal_cluster_peer_up{peer="`+fid+`"}`, func(v float64) bool { return v == 1 })

	before := metricValue(c.scrape(other), "shoal_cluster_leader_changes_total")
	c.Stop(leader)
	waitMetric(t, c, other, "shoal_cluster_leader_changes_total", func(v float64) bool { return v > before })
	waitMetric(t, c, other, "shoal_cluster_leader_known", func(v float64) bool { return v == 1 })
}

func waitMetric(t *testing.T, c *Cluster, i int, series string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := c.scrape(i)
		if ok(metricValue(m, series)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: %s never as wanted:\n%s", i, series, grepLines(m, "shoal_cluster"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grepLines(text string, subs ...string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		for _, s := range subs {
			if strings.Contains(line, s) && !strings.HasPrefix(line, "#") {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
