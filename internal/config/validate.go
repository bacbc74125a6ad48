package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Validate checks every key and returns all problems at once, each naming
// its key, joined with errors.Join; nil means the config is usable.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	port := func(key string, p int) {
		if p < 0 || p > 65535 {
			bad(key, "port must be between 0 and 65535 (0 picks a free port), got %d", p)
		}
	}

	if _, ok := parseLevel(c.LogLevel); !ok {
		bad("log_level", "must be one of TRACE, DEBUG, INFO, WARN, ERROR or OFF, got %q", c.LogLevel)
	}
	switch strings.ToLower(c.Logger.Format) {
	case "", "text", "json":
	default:
		bad("logger.format", "must be \"text\" or \"json\", got %q", c.Logger.Format)
	}

	// Storage.
	pathKey := func(key, p string) {
		if strings.TrimSpace(p) == "" {
			bad(key, "must not be empty")
			return
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			bad(key, "%s exists and is not a directory", p)
		}
	}
	pathKey("storage.storage_path", c.Storage.StoragePath)
	pathKey("storage.snapshots_path", c.Storage.SnapshotsPath)
	if c.Storage.TempPath != "" {
		pathKey("storage.temp_path", c.Storage.TempPath)
	}
	switch c.Storage.SnapshotsConfig.SnapshotsStorage {
	case "", "local":
	case "s3":
		if c.Storage.SnapshotsConfig.S3Config.Bucket == "" {
			bad("storage.snapshots_config.s3_config.bucket", "is required when snapshots_storage is s3")
		}
	default:
		bad("storage.snapshots_config.snapshots_storage", "must be \"local\" or \"s3\", got %q", c.Storage.SnapshotsConfig.SnapshotsStorage)
	}
	// optimizer_cpu_budget may be negative (all CPUs minus N), as in Qdrant.
	if p := c.Storage.Performance; p.MaxSearchThreads < 0 || p.UpdateRateLimit < 0 {
		bad("storage.performance", "max_search_threads and update_rate_limit must not be negative")
	}
	o := c.Storage.Optimizers
	if o.DeletedThreshold < 0 || o.DeletedThreshold > 1 {
		bad("storage.optimizers.deleted_threshold", "must be between 0 and 1, got %v", o.DeletedThreshold)
	}
	if o.VacuumMinVectorNumber < 0 || o.DefaultSegmentNumber < 0 || o.MaxSegmentSizeKB < 0 || o.IndexingThresholdKB < 0 || o.FlushIntervalSec < 0 || o.MaxOptimizationThreads < 0 {
		bad("storage.optimizers", "values must not be negative")
	}
	h := c.Storage.HnswIndex
	if h.M < 0 {
		bad("storage.hnsw_index.m", "must not be negative, got %d", h.M)
	}
	if h.EfConstruct < 4 {
		bad("storage.hnsw_index.ef_construct", "must be at least 4, got %d", h.EfConstruct)
	}
	if h.FullScanThresholdKB < 0 || h.MaxIndexingThreads < 0 || h.PayloadM < 0 {
		bad("storage.hnsw_index", "values must not be negative")
	}
	if c.Storage.MaxCollections < 0 {
		bad("storage.max_collections", "must not be negative, got %d", c.Storage.MaxCollections)
	}

	// Service.
	s := c.Service
	if strings.TrimSpace(s.Host) == "" {
		bad("service.host", "must not be empty (use 0.0.0.0 to listen on every interface)")
	}
	port("service.http_port", s.HTTPPort)
	if s.GRPCPort != nil {
		port("service.grpc_port", *s.GRPCPort)
		if *s.GRPCPort != 0 && *s.GRPCPort == s.HTTPPort {
			bad("service.grpc_port", "must differ from service.http_port (both are %d)", s.HTTPPort)
		}
	}
	if s.MaxRequestSizeMB < 1 || s.MaxRequestSizeMB > 4096 {
		bad("service.max_request_size_mb", "must be between 1 and 4096, got %d", s.MaxRequestSizeMB)
	}
	if s.MaxWorkers < 0 {
		bad("service.max_workers", "must not be negative, got %d", s.MaxWorkers)
	}
	if s.JWTRBAC && s.APIKey == "" && s.AltAPIKey == "" {
		bad("service.jwt_rbac", "needs service.api_key: tokens are signed with it")
	}
	if s.ReadOnlyAPIKey != "" && (s.ReadOnlyAPIKey == s.APIKey || s.ReadOnlyAPIKey == s.AltAPIKey) {
		bad("service.read_only_api_key", "must differ from service.api_key and service.alt_api_key")
	}

	// TLS.
	if s.EnableTLS || c.Cluster.P2P.EnableTLS {
		fileKey := func(key, p string) {
			if p == "" {
				bad(key, "is required when TLS is enabled")
				return
			}
			st, err := os.Stat(p)
			if err != nil {
				bad(key, "cannot read %s: %v", p, errors.Unwrap(err))
				return
			}
			if st.IsDir() {
				bad(key, "%s is a directory, not a PEM file", p)
			}
		}
		fileKey("tls.cert", c.TLS.Cert)
		fileKey("tls.key", c.TLS.Key)
		if s.VerifyHTTPSClientCertificate || c.Cluster.P2P.EnableTLS {
			fileKey("tls.ca_cert", c.TLS.CACert)
		}
	} else if s.VerifyHTTPSClientCertificate {
		bad("service.verify_https_client_certificate", "needs service.enable_tls")
	}
	if c.TLS.CertTTL < 0 {
		bad("tls.cert_ttl", "must not be negative, got %d", c.TLS.CertTTL)
	}

	// Cluster.
	port("cluster.p2p.port", c.Cluster.P2P.Port)
	if c.Cluster.PeerID > 1<<53-1 {
		bad("cluster.peer_id", "must be below 2^53, got %d", c.Cluster.PeerID)
	}
	return errors.Join(errs...)
}
