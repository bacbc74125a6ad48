package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/server"
)

// restCall sends a JSON request and fails the test on a non-2xx answer.
func restCall(t *testing.T, base, method, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

func testServerConfig(t *testing.T) config.Config {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Service.Host = "127.0.0.1"
	cfg.Service.HTTPPort = 0
	zero := 0
	cfg.Service.GRPCPort = &zero
	cfg.Storage.StoragePath = filepath.Join(dir, "storage")
	cfg.Storage.SnapshotsPath = filepath.Join(dir, "snapshots")
	return cfg
}

func countPoints(t *testing.T, base, coll string) float64 {
	out := restCall(t, base, "POST", "/collections/"+coll+"/points/count", map[string]any{"exact": true})
	return out["result"].(map[string]any)["count"].(float64)
}

// TestSnapshotCommand drives `shoal snapshot` against a running server and
// then recovers at start with --snapshot.
func TestSnapshotCommand(t *testing.T) {
	srv, err := server.New(testServerConfig(t), server.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	base := "http://" + srv.HTTPAddr()
	restCall(t, base, "PUT", "/collections/books", map[string]any{"vectors": map[string]any{"size": 3, "distance": "Euclid"}, "shard_number": 2})
	var pts []any
	for i := 1; i <= 40; i++ {
		pts = append(pts, map[string]any{"id": i, "vector": []float32{float32(i), 1, 2}, "payload": map[string]any{"n": i}})
	}
	restCall(t, base, "PUT", "/collections/books/points?wait=true", map[string]any{"points": pts})

	run := func(args ...string) (int, string, string) {
		t.Helper()
		env, out, errb := testEnv(t)
		code := Run(context.Background(), append([]string{"snapshot", "--url", base}, args...), env)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("create", "-c", "books")
	if code != ExitOK || !strings.Contains(out, "created books-") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	name := strings.Fields(out)[1]
	code, out, _ = run("list", "-c", "books")
	if code != ExitOK || !strings.Contains(out, name) || !strings.Contains(out, "CHECKSUM") {
		t.Fatalf("list: %d %q", code, out)
	}
	file := filepath.Join(t.TempDir(), "books.snapshot")
	code, out, errs = run("download", "-c", "books", name, "-o", file)
	if code != ExitOK || !strings.Contains(out, "downloaded") || !strings.Contains(errs, "downloading") {
		t.Fatalf("download: %d %q %q", code, out, errs)
	}
	if sum, err := os.ReadFile(file + ".checksum"); err != nil || !strings.Contains(out, strings.TrimSpace(string(sum))) {
		t.Fatalf("checksum sidecar %q, %v", sum, err)
	}
	code, out, errs = run("verify", file)
	if code != ExitOK || !strings.Contains(out, `"ok": true`) || !strings.Contains(out, `"searches"`) {
		t.Fatalf("verify: %d %q %q", code, out, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.snapshot")
	raw, _ := os.ReadFile(file)
	raw[len(raw)/2] ^= 1
	os.WriteFile(bad, raw, 0o644)
	code, out, _ = run("verify", bad)
	if code == ExitOK || !strings.Contains(out, `"ok": false`) {
		t.Fatalf("verify of a damaged file: %d %q", code, out)
	}
	code, out, errs = run("upload", "-c", "copy", file, "--priority", "snapshot", "-q")
	if code != ExitOK || countPoints(t, base, "copy") != 40 {
		t.Fatalf("upload: %d %q %q", code, out, errs)
	}
	// The server reads file locations only inside its snapshots directory
	// (Qdrant's rule); restore uploads a file that is on this machine.
	b, _ := json.Marshal(map[string]any{"location": "file://" + file})
	put, _ := http.NewRequest("PUT", base+"/collections/copy2/snapshots/recover", bytes.NewReader(b))
	put.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != 403 {
		t.Fatalf("the server read a file outside its snapshots directory: %v %v", resp, err)
	}
	code, out, errs = run("restore", "-c", "copy2", "--location", "file://"+file)
	if code != ExitOK || countPoints(t, base, "copy2") != 40 || !strings.Contains(out, "(uploaded, sha256 ") {
		t.Fatalf("restore: %d %q %q", code, out, errs)
	}
	code, out, errs = run("restore", "-c", "copy4", "--location", file, "--priority", "snapshot", "-q")
	if code != ExitOK || countPoints(t, base, "copy4") != 40 {
		t.Fatalf("restore from a path: %d %q %q", code, out, errs)
	}
	// A snapshot name (of the collection's own snapshots) and a file on
	// neither machine are the server's to read.
	code, out, errs = run("restore", "-c", "books", "--location", name)
	if code != ExitOK || countPoints(t, base, "books") != 40 || strings.Contains(out, "uploaded") {
		t.Fatalf("restore from a snapshot name: %d %q %q", code, out, errs)
	}
	missing := filepath.Join(t.TempDir(), "missing.snapshot")
	code, _, errs = run("restore", "-c", "copy6", "--location", "file://"+missing)
	if code == ExitOK || !strings.Contains(errs, "400 Bad Request: Bad request: Snapshot file \""+missing+"\" does not exist") {
		t.Fatalf("restore from a file on neither machine: %d %q", code, errs)
	}
	code, _, errs = run("restore", "-c", "copy3", "--location", "file://"+file, "--checksum", strings.Repeat("0", 64))
	if code == ExitOK || !strings.Contains(errs, "Checksum mismatch") {
		t.Fatalf("restore with a wrong checksum: %d %q", code, errs)
	}
	code, _, errs = run("list")
	if code != ExitUsage || !strings.Contains(errs, "--collection is required") {
		t.Fatalf("list without collection: %d %q", code, errs)
	}
	code, out, _ = run("delete", "-c", "books", name)
	if code != ExitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %q", code, out)
	}

	// Startup recovery: a fresh storage gets the collection; an existing
	// one is replaced only with --force-snapshot.
	cfg := testServerConfig(t)
	log := slog.New(slog.DiscardHandler)
	req := SnapshotRecovery{Collections: []CollectionSnapshot{{Path: file, Collection: "restored"}}}
	if err := recoverAtStartup(context.Background(), cfg, req, log); err != nil {
		t.Fatal(err)
	}
	if err := recoverAtStartup(context.Background(), cfg, req, log); err == nil || !strings.Contains(err.Error(), "--force-snapshot") {
		t.Fatalf("second recovery without force: %v", err)
	}
	req.Force = true
	if err := recoverAtStartup(context.Background(), cfg, req, log); err != nil {
		t.Fatal(err)
	}
	s2, err := server.New(cfg, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	if n := countPoints(t, "http://"+s2.HTTPAddr(), "restored"); n != 40 {
		t.Fatalf("recovered at start: %v points", n)
	}
}
