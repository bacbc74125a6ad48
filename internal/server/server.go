// Package server is Shoal's composition root: from a config.Config it
// builds every component (service layer, authenticator, metrics registry,
// REST and gRPC adapters), owns the listeners, and orders start and stop.
// It is a library with New/Start/Close, so tests run real servers in
// process; cmd/shoal only parses flags and hands over (through
// internal/cli).
//
// Start order: storage (service) is opened by New; Start binds both ports,
// serves, and only then reports ready. Close reverses it: not ready, gRPC
// health NOT_SERVING, stop accepting, let in-flight requests finish (bounded
// by the context), then close the service, which flushes the shards.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/canary"
	"github.com/shoal-db/shoal/internal/cluster"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/grpcapi"
	"github.com/shoal-db/shoal/internal/metrics"
	"github.com/shoal-db/shoal/internal/rest"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/shard"
)

// Options are the parts of a server that do not come from the config.
type Options struct {
	// Logger receives the server's logs; nil discards.
	Logger *slog.Logger
	// Version is Shoal's version, reported by GET /, gRPC HealthCheck and
	// app_info.
	Version string
	// Commit is the source revision reported by GET /.
	Commit string
	// Registry collects every metric; nil means a fresh
	// metrics.NewRegistry() (with Go and process collectors).
	Registry *prometheus.Registry
	// ShutdownGrace is how long Close waits for in-flight requests when its
	// context has no deadline; 0 means 30 s.
	ShutdownGrace time.Duration
	// Bootstrap is Qdrant's --bootstrap: a peer to join the cluster
	// through (cluster mode).
	Bootstrap string
	// PeerRoute, when set, maps a peer's address to the address this node
	// dials for it (tests route every link through a fault proxy).
	PeerRoute func(addr string) string
	// P2PListener, when set, is the bound peer listener to serve instead of
	// binding cluster.p2p.port (tests bind every node's port before any
	// node starts, so that no port is free in between).
	P2PListener net.Listener
	// ShardOptions, when set, adjusts every shard's options (tests: a
	// short op log forces checkpoint transfers).
	ShardOptions func(*shard.Options)
	// Failpoint, when set (tests only), is the service's failpoint hook
	// (service.Options.Failpoint).
	Failpoint func(point string) error
	// WriteActivity, when set, is the node's write signal
	// (service.Options.WriteActivity), shared by in-process nodes.
	WriteActivity *shard.WriteActivity
}

// Server is one Shoal node: the service over its storage and the two API
// listeners.
type Server struct {
	cfg  config.Config
	opts Options
	log  *slog.Logger

	svc     *service.Service
	reg     *prometheus.Registry
	auth    *auth.Authenticator
	rest    *rest.Handler
	grpcAPI *grpcapi.Server
	tls     *tls.Config // nil without TLS
	snaps   *snapshots
	workers workerLimit // service.max_workers

	httpSrv *http.Server
	grpcSrv *grpc.Server   // nil when gRPC is disabled
	cl      *clusterParts  // nil on a standalone node
	ops     *opsMetrics    // nil on a standalone node
	canary  *canary.Canary // nil when canary.enabled is false

	mu       sync.Mutex // guards the fields below
	httpLn   net.Listener
	grpcLn   net.Listener
	started  bool
	closed   bool
	closeErr error

	ready atomic.Bool
	// caughtUp latches the first time the node's replicas had caught up
	// (Ready).
	caughtUp atomic.Bool
	serveW   sync.WaitGroup
	errc     chan error // first fatal serve error
}

