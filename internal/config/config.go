// Package config is Shoal's configuration: Qdrant's config keys and
// environment variables, so a Qdrant deployment's config.yaml and
// QDRANT__SECTION__KEY variables work unchanged.
//
// Sources, later ones overriding earlier ones: built-in defaults (Default),
// config/config.yaml, config/$RUN_MODE.yaml and config/local.yaml when they
// exist, the file given with --config-path, environment variables
// QDRANT__SECTION__KEY (and the alias SHOAL__SECTION__KEY, which wins over
// QDRANT__), and finally command-line flags. Keys that Shoal does not know
// are kept loadable and reported in Config.Unknown.
package config

import (
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Default ports, as Qdrant's.
const (
	DefaultHTTPPort = 6333
	DefaultGRPCPort = 6334
	DefaultP2PPort  = 6335
)

// Config is the whole configuration. Field tags are the YAML keys.
type Config struct {
	// LogLevel is TRACE, DEBUG, INFO, WARN or ERROR (case-insensitive);
	// Qdrant's env_logger-style directives ("info,shoal=debug") use the
	// first, global, level.
	LogLevel string `yaml:"log_level"`
	// Logger selects the log format.
	Logger LoggerConfig `yaml:"logger"`
	// Storage configures the data directories and engine defaults.
	Storage StorageConfig `yaml:"storage"`
	// Service configures the API listeners and authentication.
	Service ServiceConfig `yaml:"service"`
	// Cluster configures distributed mode (not available in this version).
	Cluster ClusterConfig `yaml:"cluster"`
	// TLS holds the certificate files used when service.enable_tls is set.
	TLS TLSConfig `yaml:"tls"`
	// TelemetryDisabled turns off anonymous usage reporting (Shoal sends
	// none; the key is accepted for compatibility).
	TelemetryDisabled bool `yaml:"telemetry_disabled"`
	// Snapshots is the snapshot scheduling section, kept as loaded for the
	// snapshot package to decode.
	Snapshots map[string]any `yaml:"snapshots,omitempty"`
	// Canary configures the node's built-in canary (Shoal's own section).
	Canary CanaryConfig `yaml:"canary"`

	// Unknown lists the dotted keys present in the sources that no field
	// of Config takes.
	Unknown []string `yaml:"-"`
	// UnknownSettings lists, per source, the settings that map to no key,
	// with the closest real key (see Warnings).
	UnknownSettings []UnknownSetting `yaml:"-"`
	// Sources lists the files that were loaded, in order.
	Sources []string `yaml:"-"`
}

// CanaryConfig is the canary section: every node periodically writes,
// reads back and searches its own small hidden collection through its own
// service, and reports shoal_canary_* metrics.
type CanaryConfig struct {
	// Enabled runs the canary (default true).
	Enabled bool `yaml:"enabled"`
	// IntervalSec is the time between two runs, the first one interval
	// after the node is ready (default 30, at least 1).
	IntervalSec int `yaml:"interval_sec"`
}

// LoggerConfig selects how logs are written.
type LoggerConfig struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
}

// StorageConfig is Qdrant's storage section.
type StorageConfig struct {
	// StoragePath holds the collections and metadata.
	StoragePath string `yaml:"storage_path"`
	// SnapshotsPath holds snapshot archives.
	SnapshotsPath string `yaml:"snapshots_path"`
	// SnapshotsConfig selects where snapshots are stored.
	SnapshotsConfig SnapshotsStorageConfig `yaml:"snapshots_config"`
	// TempPath holds temporary files; empty means
	// <storage_path>/snapshots_temp, as in Qdrant.
	TempPath string `yaml:"temp_path"`
	// OnDiskPayload is the on_disk_payload of new collections: their
	// payloads stay in the shards' stores and are read from there when a
	// request needs them. The default is false (payloads in memory).
	OnDiskPayload bool `yaml:"on_disk_payload"`
	// Performance holds concurrency limits.
	Performance PerformanceConfig `yaml:"performance"`
	// Optimizers holds the default optimizer settings of new collections.
	Optimizers OptimizersConfig `yaml:"optimizers"`
	// HnswIndex holds the default HNSW settings of new collections.
	HnswIndex HnswIndexConfig `yaml:"hnsw_index"`
	// MaxCollections limits the number of collections; 0 means no limit.
	MaxCollections int `yaml:"max_collections"`
	// MinFreeDiskMB is the free space (MiB) writes keep on the storage's
	// file system: a write that would leave less is refused (Shoal's own
	// key; 0 turns the check off).
	MinFreeDiskMB int `yaml:"min_free_disk_mb"`
}

