package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultsMatchQdrant(t *testing.T) {
	cfg, err := Load(LoadOptions{Dir: t.TempDir(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Service.Host != "0.0.0.0" || cfg.Service.HTTPPort != 6333 || *cfg.Service.GRPCPort != 6334 ||
		cfg.Service.MaxRequestSizeMB != 32 || !cfg.Service.EnableCORS || cfg.Service.EnableTLS {
		t.Fatalf("service defaults: %+v", cfg.Service)
	}
	if cfg.Storage.StoragePath != "./storage" || cfg.Storage.SnapshotsPath != "./snapshots" || cfg.TempDir() != "./storage/snapshots_temp" {
		t.Fatalf("storage defaults: %+v", cfg.Storage)
	}
	if cfg.Storage.HnswIndex.M != 16 || cfg.Storage.HnswIndex.EfConstruct != 100 || cfg.Storage.HnswIndex.FullScanThresholdKB != 10000 {
		t.Fatalf("hnsw defaults: %+v", cfg.Storage.HnswIndex)
	}
	if cfg.Cluster.Enabled || cfg.Cluster.P2P.Port != 6335 || cfg.LogLevel != "INFO" || cfg.TelemetryDisabled {
		t.Fatalf("other defaults: %+v", cfg)
	}
	if len(cfg.Sources) != 0 || len(cfg.Unknown) != 0 {
		t.Fatalf("sources %v unknown %v", cfg.Sources, cfg.Unknown)
	}
	if cfg.MaxRequestBytes() != 32<<20 || cfg.SlogLevel() != slog.LevelInfo {
		t.Fatal("derived values")
	}
}

// TestPrecedence checks defaults < config/config.yaml < config/local.yaml <
// --config-path < QDRANT__ < SHOAL__ < flags, one key per layer boundary.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config/config.yaml"), `
log_level: DEBUG
service:
  http_port: 7001
  grpc_port: 7101
  api_key: from-config
storage:
  storage_path: /from/config
  snapshots_path: /from/config/snap
  performance:
    max_search_threads: 3
  wal:
    wal_capacity_mb: 64
snapshots:
  schedule: "0 * * * *"
  target: {s3_secret_key: hush}
`)
	writeFile(t, filepath.Join(dir, "config/local.yaml"), `
service:
  http_port: 7002
  read_only_api_key: from-local
`)
	explicit := filepath.Join(dir, "elsewhere.yaml")
	writeFile(t, explicit, `
service:
  http_port: 7003
  grpc_port: 7103
storage:
  storage_path: /from/explicit
`)
	flags := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags.Int("service.http_port", 0, "")
	flags.String("storage.snapshots_path", "", "")
	flags.Bool("disable-telemetry", false, "")
	flags.String("not-a-key", "", "")
	if err := flags.Parse([]string{"--service.http_port=7009", "--disable-telemetry", "--not-a-key=x"}); err != nil {
		t.Fatal(err)
	}
	environ := []string{
		"QDRANT__SERVICE__HTTP_PORT=7004",
		"QDRANT__SERVICE__GRPC_PORT=7104",
		"QDRANT__STORAGE__STORAGE_PATH=/from/env",
		"QDRANT__STORAGE__PERFORMANCE__MAX_SEARCH_THREADS=5",
		"QDRANT__CLUSTER__P2P__PORT=7200",
		"SHOAL__SERVICE__GRPC_PORT=7105",
		"QDRANT__SERVICE__ENABLE_CORS=false",
		"QDRANT_URI=http://ignored",
		"OTHER=1",
	}
	cfg, err := Load(LoadOptions{
		Dir: dir, ConfigPath: explicit, Environ: environ, Flags: flags,
		FlagKeys: map[string]string{"disable-telemetry": "telemetry_disabled"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"log_level from config.yaml", cfg.LogLevel, "DEBUG"},
		{"api_key from config.yaml", cfg.Service.APIKey, "from-config"},
		{"read_only_api_key from local.yaml", cfg.Service.ReadOnlyAPIKey, "from-local"},
		{"snapshots_path from config.yaml (flag not set)", cfg.Storage.SnapshotsPath, "/from/config/snap"},
		{"storage_path: env over explicit", cfg.Storage.StoragePath, "/from/env"},
		{"grpc_port: SHOAL__ over QDRANT__", *cfg.Service.GRPCPort, 7105},
		{"http_port: flag over env", cfg.Service.HTTPPort, 7009},
		{"env key absent from files", cfg.Cluster.P2P.Port, 7200},
		{"nested env key", cfg.Storage.Performance.MaxSearchThreads, 5},
		{"env bool", cfg.Service.EnableCORS, false},
		{"mapped flag", cfg.TelemetryDisabled, true},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if strings.Join(cfg.Sources, ",") != filepath.Join(dir, "config/config.yaml")+","+filepath.Join(dir, "config/local.yaml")+","+explicit {
		t.Errorf("sources %v", cfg.Sources)
	}
	if strings.Join(cfg.Unknown, ",") != "storage.wal" {
		t.Errorf("unknown %v", cfg.Unknown)
	}
	if cfg.Snapshots["schedule"] != "0 * * * *" {
		t.Errorf("snapshots section not kept: %v", cfg.Snapshots)
	}
}

func TestRunModeFileAndNullGRPC(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config/production.yaml"), "service:\n  grpc_port: null\n  host: 127.0.0.1\n")
	cfg, err := Load(LoadOptions{Dir: dir, Environ: []string{"RUN_MODE=production"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Service.GRPCEnabled() || cfg.Service.Host != "127.0.0.1" {
		t.Fatalf("run mode file not applied: %+v", cfg.Service)
	}
	cfg, err = Load(LoadOptions{Dir: dir, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Service.GRPCEnabled() || cfg.Service.Host != "0.0.0.0" {
		t.Fatalf("run mode file applied without RUN_MODE: %+v", cfg.Service)
	}
	cfg, err = Load(LoadOptions{Dir: dir, Environ: []string{"QDRANT__SERVICE__GRPC_PORT=null"}})
	if err != nil || cfg.Service.GRPCEnabled() {
		t.Fatalf("env null must disable gRPC: %v %v", err, cfg.Service.GRPCPort)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(LoadOptions{Dir: dir, ConfigPath: filepath.Join(dir, "missing.yaml"), Environ: []string{}}); err == nil || !strings.Contains(err.Error(), "--config-path") {
		t.Fatalf("missing --config-path file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "service: [unclosed\n")
	if _, err := Load(LoadOptions{Dir: dir, ConfigPath: bad, Environ: []string{}}); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Fatalf("bad YAML: %v", err)
	}
	if _, err := Load(LoadOptions{Dir: dir, Environ: []string{"QDRANT__SERVICE__HTTP_PORT=lots"}}); err == nil || !strings.Contains(err.Error(), "http_port") {
		t.Fatalf("non-numeric port: %v", err)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	writeFile(t, notDir, "x")
	for _, c := range []struct {
		env  []string
		want []string
	}{
		{[]string{"QDRANT__SERVICE__HTTP_PORT=70000"}, []string{"service.http_port: port must be between 0 and 65535"}},
		{[]string{"QDRANT__SERVICE__HTTP_PORT=7000", "QDRANT__SERVICE__GRPC_PORT=7000"}, []string{"service.grpc_port: must differ"}},
		{[]string{"QDRANT__LOG_LEVEL=LOUD"}, []string{"log_level: must be one of"}},
		{[]string{"QDRANT__LOGGER__FORMAT=xml"}, []string{"logger.format"}},
		{[]string{"QDRANT__STORAGE__STORAGE_PATH=" + notDir}, []string{"storage.storage_path: " + notDir + " exists and is not a directory"}},
		{[]string{"QDRANT__STORAGE__SNAPSHOTS_PATH= "}, []string{"storage.snapshots_path: must not be empty"}},
		{[]string{"QDRANT__SERVICE__ENABLE_TLS=true", "QDRANT__TLS__CERT=" + filepath.Join(dir, "nope.pem"), "QDRANT__TLS__KEY=" + dir},
			[]string{"tls.cert: cannot read " + filepath.Join(dir, "nope.pem"), "tls.key: " + dir + " is a directory"}},
		{[]string{"QDRANT__SERVICE__JWT_RBAC=true"}, []string{"service.jwt_rbac: needs service.api_key"}},
		{[]string{"QDRANT__SERVICE__MAX_REQUEST_SIZE_MB=0"}, []string{"service.max_request_size_mb"}},
		{[]string{"QDRANT__STORAGE__HNSW_INDEX__EF_CONSTRUCT=2", "QDRANT__CLUSTER__P2P__PORT=-1"}, []string{"storage.hnsw_index.ef_construct", "cluster.p2p.port"}},
		{[]string{"QDRANT__STORAGE__SNAPSHOTS_CONFIG__SNAPSHOTS_STORAGE=s3"}, []string{"s3_config.bucket: is required"}},
		{[]string{"QDRANT__SERVICE__VERIFY_HTTPS_CLIENT_CERTIFICATE=true"}, []string{"needs service.enable_tls"}},
	} {
		_, err := Load(LoadOptions{Dir: dir, Environ: c.env})
		if err == nil {
			t.Errorf("%v: accepted", c.env)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", c.env, err, w)
			}
		}
	}
	// TLS with real files passes.
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writeFile(t, cert, "x")
	writeFile(t, key, "x")
	if _, err := Load(LoadOptions{Dir: dir, Environ: []string{"QDRANT__SERVICE__ENABLE_TLS=true", "QDRANT__TLS__CERT=" + cert, "QDRANT__TLS__KEY=" + key}}); err != nil {
		t.Fatalf("TLS with existing files: %v", err)
	}
	// Port 0 is allowed (tests pick free ports).
	if _, err := Load(LoadOptions{Dir: dir, Environ: []string{"QDRANT__SERVICE__HTTP_PORT=0", "QDRANT__SERVICE__GRPC_PORT=0"}}); err != nil {
		t.Fatalf("port 0: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	cfg := Default()
	cfg.Service.APIKey = "top-secret-key"
	cfg.Service.ReadOnlyAPIKey = "ro-secret"
	cfg.Storage.SnapshotsConfig.S3Config.SecretKey = "s3-secret"
	cfg.Snapshots = map[string]any{"s3": map[string]any{"secret_key": "nested-secret", "bucket": "b"}}
	r := cfg.Redacted()
	if r.Service.APIKey != "***" || r.Service.ReadOnlyAPIKey != "***" || r.Service.AltAPIKey != "" || r.Storage.SnapshotsConfig.S3Config.SecretKey != "***" {
		t.Fatalf("not redacted: %+v", r.Service)
	}
	if cfg.Service.APIKey != "top-secret-key" || cfg.Snapshots["s3"].(map[string]any)["secret_key"] != "nested-secret" {
		t.Fatal("Redacted changed the original")
	}
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", cfg)
	for _, out := range []string{string(y), buf.String()} {
		for _, secret := range []string{"top-secret-key", "ro-secret", "s3-secret", "nested-secret"} {
			if strings.Contains(out, secret) {
				t.Fatalf("secret %q in dump:\n%s", secret, out)
			}
		}
		if !strings.Contains(out, "http_port") || !strings.Contains(out, "***") || !strings.Contains(out, "bucket") {
			t.Fatalf("dump lacks keys:\n%s", out)
		}
	}
}

func TestLogLevels(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"info": slog.LevelInfo, "DEBUG": slog.LevelDebug, "TRACE": slog.LevelDebug, "warn": slog.LevelWarn,
		"ERROR": slog.LevelError, "debug,shoal::rest=info": slog.LevelDebug, "hyper=warn,info": slog.LevelInfo,
	} {
		got, ok := parseLevel(in)
		if !ok || got != want {
			t.Errorf("%q: got %v %v", in, got, ok)
		}
	}
}

// TestShardTransferLimits checks Qdrant's transfer limits: default 1, a
// number from a file or the environment, null for no bound, and a
// negative number refused.
func TestShardTransferLimits(t *testing.T) {
	load := func(yaml string, env ...string) (Config, error) {
		dir := t.TempDir()
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return Load(LoadOptions{Dir: t.TempDir(), ConfigPath: p, Environ: env})
	}
	cfg, err := load("log_level: INFO\n")
	if err != nil {
		t.Fatal(err)
	}
	if in, out := cfg.Storage.Performance.IncomingShardTransfersLimit, cfg.Storage.Performance.OutgoingShardTransfersLimit; in == nil || *in != 1 || out == nil || *out != 1 {
		t.Fatalf("defaults: %v %v, want 1 and 1", in, out)
	}
	cfg, err = load("storage:\n  performance:\n    incoming_shard_transfers_limit: 3\n    outgoing_shard_transfers_limit: null\n",
		"QDRANT__STORAGE__PERFORMANCE__INCOMING_SHARD_TRANSFERS_LIMIT=0")
	if err != nil {
		t.Fatal(err)
	}
	if in, out := cfg.Storage.Performance.IncomingShardTransfersLimit, cfg.Storage.Performance.OutgoingShardTransfersLimit; in == nil || *in != 0 || out != nil {
		t.Fatalf("file and environment: incoming %v, outgoing %v; want 0 (the environment wins) and no bound", in, out)
	}
	if len(cfg.Unknown) > 0 || len(cfg.UnknownSettings) > 0 {
		t.Fatalf("unknown settings: %v %v", cfg.Unknown, cfg.UnknownSettings)
	}
	if _, err := load("storage:\n  performance:\n    outgoing_shard_transfers_limit: -1\n"); err == nil ||
		!strings.Contains(err.Error(), "storage.performance.outgoing_shard_transfers_limit") {
		t.Fatalf("negative limit: %v, want an error naming the key", err)
	}
}