// New validates cfg, creates the data directories, opens the service (and
// so the storage), and builds the adapters. Nothing listens until Start.
func New(cfg config.Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = metrics.NewRegistry()
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	s := &Server{cfg: cfg, opts: opts, log: opts.Logger, reg: opts.Registry, errc: make(chan error, 2)}

	for _, dir := range []string{cfg.Storage.StoragePath, cfg.Storage.SnapshotsPath, cfg.TempDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create data directory: %w", err)
		}
	}
	if cfg.Service.EnableTLS {
		tc, err := newTLSConfig(cfg, s.log)
		if err != nil {
			return nil, err
		}
		s.tls = tc
	}

	peer, err := nodePeerID(cfg)
	if err != nil {
		return nil, err
	}
	snapshotShare, err := snapshotCPUShare(cfg)
	if err != nil {
		return nil, err
	}
	var cl service.Cluster
	var remoteShard func(service.RemoteTarget) collection.Shard
	var dialPeer, controlDial func(uint64) (*grpc.ClientConn, error)
	if cfg.Cluster.Enabled {
		if err := applyECSMetadata(context.Background(), &cfg, os.Getenv); err != nil {
			return nil, err
		}
		s.cfg = cfg
		if s.cl, err = newCluster(cfg, s, peer); err != nil {
			return nil, err
		}
		cl, remoteShard, dialPeer, controlDial = s.cl.node, s.cl.remoteShard, s.cl.dialPeer, s.cl.controlDial
	}
	svc, err := service.New(service.Options{
		Cluster:          cl,
		RemoteShard:      remoteShard,
		PeerDial:         dialPeer,
		ControlDial:      controlDial,
		AckTimeout:       cfg.Cluster.NodeDownAfter.Std(),
		FailoverAfter:    min(cfg.Cluster.NodeDownAfter.Std(), service.DefaultFailoverAfter),
		TransferRate:     float64(cfg.Cluster.TransferRateLimitMB) * (1 << 20),
		SnapshotCPUShare: snapshotShare,
		StageTimeout:     cfg.Cluster.RestoreStageTimeout.Std(),
		Failpoint:        s.opts.Failpoint,
		Heal: service.HealOptions{
			Disabled:            !cfg.Cluster.AutoHeal,
			DeadAfter:           cfg.Cluster.DeadNodeTimeout.Std(),
			MaxTransfersPerNode: cfg.Cluster.MaxTransfersPerNode,
			MaxIncoming:         cfg.Storage.Performance.IncomingShardTransfersLimit,
			MaxOutgoing:         cfg.Storage.Performance.OutgoingShardTransfersLimit,
			Rebalance:           cfg.Cluster.Rebalance,
		},
		ShardOptions:  s.opts.ShardOptions,
		WriteActivity: s.opts.WriteActivity,
		PeerID:        peer,
		StorageDir:    cfg.Storage.StoragePath,
		Logger:        s.log.With("component", "service"),
		Limits: service.Limits{
			MaxCollections:       cfg.Storage.MaxCollections,
			MaxConcurrentReads:   cfg.Storage.Performance.MaxSearchThreads,
			MaxConcurrentUpdates: cfg.Storage.Performance.UpdateRateLimit,
		},
		IndexingThreads:    cfg.IndexingThreads(),
		CollectionDefaults: collectionDefaults(cfg.Storage),
		MinFreeDiskBytes:   minFreeDisk(cfg.Storage.MinFreeDiskMB),
	})
	if err != nil {
		if s.cl != nil {
			s.cl.close()
		}
		return nil, fmt.Errorf("cannot open storage %s: %w", cfg.Storage.StoragePath, err)
	}
	s.svc = svc
	if s.cl != nil {
		s.cl.node.SetListener(svc)
		s.cl.registerShards(svc)
	}

	if s.snaps, err = newSnapshots(cfg, svc, s.reg, s.log.With("component", "snapshots"), opts.Version); err != nil {
		svc.Close()
		return nil, err
	}

	s.auth = auth.New(auth.Options{
		APIKey:         cfg.Service.APIKey,
		AltAPIKey:      cfg.Service.AltAPIKey,
		ReadOnlyAPIKey: cfg.Service.ReadOnlyAPIKey,
		JWTRBAC:        cfg.Service.JWTRBAC,
		ValueExists:    s.valueExists,
	})

	if _, err := metrics.Register(s.reg, metrics.Options{
		Version:        opts.Version,
		ClusterEnabled: cfg.Cluster.Enabled,
		Source:         s.stats,
		Logger:         s.log.With("component", "metrics"),
	}); err != nil {
		svc.Close()
		return nil, err
	}
	if err := s.registerOpsMetrics(); err != nil {
		svc.Close()
		return nil, fmt.Errorf("cannot register operator metrics: %w", err)
	}
	if cfg.Canary.Enabled {
		s.canary, err = canary.New(canary.Options{
			Service:    svc,
			Health:     svc.LocalHealth,
			Collection: service.CanaryCollection(peer),
			Interval:   time.Duration(cfg.Canary.IntervalSec) * time.Second,
			Ready:      s.Ready,
			Registerer: s.reg,
			Logger:     s.log.With("component", "canary"),
		})
		if err != nil {
			svc.Close()
			return nil, err
		}
	}

	s.workers = newWorkerLimit(cfg.Service.MaxWorkers)
	if cfg.Service.GRPCEnabled() {
		s.grpcAPI = grpcapi.New(grpcapi.Options{
			Service:         svc,
			Auth:            s.auth,
			Registerer:      s.reg,
			Logger:          s.log.With("component", "grpc"),
			MaxMessageBytes: int(cfg.MaxRequestBytes()),
			Version:         opts.Version,
			Snapshots:       s.snaps.grpc,
		})
		gopts := append(s.grpcAPI.GRPCServerOptions(), s.workers.grpcOptions()...)
		if s.tls != nil {
			gopts = append(gopts, grpc.Creds(credentials.NewTLS(s.tls)))
		}
		s.grpcSrv = grpc.NewServer(gopts...)
		s.grpcAPI.Register(s.grpcSrv)
	}

	var grpcResponses *metrics.Responses
	if s.grpcAPI != nil {
		grpcResponses = s.grpcAPI.Responses()
	}
	s.rest = rest.New(rest.Options{
		Service:         svc,
		Auth:            s.auth,
		Registerer:      s.reg,
		Gatherer:        s.reg,
		Logger:          s.log.With("component", "rest"),
		MaxRequestBytes: cfg.MaxRequestBytes(),
		EnableCORS:      cfg.Service.EnableCORS,
		Version:         opts.Version,
		Commit:          opts.Commit,
		Ready:           s.Ready,
		Snapshots:       s.snaps.manager,
		GRPCResponses:   grpcResponses,
	})
	s.httpSrv = &http.Server{
		Handler:           s.workers.http(s.rest),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         s.tls.Clone(),
		ErrorLog:          slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelWarn),
	}

	return s, nil
}