// SnapshotsStorageConfig is storage.snapshots_config.
type SnapshotsStorageConfig struct {
	// SnapshotsStorage is "local" (default) or "s3".
	SnapshotsStorage string `yaml:"snapshots_storage"`
	// S3Config configures the S3 store.
	S3Config S3Config `yaml:"s3_config"`
}

// S3Config is storage.snapshots_config.s3_config.
type S3Config struct {
	Bucket      string `yaml:"bucket"`
	Region      string `yaml:"region"`
	AccessKey   string `yaml:"access_key"`
	SecretKey   string `yaml:"secret_key"`
	EndpointURL string `yaml:"endpoint_url"`
}

// PerformanceConfig is storage.performance.
type PerformanceConfig struct {
	// MaxSearchThreads bounds the read requests (searches, queries,
	// scroll, count, facet) that run at once; 0 means no bound.
	MaxSearchThreads int `yaml:"max_search_threads"`
	// MaxOptimizationThreads is Qdrant's bound on optimization jobs across
	// all collections; Shoal has no node-wide pool (only 0 takes effect,
	// other values are warned about).
	MaxOptimizationThreads int `yaml:"max_optimization_threads"`
	// OptimizerCPUBudget is the number of background HNSW indexing
	// workers per shard: positive N uses N, negative -N all CPUs but N
	// (at least 1), 0 automatic.
	OptimizerCPUBudget int `yaml:"optimizer_cpu_budget"`
	// UpdateRateLimit bounds the point updates that run at once; 0 means
	// no bound.
	UpdateRateLimit int `yaml:"update_rate_limit"`
	// IncomingShardTransfersLimit and OutgoingShardTransfersLimit bound the
	// automatic shard transfers (healing, zone repair, rebalancing) a node
	// receives and sends at once, as in Qdrant (default 1; 0: none; null:
	// no bound beyond cluster.max_transfers_per_node, which bounds both
	// directions together). Transfers an operator asks for are not bound.
	IncomingShardTransfersLimit *int `yaml:"incoming_shard_transfers_limit"`
	OutgoingShardTransfersLimit *int `yaml:"outgoing_shard_transfers_limit"`
}

// OptimizersConfig is storage.optimizers.
type OptimizersConfig struct {
	DeletedThreshold      float64 `yaml:"deleted_threshold"`
	VacuumMinVectorNumber int     `yaml:"vacuum_min_vector_number"`
	DefaultSegmentNumber  int     `yaml:"default_segment_number"`
	MaxSegmentSizeKB      int     `yaml:"max_segment_size_kb"`
	// MemmapThresholdKB is the default memmap_threshold of new
	// collections (0: none): a shard's dense vectors move into mapped
	// files once they reach it.
	MemmapThresholdKB      int `yaml:"memmap_threshold_kb"`
	IndexingThresholdKB    int `yaml:"indexing_threshold_kb"`
	FlushIntervalSec       int `yaml:"flush_interval_sec"`
	MaxOptimizationThreads int `yaml:"max_optimization_threads"`
}

// HnswIndexConfig is storage.hnsw_index.
type HnswIndexConfig struct {
	M                   int  `yaml:"m"`
	EfConstruct         int  `yaml:"ef_construct"`
	FullScanThresholdKB int  `yaml:"full_scan_threshold_kb"`
	MaxIndexingThreads  int  `yaml:"max_indexing_threads"`
	OnDisk              bool `yaml:"on_disk"`
	PayloadM            int  `yaml:"payload_m"`
}

// ServiceConfig is Qdrant's service section.
type ServiceConfig struct {
	// Host is the listen address of both APIs.
	Host string `yaml:"host"`
	// HTTPPort is the REST port; 0 picks a free port (tests).
	HTTPPort int `yaml:"http_port"`
	// GRPCPort is the gRPC port; null disables gRPC, 0 picks a free port.
	GRPCPort *int `yaml:"grpc_port"`
	// MaxRequestSizeMB limits REST request bodies and gRPC messages.
	MaxRequestSizeMB int `yaml:"max_request_size_mb"`
	// MaxWorkers bounds the API requests (REST and gRPC, health checks and
	// metrics excepted) handled at once; more wait. 0 means no bound.
	MaxWorkers int `yaml:"max_workers"`
	// EnableCORS allows browser clients from other origins.
	EnableCORS bool `yaml:"enable_cors"`
	// EnableTLS serves both APIs over TLS with tls.cert and tls.key.
	EnableTLS bool `yaml:"enable_tls"`
	// VerifyHTTPSClientCertificate requires client certificates signed by
	// tls.ca_cert (mutual TLS).
	VerifyHTTPSClientCertificate bool `yaml:"verify_https_client_certificate"`
	// APIKey grants full access; empty disables authentication.
	APIKey string `yaml:"api_key"`
	// AltAPIKey is a second full-access key, for rotation.
	AltAPIKey string `yaml:"alt_api_key"`
	// ReadOnlyAPIKey grants read access.
	ReadOnlyAPIKey string `yaml:"read_only_api_key"`
	// JWTRBAC accepts JWTs signed with the API key.
	JWTRBAC bool `yaml:"jwt_rbac"`
	// EnforceInternalAuth makes peers authenticate to each other with
	// APIKey (Qdrant's key); see Config.ClusterSecret.
	EnforceInternalAuth bool `yaml:"enforce_internal_auth"`
}

