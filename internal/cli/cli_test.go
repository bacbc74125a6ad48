package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testEnv(t *testing.T, extra ...string) (Env, *syncBuffer, *syncBuffer) {
	dir := t.TempDir()
	out, errb := &syncBuffer{}, &syncBuffer{}
	environ := append([]string{
		"QDRANT__SERVICE__HOST=127.0.0.1",
		"QDRANT__SERVICE__HTTP_PORT=0",
		"QDRANT__SERVICE__GRPC_PORT=0",
		"QDRANT__STORAGE__STORAGE_PATH=" + filepath.Join(dir, "storage"),
		"QDRANT__STORAGE__SNAPSHOTS_PATH=" + filepath.Join(dir, "snapshots"),
	}, extra...)
	return Env{Stdout: out, Stderr: errb, Environ: environ, Dir: dir}, out, errb
}

// TestServeUntilSignal runs the root command in process: it serves, answers
// REST, and exits 0 on the (injected) stop signal.
func TestServeUntilSignal(t *testing.T) {
	env, _, logs := testEnv(t, "QDRANT__LOGGER__FORMAT=json", "QDRANT__SERVICE__API_KEY=hunter2", "QDRANT__HTTP__API_KEY=hunter3")
	stop := make(chan struct{})
	env.Signals = func(ctx context.Context) (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		return ctx, cancel
	}
	ready := make(chan string, 1)
	env.OnReady = func(httpAddr, _ string) { ready <- httpAddr }
	code := make(chan int, 1)
	go func() { code <- Run(context.Background(), []string{"--disable-telemetry"}, env) }()

	var addr string
	select {
	case addr = <-ready:
	case c := <-code:
		t.Fatalf("exited early with %d:\n%s", c, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("server did not become ready")
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/collections", nil)
	req.Header.Set("api-key", "hunter2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	close(stop)
	select {
	case c := <-code:
		if c != ExitOK {
			t.Fatalf("exit code %d:\n%s", c, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after the stop signal")
	}
	out := logs.String()
	if strings.Contains(out, "hunter2") {
		t.Fatal("API key in the logs")
	}
	// JSON logs, one object per line, with the redacted config and the
	// shutdown.
	var sawConfig, sawShutdown, sawUnknown bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if m["msg"] == "configuration" {
			sawConfig = true
			cfg := m["config"].(map[string]any)
			if cfg["service"].(map[string]any)["api_key"] != "***" || cfg["telemetry_disabled"] != true {
				t.Fatalf("config log %v", cfg)
			}
		}
		if m["msg"] == "shutdown complete" {
			sawShutdown = true
		}
		if m["level"] == "WARN" && m["key"] == "QDRANT__HTTP__API_KEY" &&
			strings.Contains(m["msg"].(string), "did you mean QDRANT__SERVICE__API_KEY?") {
			sawUnknown = true
		}
	}
	if strings.Contains(out, "hunter3") || strings.Contains(out, "no API key is in effect") {
		t.Fatalf("value of an unknown variable, or a wrong no-key warning, in the logs:\n%s", out)
	}
	if !sawConfig || !sawShutdown || !sawUnknown {
		t.Fatalf("logs lack the config or the shutdown:\n%s", out)
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  []string
		code int
		text string
	}{
		{"--reinit in cluster mode", []string{"--reinit"}, []string{"QDRANT__CLUSTER__ENABLED=true", "SHOAL__CLUSTER__P2P__INSECURE=true"}, ExitUsage, "--reinit is not supported"},
		{"--bootstrap and --join", []string{"--bootstrap", "http://127.0.0.1:6335", "--join", "127.0.0.1:6335"},
			[]string{"QDRANT__CLUSTER__ENABLED=true", "SHOAL__CLUSTER__P2P__INSECURE=true"}, ExitUsage, "give one of them"},
		{"cluster enabled without peer auth", nil, []string{"QDRANT__CLUSTER__ENABLED=true"}, ExitUsage, "cluster.enabled: peers must authenticate"},
		{"bad --join", []string{"--join", "a:1,b"}, nil, ExitUsage, `cluster.join: entry 1 "b": expected host:port`},
		{"repeated --join against bootstrap_expect", []string{"--join", "127.0.0.1:6335", "--join", "127.0.0.2:6335"},
			[]string{"SHOAL__CLUSTER__BOOTSTRAP_EXPECT=3"}, ExitUsage, "cluster.bootstrap_expect: is 3 but cluster.join lists 2 IP addresses"},
		{"bad --uri", []string{"--uri", "ftp://x:1"}, nil, ExitUsage, "cluster.advertise_uri"},
		{"bad QDRANT_URI", nil, []string{"QDRANT_URI=http://nohost"}, ExitUsage, "cluster.advertise_uri"},
		{"snapshot flag", []string{"--snapshot", "/nonexistent/a.snapshot:books"}, nil, ExitUsage, "snapshot /nonexistent/a.snapshot does not exist"},
		{"malformed snapshot flag", []string{"--snapshot", "nocolon"}, nil, ExitUsage, "expected <snapshot path>:<collection name>"},
		{"force without snapshot", []string{"--force-snapshot"}, nil, ExitUsage, "--force-snapshot needs --snapshot"},
		{"invalid config", nil, []string{"QDRANT__SERVICE__HTTP_PORT=99999"}, ExitUsage, "service.http_port"},
		{"missing config file", []string{"--config-path", "/nonexistent/shoal.yaml"}, nil, ExitUsage, "--config-path"},
		{"unknown flag", []string{"--no-such-flag"}, nil, ExitUsage, "unknown flag"},
		{"positional argument", []string{"extra"}, nil, ExitUsage, "unknown command"},
	} {
		env, _, errb := testEnv(t, c.env...)
		got := Run(context.Background(), c.args, env)
		if got != c.code || !strings.Contains(errb.String(), c.text) {
			t.Errorf("%s: exit %d, want %d; stderr lacks %q:\n%s", c.name, got, c.code, c.text, errb.String())
		}
	}
}

func TestConfigAndVersionCommands(t *testing.T) {
	env, _, _ := testEnv(t, "QDRANT__SERVICE__API_KEY=s3cr3t", "QDRANT__STORAGE__WAL__WAL_CAPACITY_MB=64")
	if code := Run(context.Background(), []string{"config", "--service.http_port=7777"}, env); code != ExitUsage {
		// config has no such flag: usage error.
		t.Fatalf("unknown flag on config: %d", code)
	}
	out2, errb2 := &syncBuffer{}, &syncBuffer{}
	env.Stdout, env.Stderr = out2, errb2
	if code := Run(context.Background(), []string{"config"}, env); code != ExitOK {
		t.Fatalf("config: %d %s", code, errb2.String())
	}
	s := out2.String()
	if strings.Contains(s, "s3cr3t") || !strings.Contains(s, "api_key: '***'") || !strings.Contains(s, "# ignored unknown key storage.wal") {
		t.Fatalf("config output:\n%s", s)
	}

	// Settings that map to nothing and a node open to other hosts without
	// a key are reported.
	out3 := &syncBuffer{}
	env3, _, _ := testEnv(t, "QDRANT__HTTP__API_KEY=k", "QDRANT__SERVICE__HOST=0.0.0.0")
	env3.Stdout = out3
	if code := Run(context.Background(), []string{"config"}, env3); code != ExitOK {
		t.Fatalf("config: %d", code)
	}
	for _, w := range []string{
		"# warning: environment variable QDRANT__HTTP__API_KEY sets http.api_key, which is not a config key: it has no effect; did you mean QDRANT__SERVICE__API_KEY?",
		"# warning: no API key is in effect: service.api_key is not set and the APIs listen on 0.0.0.0",
	} {
		if !strings.Contains(out3.String(), w) {
			t.Fatalf("config output lacks %q:\n%s", w, out3)
		}
	}
	env.Stdout = &syncBuffer{}
	if code := Run(context.Background(), []string{"version"}, env); code != ExitOK || !strings.HasPrefix(env.Stdout.(*syncBuffer).String(), "shoal "+Version) {
		t.Fatalf("version: %d %q", code, env.Stdout.(*syncBuffer).String())
	}
}