// Service returns the service layer (for in-process tools and tests).
func (s *Server) Service() *service.Service { return s.svc }

// Registry returns the metrics registry.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Config returns the configuration the server was built from.
func (s *Server) Config() config.Config { return s.cfg }

// Start binds host:http_port and host:grpc_port, serves both, and marks the
// server ready. Port 0 picks a free port; HTTPAddr and GRPCAddr report the
// bound addresses. When a port cannot be bound nothing is left listening.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("cannot start server: it is closed")
	}
	if s.started {
		return errors.New("cannot start server: it is already started")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot start server: %w", err)
	}
	host := s.cfg.Service.Host
	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(s.cfg.Service.HTTPPort)))
	if err != nil {
		return fmt.Errorf("cannot listen for REST on service.http_port: %w", err)
	}
	var grpcLn net.Listener
	if s.grpcSrv != nil {
		grpcLn, err = lc.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(*s.cfg.Service.GRPCPort)))
		if err != nil {
			httpLn.Close()
			return fmt.Errorf("cannot listen for gRPC on service.grpc_port: %w", err)
		}
	}
	if s.cl != nil {
		// Raft replays the metadata into the service (which opens this
		// node's replicas) before the APIs serve; formation goes on in
		// the background and /readyz waits for it.
		if err := s.cl.start(); err != nil {
			httpLn.Close()
			if grpcLn != nil {
				grpcLn.Close()
			}
			return err
		}
		if err := s.observeCluster(); err != nil {
			s.log.Warn("cannot observe the cluster node", "err", err)
		}
	}
	s.httpLn, s.grpcLn, s.started = httpLn, grpcLn, true

	scheme := "http"
	s.serveW.Add(1)
	go func() {
		defer s.serveW.Done()
		var err error
		if s.tls != nil {
			err = s.httpSrv.ServeTLS(httpLn, "", "")
		} else {
			err = s.httpSrv.Serve(httpLn)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("REST server stopped: %w", err))
		}
	}()
	if s.tls != nil {
		scheme = "https"
	}
	if grpcLn != nil {
		s.serveW.Add(1)
		go func() {
			defer s.serveW.Done()
			if err := s.grpcSrv.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				s.fail(fmt.Errorf("gRPC server stopped: %w", err))
			}
		}()
	}
	s.snaps.start()
	s.ready.Store(true)
	if s.canary != nil {
		s.canary.Start()
	}
	attrs := []any{"rest", scheme + "://" + httpLn.Addr().String()}
	if grpcLn != nil {
		attrs = append(attrs, "grpc", grpcLn.Addr().String())
	} else {
		attrs = append(attrs, "grpc", "disabled")
	}
	s.log.Info("shoal is ready", attrs...)
	return nil
}

func (s *Server) fail(err error) {
	s.log.Error("listener failed", "err", err)
	select {
	case s.errc <- err:
	default:
	}
}

// Err returns a channel that receives an error if a listener stops on its
// own (not through Close); the caller should then Close the server.
func (s *Server) Err() <-chan error { return s.errc }

// Ready reports whether the server serves requests (after Start, before
// Close); a cluster member also needs to be in a cluster with a leader,
// with its metadata caught up.
//
// In a cluster a node is ready once Raft is, and once its replicas have
// caught up after the start (service.CaughtUp, latched: a later transfer
// does not make the node unready).
func (s *Server) Ready() bool {
	if !s.ready.Load() || (s.cl != nil && !s.cl.node.Ready()) {
		return false
	}
	if s.cl != nil && !s.caughtUp.Load() {
		if !s.svc.CaughtUp() {
			return false
		}
		s.caughtUp.Store(true)
	}
	return true
}

