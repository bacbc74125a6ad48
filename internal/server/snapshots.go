package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/grpcapi"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// snapshots holds the snapshot parts of a server: the manager behind the
// REST and gRPC snapshot APIs, and the scheduler of the `snapshots:`
// policies.
type snapshots struct {
	manager *snapshot.Manager
	grpc    *grpcapi.SnapshotsService
	sched   *snapshot.Scheduler // nil without policies
	log     *slog.Logger

	mu     sync.Mutex // guards cancel
	cancel context.CancelFunc
	done   chan struct{}
}

// peerIDFile holds a standalone node's generated peer id, used in snapshot
// names when cluster.peer_id is not set.
const peerIDFile = "snapshot_peer_id"

// nodePeerID returns cluster.peer_id, or a random id generated once and kept
// in the storage directory.
func nodePeerID(cfg config.Config) (uint64, error) {
	if cfg.Cluster.PeerID != 0 {
		return cfg.Cluster.PeerID, nil
	}
	p := filepath.Join(cfg.Storage.StoragePath, peerIDFile)
	if b, err := os.ReadFile(p); err == nil {
		if id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && id != 0 {
			return id, nil
		}
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("cannot generate peer id: %w", err)
	}
	id := binary.LittleEndian.Uint64(b[:])&(1<<53-1) | 1
	if err := durable.WriteFile(p, []byte(strconv.FormatUint(id, 10)+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("cannot store peer id: %w", err)
	}
	return id, nil
}

// snapshotStore opens the store of API-created snapshots: the local
// snapshots_path, or S3 with storage.snapshots_config.snapshots_storage: s3.
func snapshotStore(cfg config.Config) (snapshot.Store, *snapshot.DirStore, error) {
	local, err := snapshot.OpenDirStore(cfg.Storage.SnapshotsPath, "local")
	if err != nil {
		return nil, nil, err
	}
	sc := cfg.Storage.SnapshotsConfig
	if sc.SnapshotsStorage != "s3" {
		return local, local, nil
	}
	s3 := sc.S3Config
	opts := snapshot.S3Options{Bucket: s3.Bucket, Region: s3.Region, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Endpoint: "s3.amazonaws.com"}
	if s3.EndpointURL != "" {
		u, err := url.Parse(s3.EndpointURL)
		if err != nil || u.Host == "" {
			return nil, nil, fmt.Errorf("invalid storage.snapshots_config.s3_config.endpoint_url %q", s3.EndpointURL)
		}
		opts.Endpoint, opts.Insecure, opts.PathStyle = u.Host, u.Scheme == "http", true
		opts.Prefix = strings.Trim(u.Path, "/")
	}
	st, err := snapshot.NewS3Store(opts)
	if err != nil {
		return nil, nil, err
	}
	return st, local, nil
}

// newSnapshots builds the snapshot manager, its API adapters and the
// scheduler from cfg.
func newSnapshots(cfg config.Config, svc *service.Service, reg prometheus.Registerer, log *slog.Logger, version string) (*snapshots, error) {
	peer, err := nodePeerID(cfg)
	if err != nil {
		return nil, err
	}
	store, local, err := snapshotStore(cfg)
	if err != nil {
		return nil, err
	}
	rate, err := snapshotWriteRate(cfg)
	if err != nil {
		return nil, err
	}
	hooks := svc.SnapshotHooks(cfg.TempDir())
	mgr, err := snapshot.NewManager(snapshot.ManagerOptions{
		Source: hooks, Inspector: hooks, Store: store, SnapshotsDir: local.Root(), PeerID: peer, ShoalVersion: version,
		Logger: log, WriteBytesPerSecond: rate, Background: svc.SnapshotLimiter(),
	})
	if err != nil {
		return nil, err
	}
	sn := &snapshots{
		manager: mgr,
		grpc:    grpcapi.NewSnapshotsService(mgr),
		log:     log,
	}
	policies, err := SnapshotPolicies(cfg)
	if err != nil {
		return nil, err
	}
	var resolved []*snapshot.Policy
	for i := range policies {
		p, err := policies[i].Resolve(local)
		if err != nil {
			return nil, err
		}
		resolved = append(resolved, p)
	}
	sched, err := snapshot.NewScheduler(snapshot.SchedulerOptions{Policies: resolved, Producer: mgr, Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	if len(resolved) > 0 {
		sn.sched = sched
	}
	return sn, nil
}

// SnapshotPolicies decodes the `snapshots:` config section:
//
//	snapshots:
//	  write_rate_mb: 50   # optional: pace archive writing to 50 MiB/s
//	  cpu_share_during_writes: 0.1   # optional (default 0.1; 0: no limit)
//	  policies:
//	    - {name: hourly, collections: ["*"], interval: 1h, retention: {keep_last: 24}, destinations: [local]}
func SnapshotPolicies(cfg config.Config) ([]snapshot.PolicyConfig, error) {
	if len(cfg.Snapshots) == 0 {
		return nil, nil
	}
	for k := range cfg.Snapshots {
		if k != "policies" && k != "write_rate_mb" && k != "cpu_share_during_writes" {
			return nil, fmt.Errorf("invalid snapshots config: unknown key %q (expected policies, write_rate_mb, cpu_share_during_writes)", k)
		}
	}
	ps, err := snapshot.DecodePolicies(cfg.Snapshots["policies"])
	if err != nil {
		return nil, fmt.Errorf("invalid snapshots config: %w", err)
	}
	return ps, nil
}

// snapshotWriteRate reads snapshots.write_rate_mb (MiB/s, 0: unpaced).
func snapshotWriteRate(cfg config.Config) (int64, error) {
	mb, err := snapshotNumber(cfg, "write_rate_mb", 0, "MiB per second")
	if err != nil {
		return 0, err
	}
	return int64(mb * (1 << 20)), nil
}

// DefaultSnapshotCPUShare is snapshots.cpu_share_during_writes when unset:
// while a node's writes come in, its snapshot work (checkpoints read,
// hashed and sent, archives received and written) takes at most a tenth
// of one core, and all it can get otherwise (docs/benchmarks.md, "Cluster
// snapshots, session 13").
const DefaultSnapshotCPUShare = 0.1

// snapshotCPUShare reads snapshots.cpu_share_during_writes: a share of one
// core, from 0 (no limit) to 1 (no limit either).
func snapshotCPUShare(cfg config.Config) (float64, error) {
	v, err := snapshotNumber(cfg, "cpu_share_during_writes", DefaultSnapshotCPUShare, "a share of one core, such as 0.1")
	if err != nil {
		return 0, err
	}
	if v > 1 {
		return 0, fmt.Errorf("invalid snapshots.cpu_share_during_writes %v: want a share of one core from 0 (no limit) to 1", v)
	}
	return v, nil
}

// snapshotNumber reads the non-negative number snapshots.<key> (def when
// unset); want describes it in errors.
func snapshotNumber(cfg config.Config, key string, def float64, want string) (float64, error) {
	v, ok := cfg.Snapshots[key]
	if !ok || v == nil {
		return def, nil
	}
	var n float64
	switch x := v.(type) {
	case int:
		n = float64(x)
	case int64:
		n = float64(x)
	case float64:
		n = x
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid snapshots.%s %q: want %s", key, x, want)
		}
		n = f
	default:
		return 0, fmt.Errorf("invalid snapshots.%s %v: want %s", key, v, want)
	}
	if n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("invalid snapshots.%s %v: want a finite number, not negative", key, n)
	}
	return n, nil
}

// start runs the scheduler in the background.
func (sn *snapshots) start() {
	if sn == nil || sn.sched == nil {
		return
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sn.cancel, sn.done = cancel, make(chan struct{})
	go func() {
		defer close(sn.done)
		sn.sched.Run(ctx)
	}()
	sn.log.Info("snapshot scheduler started")
}

// stop stops the scheduler and waits for a running snapshot to end.
func (sn *snapshots) stop() {
	if sn == nil {
		return
	}
	sn.mu.Lock()
	cancel, done := sn.cancel, sn.done
	sn.cancel = nil
	sn.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Snapshots returns the snapshot manager (for in-process tools and tests).
func (s *Server) Snapshots() *snapshot.Manager { return s.snaps.manager }