// GRPCEnabled reports whether the gRPC listener is configured.
func (s ServiceConfig) GRPCEnabled() bool { return s.GRPCPort != nil }

// ClusterConfig is Qdrant's cluster section plus Shoal's own cluster keys.
// Durations accept a Go duration string ("5m", "30s") or a number of
// seconds.
type ClusterConfig struct {
	// Enabled turns on distributed mode.
	Enabled bool `yaml:"enabled"`
	// PeerID fixes this node's id; 0 means generated.
	PeerID uint64 `yaml:"peer_id"`
	// P2P configures the internal (peer-to-peer) port.
	P2P P2PConfig `yaml:"p2p"`
	// Join lists seed peers as host:port (the host may be a DNS name).
	// From the environment (SHOAL__CLUSTER__JOIN) and the --join flag it is
	// a comma-separated list.
	Join []string `yaml:"join"`
	// BootstrapExpect is the number of peers the first cluster forms from
	// (0: no expectation).
	BootstrapExpect int `yaml:"bootstrap_expect"`
	// AdvertiseURI is the address other peers reach this node's peer port
	// at, http(s)://host:port or host:port; Qdrant's --uri sets it.
	AdvertiseURI string `yaml:"advertise_uri"`
	// Secret authenticates peers to each other (at least 32 bytes); see
	// Config.ClusterSecret.
	Secret string `yaml:"secret"`
	// Zone and Region place the node for replica placement.
	Zone   string `yaml:"zone"`
	Region string `yaml:"region"`
	// Labels are free-form placement labels.
	Labels map[string]string `yaml:"labels"`
	// DeadNodeTimeout is how long a peer may be unreachable before its
	// replicas are replaced (minimum 1s).
	DeadNodeTimeout Duration `yaml:"dead_node_timeout"`
	// NodeDownAfter is how long a peer may be unreachable before it is
	// reported down (minimum 100ms, at most DeadNodeTimeout): a backup
	// replica that fails to acknowledge writes for this long is marked
	// Dead by its primary, and a shard whose primary is unreachable for
	// this long (at most 5 s) is handed to another Active replica.
	NodeDownAfter Duration `yaml:"node_down_after"`
	// MaxTransfersPerNode bounds the shard transfers a node takes part in
	// at once.
	MaxTransfersPerNode int `yaml:"max_transfers_per_node"`
	// TransferRateLimitMB bounds one shard transfer's rate in MiB/s (0: no
	// limit).
	TransferRateLimitMB int `yaml:"transfer_rate_limit_mb"`
	// RestoreStageTimeout is how long replicas staged on a node for a
	// cluster snapshot restore wait for the restore to commit once the
	// node running it stops renewing their lease; then they are removed
	// (minimum 1s).
	RestoreStageTimeout Duration `yaml:"restore_stage_timeout"`
	// AutoHeal re-creates the replicas of dead peers on live ones.
	AutoHeal bool `yaml:"auto_heal"`
	// Rebalance moves shards to even out peers.
	Rebalance bool `yaml:"rebalance"`
	// GRPCTimeoutMS bounds internal requests between peers.
	GRPCTimeoutMS int `yaml:"grpc_timeout_ms"`
	// ConnectionTimeoutMS bounds connecting to a peer.
	ConnectionTimeoutMS int `yaml:"connection_timeout_ms"`
	// Consensus tunes the metadata consensus.
	Consensus ConsensusConfig `yaml:"consensus"`
}

