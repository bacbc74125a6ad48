package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shoal-db/shoal/internal/clustertest"
	"github.com/shoal-db/shoal/internal/config"
)

// TestAlertRules runs the alert rules' unit tests with promtool.
func TestAlertRules(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		missingTool(t, "promtool is not installed (apt-get install prometheus)")
	}
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboardQueries returns every PromQL expression of the Grafana
// dashboard, by panel title, with Grafana's $__rate_interval replaced.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "shoal.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Fatalf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out[p.Title+" / "+tg.RefID] = strings.ReplaceAll(tg.Expr, "$__rate_interval", "30s")
		}
	}
	return out
}

// TestDashboardQueriesReturnData starts a real Prometheus (the Debian
// package's binary) scraping a real 3-node in-process cluster every
// second, with the canary on and REST, gRPC and write traffic, and a
// standalone node with a snapshot policy with verification, and evaluates every query of the Grafana
// dashboard: each must return at least one sample, and no NaN. It also
// checks that Prometheus loaded every alert rule and evaluates it without
// error.
func TestDashboardQueriesReturnData(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Prometheus over a 3-node cluster")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		missingTool(t, "prometheus is not installed (apt-get install prometheus)")
	}
	queries := dashboardQueries(t)

	canary := func(_ int, cfg *config.Config) {
		cfg.Canary.Enabled = true
		cfg.Canary.IntervalSec = 1
	}
	c := clustertest.New(t, clustertest.Options{Configure: canary})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/docs", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2}, nil)
	// Scheduled snapshots of a cluster's collections are not supported
	// yet (remote shards cannot be checkpointed): a standalone node beside
	// the cluster, scraped by the same Prometheus, runs a policy with
	// verification for the snapshot panels.
	single := clustertest.New(t, clustertest.Options{Nodes: 1, Configure: func(i int, cfg *config.Config) {
		canary(i, cfg)
		cfg.Cluster.Enabled = false
		cfg.Snapshots = map[string]any{"policies": []any{map[string]any{
			"name": "often", "collections": []any{"*"}, "interval": "2s", "verify": true,
			"retention": map[string]any{"keep_last": 2}, "destinations": []any{"local"},
		}}}
	}})
	single.Start(0)
	single.MustDo(0, "PUT", "/collections/docs", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	single.MustDo(0, "PUT", "/collections/docs/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 1, "vector": []float32{1, 0, 0, 0}}}}, nil)

	// Traffic until the test ends: writes and searches over REST, a
	// search over gRPC.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	conn, err := grpc.NewClient(c.Nodes[1].Srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	points := qdrant.NewPointsClient(conn)
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 10 * time.Second}
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			node := c.Nodes[n%3].Srv.HTTPAddr()
			body := fmt.Sprintf(`{"points":[{"id":%d,"vector":[%d,1,0,0]}]}`, n%50+1, n%7)
			if resp, err := client.Do(mustRequest("PUT", "http://"+node+"/collections/docs/points?wait=true", body)); err == nil {
				resp.Body.Close()
			}
			if resp, err := client.Do(mustRequest("POST", "http://"+node+"/collections/docs/points/query", `{"query":[1,0,0,0],"limit":3}`)); err == nil {
				resp.Body.Close()
			}
			limit := uint64(3)
			points.Query(t.Context(), &qdrant.QueryPoints{CollectionName: "docs", Query: qdrant.NewQuery(1, 0, 0, 0), Limit: &limit})
		}
	}()

	dir := t.TempDir()
	var targets []string
	for _, n := range append(append([]*clustertest.Node{}, c.Nodes...), single.Nodes...) {
		targets = append(targets, strconv.Quote(n.Srv.HTTPAddr()))
	}
	rules := filepath.Join(repoRoot(t), "deploy", "prometheus", "alerts.yml")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [%q]\nscrape_configs:\n  - job_name: shoal\n    static_configs:\n      - targets: [%s]\n",
		rules, strings.Join(targets, ", "))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	prom := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	var promLog strings.Builder
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", promLog.String())
		}
	}()

	query := func(expr string) (int, string, error) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				ResultType string            `json:"resultType"`
				Result     []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return 0, "", err
		}
		if r.Status != "success" {
			return 0, "", fmt.Errorf("%s", r.Error)
		}
		for _, s := range r.Data.Result {
			var v struct {
				Value [2]any `json:"value"`
			}
			json.Unmarshal(s, &v)
			f, _ := strconv.ParseFloat(fmt.Sprint(v.Value[1]), 64)
			if math.IsNaN(f) {
				return 0, string(s), nil
			}
		}
		b, _ := json.Marshal(r.Data.Result)
		return len(r.Data.Result), string(b), nil
	}

	deadline := time.Now().Add(90 * time.Second)
	pending := queries
	for len(pending) > 0 {
		next := map[string]string{}
		for title, expr := range pending {
			n, res, err := query(expr)
			if err != nil && !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("panel %s: %s: %v", title, expr, err)
			}
			if n == 0 {
				next[title] = expr
				if time.Now().After(deadline) {
					t.Errorf("panel %s returns no data (or NaN): %s -> %s", title, expr, res)
				}
			}
		}
		if time.Now().After(deadline) {
			break
		}
		pending = next
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	if t.Failed() {
		return
	}

	// Every alert rule is loaded and evaluates without error; none
	// fires on this healthy cluster (ShoalSnapshotTooOld and the others
	// would show as pending or firing).
	resp, err := http.Get("http://" + promAddr + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rr struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, g := range rr.Data.Groups {
		for _, r := range g.Rules {
			count++
			if r.Health != "ok" || r.State != "inactive" {
				t.Errorf("rule %s: health %s %s, state %s", r.Name, r.Health, r.LastError, r.State)
			}
		}
	}
	if count != 10 {
		t.Errorf("%d rules loaded, want 10", count)
	}
}

func mustRequest(method, url, body string) *http.Request {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}
