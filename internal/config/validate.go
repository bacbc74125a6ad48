package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
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

	if c.Canary.IntervalSec < 1 {
		bad("canary.interval_sec", "must be at least 1, got %d", c.Canary.IntervalSec)
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
	perf := c.Storage.Performance
	for _, kv := range []struct {
		key string
		v   int
	}{
		{"storage.performance.max_search_threads", perf.MaxSearchThreads},
		{"storage.performance.max_optimization_threads", perf.MaxOptimizationThreads},
		{"storage.performance.update_rate_limit", perf.UpdateRateLimit},
	} {
		if kv.v < 0 {
			bad(kv.key, "must not be negative (0 means no bound), got %d", kv.v)
		}
	}
	for _, kv := range []struct {
		key string
		v   *int
	}{
		{"storage.performance.incoming_shard_transfers_limit", perf.IncomingShardTransfersLimit},
		{"storage.performance.outgoing_shard_transfers_limit", perf.OutgoingShardTransfersLimit},
	} {
		if kv.v != nil && *kv.v < 0 {
			bad(kv.key, "must not be negative (0 allows no automatic transfer, null sets no bound), got %d", *kv.v)
		}
	}
	o := c.Storage.Optimizers
	if o.DeletedThreshold < 0 || o.DeletedThreshold > 1 {
		bad("storage.optimizers.deleted_threshold", "must be between 0 and 1, got %v", o.DeletedThreshold)
	}
	if o.VacuumMinVectorNumber < 0 || o.DefaultSegmentNumber < 0 || o.MaxSegmentSizeKB < 0 || o.MemmapThresholdKB < 0 || o.IndexingThresholdKB < 0 || o.FlushIntervalSec < 0 || o.MaxOptimizationThreads < 0 {
		bad("storage.optimizers", "values must not be negative")
	}
	h := c.Storage.HnswIndex
	if h.M < 1 {
		bad("storage.hnsw_index.m", "must be at least 1, got %d (m: 0, which turns the graph off in Qdrant, is not supported)", h.M)
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
	if c.Storage.MinFreeDiskMB < 0 {
		bad("storage.min_free_disk_mb", "must not be negative (0 turns the check off), got %d", c.Storage.MinFreeDiskMB)
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

	if s.EnforceInternalAuth && s.APIKey == "" {
		bad("service.enforce_internal_auth", "needs service.api_key: peers authenticate with it")
	}

	// Cluster.
	c.validateCluster(bad, port)
	return errors.Join(errs...)
}

// MinClusterSecretBytes is the shortest cluster.secret accepted.
const MinClusterSecretBytes = 32

// validateCluster checks the cluster section.
func (c Config) validateCluster(bad func(key, format string, args ...any), port func(key string, p int)) {
	cl := c.Cluster
	port("cluster.p2p.port", cl.P2P.Port)
	if cl.PeerID > 1<<53-1 {
		bad("cluster.peer_id", "must be below 2^53, got %d", cl.PeerID)
	}
	if h := cl.P2P.Host; h != "" && strings.TrimSpace(h) != h {
		bad("cluster.p2p.host", "must not have surrounding spaces, got %q", h)
	}
	allIPs := len(cl.Join) > 0
	for i, j := range cl.Join {
		host, err := parseHostPort(j)
		if err != nil {
			bad("cluster.join", "entry %d %q: %v", i, j, err)
			allIPs = false
			continue
		}
		if net.ParseIP(host) == nil {
			allIPs = false
		}
	}
	switch {
	case cl.BootstrapExpect < 0:
		bad("cluster.bootstrap_expect", "must not be negative, got %d", cl.BootstrapExpect)
	case cl.BootstrapExpect > 1 && len(cl.Join) == 0:
		bad("cluster.bootstrap_expect", "is %d but cluster.join is empty: list the %d peers to bootstrap from in cluster.join", cl.BootstrapExpect, cl.BootstrapExpect)
	case allIPs && cl.BootstrapExpect != 0 && cl.BootstrapExpect != len(cl.Join):
		bad("cluster.bootstrap_expect", "is %d but cluster.join lists %d IP addresses, and a list of IP addresses cannot grow: set cluster.bootstrap_expect to %d or change cluster.join",
			cl.BootstrapExpect, len(cl.Join), len(cl.Join))
	}
	if cl.AdvertiseURI != "" {
		if err := checkAdvertiseURI(cl.AdvertiseURI); err != nil {
			bad("cluster.advertise_uri", "%v", err)
		}
	}
	if cl.Secret != "" && len(cl.Secret) < MinClusterSecretBytes {
		bad("cluster.secret", "must be at least %d bytes, got %d", MinClusterSecretBytes, len(cl.Secret))
	}
	for k := range cl.Labels {
		if strings.TrimSpace(k) == "" {
			bad("cluster.labels", "label names must not be empty")
		}
	}
	if cl.DeadNodeTimeout.Std() < time.Second {
		bad("cluster.dead_node_timeout", "must be at least 1s, got %s", cl.DeadNodeTimeout)
	}
	if cl.NodeDownAfter.Std() < 100*time.Millisecond {
		bad("cluster.node_down_after", "must be at least 100ms, got %s", cl.NodeDownAfter)
	} else if cl.NodeDownAfter > cl.DeadNodeTimeout && cl.DeadNodeTimeout.Std() >= time.Second {
		bad("cluster.node_down_after", "must not exceed cluster.dead_node_timeout (%s), got %s", cl.DeadNodeTimeout, cl.NodeDownAfter)
	}
	atLeast1 := func(key string, v int) {
		if v < 1 {
			bad(key, "must be at least 1, got %d", v)
		}
	}
	atLeast1("cluster.max_transfers_per_node", cl.MaxTransfersPerNode)
	if cl.RestoreStageTimeout.Std() < time.Second {
		bad("cluster.restore_stage_timeout", "must be at least 1s, got %s", cl.RestoreStageTimeout)
	}
	if cl.TransferRateLimitMB < 0 {
		bad("cluster.transfer_rate_limit_mb", "must not be negative (0 means no limit), got %d", cl.TransferRateLimitMB)
	}
	atLeast1("cluster.grpc_timeout_ms", cl.GRPCTimeoutMS)
	atLeast1("cluster.connection_timeout_ms", cl.ConnectionTimeoutMS)
	atLeast1("cluster.p2p.connection_pool_size", cl.P2P.ConnectionPoolSize)
	atLeast1("cluster.consensus.tick_period_ms", cl.Consensus.TickPeriodMS)
	atLeast1("cluster.consensus.bootstrap_timeout_sec", cl.Consensus.BootstrapTimeoutSec)
	atLeast1("cluster.consensus.max_message_queue_size", cl.Consensus.MaxMessageQueueSize)
	atLeast1("cluster.consensus.compact_wal_entries", cl.Consensus.CompactWALEntries)

	if cl.Enabled && !cl.P2P.EnableTLS && c.ClusterSecret() == "" && !cl.P2P.Insecure {
		bad("cluster.enabled", "peers must authenticate each other: set cluster.secret (at least %d bytes), "+
			"or cluster.p2p.enable_tls with tls.cert, tls.key and tls.ca_cert, "+
			"or service.enforce_internal_auth with service.api_key; "+
			"to run without peer authentication on a trusted network, set cluster.p2p.insecure: true", MinClusterSecretBytes)
	}
}

// parseHostPort checks a host:port peer address and returns its host.
func parseHostPort(s string) (string, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", fmt.Errorf("expected host:port: %s", ae.Err)
		}
		return "", fmt.Errorf("expected host:port: %v", err)
	}
	if err := checkHost(host); err != nil {
		return "", err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q must be a number from 1 to 65535", p)
	}
	return host, nil
}

// checkHost accepts an IP address or a DNS name.
func checkHost(host string) error {
	if host == "" {
		return errors.New("the host is empty")
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	name := strings.TrimSuffix(host, ".")
	if len(name) > 253 {
		return fmt.Errorf("host %q is longer than 253 characters", host)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q is neither an IP address nor a DNS name", host)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("host %q is neither an IP address nor a DNS name", host)
			}
		}
	}
	return nil
}

// checkAdvertiseURI accepts http(s)://host:port or host:port.
func checkAdvertiseURI(s string) error {
	hostport := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("cannot parse %q: %v", s, errors.Unwrap(err))
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("%q: the scheme must be http or https, got %q", s, u.Scheme)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%q: expected only a scheme, host and port", s)
		}
		hostport = u.Host
	}
	if _, err := parseHostPort(hostport); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	return nil
}