// P2PConfig is cluster.p2p.
type P2PConfig struct {
	// Port is the peer port.
	Port int `yaml:"port"`
	// Host is the bind host of the peer port; empty means service.host
	// (see Config.P2PHost).
	Host string `yaml:"host"`
	// EnableTLS serves and dials the peer port over mutual TLS with tls.*.
	EnableTLS bool `yaml:"enable_tls"`
	// Insecure allows cluster mode without any peer authentication
	// (trusted networks only); it must be set explicitly.
	Insecure bool `yaml:"insecure"`
	// ConnectionPoolSize is the number of connections kept to each peer.
	ConnectionPoolSize int `yaml:"connection_pool_size"`
}

// ConsensusConfig is cluster.consensus (Qdrant's keys and defaults).
type ConsensusConfig struct {
	// TickPeriodMS is the consensus tick.
	TickPeriodMS int `yaml:"tick_period_ms"`
	// BootstrapTimeoutSec bounds joining through a bootstrap peer.
	BootstrapTimeoutSec int `yaml:"bootstrap_timeout_sec"`
	// MaxMessageQueueSize bounds queued consensus messages.
	MaxMessageQueueSize int `yaml:"max_message_queue_size"`
	// CompactWALEntries is the number of applied log entries kept before a
	// compaction.
	CompactWALEntries int `yaml:"compact_wal_entries"`
}

// Duration is a time.Duration that config sources give as a Go duration
// string ("5m", "1m30s") or a number of seconds.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String returns d in Go's duration syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d in Go's duration syntax, which loads back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// parseDuration reads a Go duration string or a number of seconds.
func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsDuration(f)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration (such as \"30s\" or \"5m\") nor a number of seconds", s)
	}
	return Duration(d), nil
}

func secondsDuration(f float64) (Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64/int64(time.Second)) {
		return 0, fmt.Errorf("%v seconds is out of range", f)
	}
	return Duration(f * float64(time.Second)), nil
}

// TLSConfig is Qdrant's tls section.
type TLSConfig struct {
	// Cert is the server certificate chain (PEM).
	Cert string `yaml:"cert"`
	// Key is the server private key (PEM).
	Key string `yaml:"key"`
	// CACert verifies client certificates (PEM) with
	// verify_https_client_certificate.
	CACert string `yaml:"ca_cert"`
	// CertTTL is how often, in seconds, the certificate files are re-read;
	// 0 means never.
	CertTTL int `yaml:"cert_ttl"`
}

// Default returns the built-in configuration, equal to Qdrant's shipped
// config.yaml for the keys Shoal knows.
func Default() Config {
	grpc := DefaultGRPCPort
	return Config{
		LogLevel: "INFO",
		Logger:   LoggerConfig{Format: "text"},
		Canary:   CanaryConfig{Enabled: true, IntervalSec: 30},
		Storage: StorageConfig{
			StoragePath:     "./storage",
			SnapshotsPath:   "./snapshots",
			SnapshotsConfig: SnapshotsStorageConfig{SnapshotsStorage: "local"},
			MinFreeDiskMB:   128,
			Performance: PerformanceConfig{
				IncomingShardTransfersLimit: intPtr(1),
				OutgoingShardTransfersLimit: intPtr(1),
			},
			Optimizers: OptimizersConfig{
				DeletedThreshold:      0.2,
				VacuumMinVectorNumber: 1000,
				IndexingThresholdKB:   10000,
				FlushIntervalSec:      5,
			},
			HnswIndex: HnswIndexConfig{
				M:                   16,
				EfConstruct:         100,
				FullScanThresholdKB: 10000,
			},
		},
		Service: ServiceConfig{
			Host:             "0.0.0.0",
			HTTPPort:         DefaultHTTPPort,
			GRPCPort:         &grpc,
			MaxRequestSizeMB: 32,
			EnableCORS:       true,
		},
		Cluster: ClusterConfig{
			P2P:                 P2PConfig{Port: DefaultP2PPort, ConnectionPoolSize: 1},
			Join:                []string{},
			Labels:              map[string]string{},
			DeadNodeTimeout:     Duration(5 * time.Minute),
			NodeDownAfter:       Duration(10 * time.Second),
			MaxTransfersPerNode: 1,
			RestoreStageTimeout: Duration(10 * time.Minute),
			AutoHeal:            true,
			Rebalance:           true,
			GRPCTimeoutMS:       5000,
			ConnectionTimeoutMS: 5000,
			Consensus: ConsensusConfig{
				TickPeriodMS:        100,
				BootstrapTimeoutSec: 15,
				MaxMessageQueueSize: 100,
				CompactWALEntries:   128,
			},
		},
		TLS: TLSConfig{
			Cert:    "./tls/cert.pem",
			Key:     "./tls/key.pem",
			CACert:  "./tls/cacert.pem",
			CertTTL: 3600,
		},
	}
}

