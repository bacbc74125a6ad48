package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"github.com/shoal-db/shoal/internal/snapshot"
)

// TestSnapshotsWiring checks that a server serves the snapshot API over
// REST and gRPC and runs the configured policies.
func TestSnapshotsWiring(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	remote := filepath.Join(dir, "remote")
	cfg.Snapshots = map[string]any{"policies": []any{map[string]any{
		"name": "often", "collections": []any{"*"}, "interval": "1s",
		"retention":    map[string]any{"keep_last": 2},
		"destinations": []any{map[string]any{"fs": remote}},
		"verify":       true,
	}}, "write_rate_mb": 100}
	s := start(t, cfg)
	c := newREST(t, s)
	seed(c, "cities")

	code, out := c.do("POST", "/collections/cities/snapshots", nil)
	if code != 200 {
		t.Fatalf("create snapshot: %d %v", code, out)
	}
	name := out["result"].(map[string]any)["name"].(string)
	if !strings.HasPrefix(name, "cities-") {
		t.Fatal(name)
	}

	g := grpcClient(t, s.GRPCAddr(), qdrant.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := g.ListSnapshots(ctx, "cities")
	if err != nil || len(list) != 1 || list[0].Name != name || list[0].GetChecksum() == "" {
		t.Fatalf("gRPC list %v %v", list, err)
	}
	full, err := g.CreateFullSnapshot(ctx)
	if err != nil || !strings.HasPrefix(full.Name, "full-snapshot-") {
		t.Fatalf("gRPC full %v %v", full, err)
	}

	// The policy ships verified snapshots to the fs destination and prunes
	// it to two.
	st, err := snapshot.OpenDirStore(remote, "remote")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, _ := snapshot.ListSnapshots(ctx, st, "cities")
		code, out = c.do("GET", "/metrics", nil)
		text := fmt.Sprint(out["text"])
		if len(ds) == 2 && strings.Contains(text, `snapshot_pruned_total{destination="fs:`+remote+`",policy="often"}`) {
			rep, err := snapshot.ReadVerifyReport(ctx, st, "cities", ds[1].Name)
			if err != nil || rep == nil || !rep.OK || rep.Points != 3 {
				t.Fatalf("verification report %+v, %v", rep, err)
			}
			if !strings.Contains(text, `snapshot_last_success_timestamp_seconds{destination="fs:`+remote+`",policy="often"}`) {
				t.Fatalf("metrics lack snapshot_last_success_timestamp_seconds:\n%s", text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduler did not run and prune: %v\n%s", ds, text)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSnapshotPoliciesConfigErrors(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Snapshots = map[string]any{"schedule": "0 * * * *"}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Fatalf("got %v", err)
	}
	cfg.Snapshots = map[string]any{"policies": []any{map[string]any{"collections": []any{"*"}, "cron": "bad", "destinations": []any{"local"}}}}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "cron") {
		t.Fatalf("got %v", err)
	}
	cfg.Snapshots = map[string]any{"write_rate_mb": "fast"}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "write_rate_mb") {
		t.Fatalf("got %v", err)
	}
	for v, want := range map[any]int64{50: 50 << 20, "2.5": 5 << 19, 0.5: 1 << 19} {
		cfg.Snapshots = map[string]any{"write_rate_mb": v}
		if got, err := snapshotWriteRate(cfg); err != nil || got != want {
			t.Fatalf("write_rate_mb %v: %d, %v", v, got, err)
		}
	}
	cfg.Snapshots = map[string]any{"write_rate_mb": "Inf"}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "snapshots.write_rate_mb") {
		t.Fatalf("write_rate_mb Inf: got %v", err)
	}
	for _, v := range []any{"fast", -0.1, 1.5, "NaN", "Inf", []any{1}} {
		cfg.Snapshots = map[string]any{"cpu_share_during_writes": v}
		if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "snapshots.cpu_share_during_writes") {
			t.Fatalf("cpu_share_during_writes %v: got %v", v, err)
		}
	}
}

// TestSnapshotCPUShare checks snapshots.cpu_share_during_writes: its
// default, and that the node's snapshot limiter follows it (0 and 1: no
// limit).
func TestSnapshotCPUShare(t *testing.T) {
	for _, c := range []struct {
		set  any
		want float64
	}{{nil, DefaultSnapshotCPUShare}, {"0.25", 0.25}, {0.5, 0.5}, {0, 0}, {1, 0}} {
		cfg := testConfig(t, t.TempDir())
		if c.set != nil {
			cfg.Snapshots = map[string]any{"cpu_share_during_writes": c.set}
		}
		s := start(t, cfg)
		if got := s.svc.SnapshotLimiter().Share(); got != c.want {
			t.Errorf("cpu_share_during_writes %v: the limiter's share is %v, want %v", c.set, got, c.want)
		}
	}
}