// Cluster returns the cluster node (nil on a standalone node).
func (s *Server) Cluster() *cluster.Node {
	if s.cl == nil {
		return nil
	}
	return s.cl.node
}

// P2PAddr returns the bound peer address ("" on a standalone node).
func (s *Server) P2PAddr() string {
	if s.cl == nil {
		return ""
	}
	return s.cl.ln.Addr().String()
}

// HTTPAddr returns the bound REST address ("" before Start).
func (s *Server) HTTPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// GRPCAddr returns the bound gRPC address ("" before Start or when gRPC is
// disabled).
func (s *Server) GRPCAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grpcLn == nil {
		return ""
	}
	return s.grpcLn.Addr().String()
}

// Close shuts the server down gracefully: it stops accepting connections,
// waits for in-flight REST and gRPC requests until ctx is done (or
// Options.ShutdownGrace when ctx has no deadline), then cuts the remaining
// ones, and finally closes the service, which flushes and closes every
// shard. It is safe to call more than once; later calls return the first
// result.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.ShutdownGrace)
		defer cancel()
	}
	s.ready.Store(false)
	if s.canary != nil {
		s.canary.Close()
	}
	var errs []error
	if started {
		s.log.Info("shutting down: finishing in-flight requests")
		if s.grpcAPI != nil {
			s.grpcAPI.Shutdown()
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.httpSrv.Shutdown(ctx); err != nil {
				s.log.Warn("REST requests cut at the shutdown deadline", "err", err)
				s.httpSrv.Close()
			}
		}()
		if s.grpcSrv != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				done := make(chan struct{})
				go func() { s.grpcSrv.GracefulStop(); close(done) }()
				select {
				case <-done:
				case <-ctx.Done():
					s.log.Warn("gRPC requests cut at the shutdown deadline")
					s.grpcSrv.Stop()
					<-done
				}
			}()
		}
		wg.Wait()
		s.serveW.Wait()
	} else if s.grpcSrv != nil {
		s.grpcSrv.Stop()
	}
	s.snaps.stop()
	if s.cl != nil {
		if err := s.cl.close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot leave the cluster: %w", err))
		}
	}
	if err := s.svc.Close(); err != nil {
		errs = append(errs, fmt.Errorf("cannot close service: %w", err))
	}
	s.closeErr = errors.Join(errs...)
	if s.closeErr == nil {
		s.log.Info("shutdown complete")
	}
	return s.closeErr
}

// stats adapts the service's telemetry to the metrics package.
func (s *Server) stats(ctx context.Context) (*metrics.Stats, error) {
	t, err := s.svc.Telemetry(ctx)
	if err != nil {
		return nil, err
	}
	out := &metrics.Stats{Collections: make([]metrics.CollectionStats, 0, len(t.Collections))}
	var health *api.ClusterHealth
	if s.cl != nil {
		health = s.svc.LocalHealth()
	}
	for _, c := range t.Collections {
		// Every configured vector name is reported, with the number of
		// points holding it (0 when none does).
		vec := make(map[string]uint64, len(c.Vectors))
		for name := range c.Vectors {
			vec[name] = c.VectorCounts[name]
		}
		out.Collections = append(out.Collections, metrics.CollectionStats{
			Name:                 c.Name,
			Points:               c.Points,
			Vectors:              vec,
			Shards:               c.Shards,
			RunningOptimizations: c.RunningOptimizations,
			PendingPoints:        uint64(c.PendingOptimization),
		})
		if health == nil {
			continue
		}
		if h, ok := health.Collections[c.Name]; ok {
			cs := &out.Collections[len(out.Collections)-1]
			cs.ReplicaCounts, cs.ActiveReplicasMin, cs.ActiveReplicasMax, cs.DeadReplicas = true, h.ActiveReplicasMin, h.ActiveReplicasMax, h.InactiveReplicas
		}
	}
	return out, nil
}

// valueExists backs the JWT value_exists claim with an exact count.
func (s *Server) valueExists(ctx context.Context, collection string, f *api.Filter) (bool, error) {
	exact := true
	res, err := s.svc.Count(auth.WithAccess(ctx, auth.Full), collection, &api.CountRequest{Filter: f, Exact: &exact}, api.ReadParams{})
	if err != nil {
		return false, err
	}
	return res.Count > 0, nil
}

// minFreeDisk maps storage.min_free_disk_mb to the service option (0 turns
// the check off, which the option spells as a negative value).
func minFreeDisk(mb int) int64 {
	if mb == 0 {
		return -1
	}
	return int64(mb) << 20
}