// TempDir returns storage.temp_path, or its default
// <storage_path>/snapshots_temp.
func (c Config) TempDir() string {
	if c.Storage.TempPath != "" {
		return c.Storage.TempPath
	}
	return strings.TrimRight(c.Storage.StoragePath, "/") + "/snapshots_temp"
}

// ClusterSecret returns the secret peers authenticate each other with:
// cluster.secret when set, else service.api_key when
// service.enforce_internal_auth is on, else "" (no shared secret).
func (c Config) ClusterSecret() string {
	if c.Cluster.Secret != "" {
		return c.Cluster.Secret
	}
	if c.Service.EnforceInternalAuth {
		return c.Service.APIKey
	}
	return ""
}

// P2PHost returns the bind host of the peer port: cluster.p2p.host, or
// service.host when it is empty.
func (c Config) P2PHost() string {
	if c.Cluster.P2P.Host != "" {
		return c.Cluster.P2P.Host
	}
	return c.Service.Host
}

// MaxRequestBytes returns service.max_request_size_mb in bytes.
func (c Config) MaxRequestBytes() int64 { return int64(c.Service.MaxRequestSizeMB) << 20 }

// SlogLevel returns the slog level of log_level. Unknown levels (rejected
// by Validate) map to INFO.
func (c Config) SlogLevel() slog.Level {
	lvl, _ := parseLevel(c.LogLevel)
	return lvl
}

// parseLevel reads Qdrant's log_level: a level name, optionally followed by
// comma-separated per-module directives, of which the first bare level
// counts.
func parseLevel(s string) (slog.Level, bool) {
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || strings.Contains(part, "=") {
			continue
		}
		switch strings.ToUpper(part) {
		case "TRACE", "DEBUG":
			return slog.LevelDebug, true
		case "INFO":
			return slog.LevelInfo, true
		case "WARN", "WARNING":
			return slog.LevelWarn, true
		case "ERROR", "OFF":
			return slog.LevelError, true
		}
		return slog.LevelInfo, false
	}
	return slog.LevelInfo, s == "" || strings.Contains(s, "=")
}

// redactedValue replaces secrets in dumps and logs.
const redactedValue = "***"

// Redacted returns a copy of c with every secret (API keys, S3 keys, the
// cluster secret) replaced by "***"; empty secrets stay empty so a dump
// still shows whether authentication is on.
func (c Config) Redacted() Config {
	r := c
	redact := func(s *string) {
		if *s != "" {
			*s = redactedValue
		}
	}
	redact(&r.Service.APIKey)
	redact(&r.Service.AltAPIKey)
	redact(&r.Service.ReadOnlyAPIKey)
	redact(&r.Storage.SnapshotsConfig.S3Config.AccessKey)
	redact(&r.Storage.SnapshotsConfig.S3Config.SecretKey)
	redact(&r.Cluster.Secret)
	r.Snapshots = redactMap(c.Snapshots)
	return r
}

// redactMap copies m, replacing the values of keys that look secret.
func redactMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch vv := v.(type) {
		case map[string]any:
			out[k] = redactMap(vv)
		default:
			lk := strings.ToLower(k)
			if v != nil && v != "" && (strings.Contains(lk, "secret") || strings.Contains(lk, "key") || strings.Contains(lk, "password") || strings.Contains(lk, "token")) {
				out[k] = redactedValue
			} else {
				out[k] = v
			}
		}
	}
	return out
}

// YAML returns the redacted configuration as YAML.
func (c Config) YAML() ([]byte, error) {
	b, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return nil, fmt.Errorf("cannot marshal config: %w", err)
	}
	return b, nil
}

// LogValue makes a Config log as a group of its redacted keys, so
// logger.Info("config", "config", cfg) never prints a secret.
func (c Config) LogValue() slog.Value {
	b, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return slog.StringValue("unprintable config: " + err.Error())
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return slog.StringValue("unprintable config: " + err.Error())
	}
	return slog.GroupValue(mapAttrs(m)...)
}

func mapAttrs(m map[string]any) []slog.Attr {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		if sub, ok := m[k].(map[string]any); ok {
			attrs = append(attrs, slog.Attr{Key: k, Value: slog.GroupValue(mapAttrs(sub)...)})
			continue
		}
		attrs = append(attrs, slog.Any(k, m[k]))
	}
	return attrs
}

func intPtr(n int) *int { return &n }