// TestSnapshotsAccess checks that the snapshot API enforces the API keys:
// a read-only key lists and downloads but cannot create, delete or recover.
func TestSnapshotsAccess(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Service.APIKey = "secret-key"
	cfg.Service.ReadOnlyAPIKey = "ro-key"
	s := start(t, cfg)
	admin := newREST(t, s)
	admin.header.Set("api-key", "secret-key")
	seed(admin, "cities")
	code, out := admin.do("POST", "/collections/cities/snapshots", nil)
	if code != 200 {
		t.Fatalf("admin create: %d %v", code, out)
	}
	name := out["result"].(map[string]any)["name"].(string)

	anon := newREST(t, s)
	if code, _ := anon.do("GET", "/collections/cities/snapshots", nil); code != 401 {
		t.Fatalf("anonymous list: %d", code)
	}
	ro := newREST(t, s)
	ro.header.Set("api-key", "ro-key")
	if code, out := ro.do("GET", "/collections/cities/snapshots", nil); code != 200 {
		t.Fatalf("read-only list: %d %v", code, out)
	}
	for _, req := range [][2]string{
		{"POST", "/collections/cities/snapshots"},
		{"DELETE", "/collections/cities/snapshots/" + name},
		{"POST", "/snapshots"},
	} {
		if code, out := ro.do(req[0], req[1], nil); code != 403 {
			t.Fatalf("read-only %s %s: %d %v", req[0], req[1], code, out)
		}
	}
	if code, out := ro.do("PUT", "/collections/x/snapshots/recover", map[string]any{"location": "file:///etc/passwd"}); code != 403 {
		t.Fatalf("read-only recover: %d %v", code, out)
	}
	if code, _ := admin.do("GET", "/collections/cities/snapshots", nil); code != 200 {
		t.Fatalf("admin list: %d", code)
	}
}

// TestRecoverLocationSecurity is Qdrant's test_collection_snapshot_security
// over a real server: a file:// location outside the snapshots directory
// (/etc/passwd, a copy of a snapshot beside it, a link out of it) is 403
// with Qdrant's text for collection and shard recovery, a relative one is
// 400, and a snapshot inside it recovers.
func TestRecoverLocationSecurity(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	s := start(t, cfg)
	c := newREST(t, s)
	seed(c, "cities")
	out := c.ok("POST", "/collections/cities/snapshots", nil)
	name := out["result"].(map[string]any)["name"].(string)
	inside := filepath.Join(cfg.Storage.SnapshotsPath, "cities", name)
	raw, err := os.ReadFile(inside)
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "copy.snapshot")
	if err := os.WriteFile(outside, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(cfg.Storage.SnapshotsPath, "cities", "link.snapshot")); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"file:///etc/passwd", "file://" + outside, "file://" + filepath.Join(cfg.Storage.SnapshotsPath, "cities", "link.snapshot"),
		"file://" + cfg.Storage.SnapshotsPath + "/../copy.snapshot"} {
		for _, path := range []string{"/collections/somethingthatdoesnotexist/snapshots/recover", "/collections/cities/shards/0/snapshots/recover"} {
			code, out := c.do("PUT", path, map[string]any{"location": loc})
			msg := fmt.Sprint(out["status"].(map[string]any)["error"])
			if code != 403 || !strings.HasPrefix(msg, "Forbidden: Snapshot file path must be inside the snapshots directory") {
				t.Fatalf("%s from %s: %d %q", path, loc, code, msg)
			}
		}
	}
	code, out := c.do("PUT", "/collections/somethingthatdoesnotexist/snapshots/recover", map[string]any{"location": "file://./etc/passwd"})
	if code != 400 || out["status"].(map[string]any)["error"] != "Bad request: Invalid snapshot URI, file path must be absolute or on localhost" {
		t.Fatalf("relative file location: %d %v", code, out)
	}
	if code, out := c.do("GET", "/collections/somethingthatdoesnotexist", nil); code != 404 {
		t.Fatalf("a refused recovery created the collection: %d %v", code, out)
	}
	c.ok("PUT", "/collections/copy/snapshots/recover", map[string]any{"location": "file://" + inside})
	if ids := searchIDs(c, "copy", nil); len(ids) != 3 {
		t.Fatalf("the recovered collection finds %v", ids)
	}
}
