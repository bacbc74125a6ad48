package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/server"
)

// shutdownGrace bounds how long a signalled shutdown waits for in-flight
// requests before cutting them; a second signal cuts them at once.
const shutdownGrace = 30 * time.Second

// serveFlags are the root command's flags (Qdrant's, plus config-key
// overrides).
type serveFlags struct {
	configPath      string
	uri             string
	bootstrap       string
	snapshots       []string
	storageSnapshot string
	forceSnapshot   bool
	stacktrace      bool
	reinit          bool
}

// configFlagKeys maps flags that are not spelled as config keys to keys.
func configFlagKeys() map[string]string {
	return map[string]string{
		"disable-telemetry": "telemetry_disabled",
		"uri":               "cluster.advertise_uri",
		"join":              "cluster.join",
	}
}

func newServeCommand(env *Env) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "shoal",
		Short: "Shoal: a vector database that speaks Qdrant's REST and gRPC APIs",
		Long: `Shoal is a vector database that speaks Qdrant's REST (6333) and gRPC (6334)
APIs, config keys and environment variables, so Qdrant clients work unchanged.

Without a subcommand it runs the database. Configuration comes from built-in
defaults, config/config.yaml, config/$RUN_MODE.yaml and config/local.yaml
(when present), the --config-path file, QDRANT__SECTION__KEY or
SHOAL__SECTION__KEY environment variables, and flags, later ones winning.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), env, cmd.Flags(), f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.configPath, "config-path", "", "path to a YAML config file, applied over config/config.yaml")
	fs.StringVar(&f.uri, "uri", lookup(env.Environ, "QDRANT_URI"), "URI of this peer for other peers, sets cluster.advertise_uri (cluster mode; env QDRANT_URI)")
	fs.StringSlice("join", nil, "seed peers host:port, comma-separated and repeatable; sets cluster.join (cluster mode)")
	fs.StringVar(&f.bootstrap, "bootstrap", lookup(env.Environ, "QDRANT_BOOTSTRAP"), "URI of a peer to join (cluster mode; env QDRANT_BOOTSTRAP)")
	fs.StringArrayVar(&f.snapshots, "snapshot", nil, "recover a collection at start: <snapshot path>:<collection name> (repeatable)")
	fs.StringVar(&f.storageSnapshot, "storage-snapshot", "", "recover a full storage snapshot at start")
	fs.BoolVar(&f.forceSnapshot, "force-snapshot", false, "with --snapshot, replace collections that already exist")
	fs.Bool("disable-telemetry", false, "disable telemetry (sets telemetry_disabled)")
	fs.BoolVar(&f.stacktrace, "stacktrace", false, "accepted for compatibility (Go prints stack traces on crashes)")
	fs.BoolVar(&f.reinit, "reinit", false, "reinitialise consensus state (cluster mode only)")
	// Config keys as flags, for quick overrides.
	fs.String("service.host", "", "listen address (service.host)")
	fs.Int("service.http_port", 0, "REST port (service.http_port)")
	fs.Int("service.grpc_port", 0, "gRPC port (service.grpc_port)")
	fs.String("storage.storage_path", "", "data directory (storage.storage_path)")
	fs.String("storage.snapshots_path", "", "snapshot directory (storage.snapshots_path)")
	fs.String("log_level", "", "TRACE, DEBUG, INFO, WARN or ERROR (log_level)")
	return cmd
}

func lookup(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// loadConfig loads the configuration the way the server does.
func loadConfig(env *Env, flags *pflag.FlagSet, configPath string) (config.Config, error) {
	cfg, err := config.Load(config.LoadOptions{
		ConfigPath: configPath,
		Dir:        env.Dir,
		Environ:    env.Environ,
		Flags:      flags,
		FlagKeys:   configFlagKeys(),
	})
	if err != nil {
		return config.Config{}, usageError(err)
	}
	return cfg, nil
}

func runServer(ctx context.Context, env *Env, flags *pflag.FlagSet, f serveFlags) error {
	// QDRANT_URI is --uri's default; as the flag's value it must reach the
	// config like a flag given on the command line.
	if uri := flags.Lookup("uri"); uri != nil && !uri.Changed && f.uri != "" {
		if err := flags.Set("uri", f.uri); err != nil {
			return usageError(err)
		}
	}
	cfg, err := loadConfig(env, flags, f.configPath)
	if err != nil {
		return err
	}
	log := newLogger(env.Stderr, cfg.Logger.Format, cfg.SlogLevel())
	log.Info("starting shoal", "version", Version, "commit", commit(), "config_files", cfg.Sources)
	log.Info("configuration", "config", cfg)
	for _, w := range cfg.Warnings() {
		log.Warn(w.Message, "key", w.Key)
	}

	if !cfg.Cluster.Enabled && (f.uri != "" || f.bootstrap != "" || f.reinit) {
		log.Warn("cluster.enabled is false: --uri, --bootstrap and --reinit are ignored and the node runs standalone",
			"uri", f.uri, "bootstrap", f.bootstrap, "reinit", f.reinit)
	}
	if cfg.Cluster.Enabled && f.reinit {
		return usageError(errors.New("--reinit is not supported by this version of Shoal: a cluster that lost its quorum " +
			"recovers when its nodes return; start without --reinit"))
	}
	if cfg.Cluster.Enabled && f.bootstrap != "" && len(cfg.Cluster.Join) > 0 {
		return usageError(errors.New("--bootstrap and cluster.join (--join) both name peers to join: give one of them"))
	}
	if f.stacktrace {
		log.Debug("--stacktrace accepted; Go prints goroutine stacks on a crash")
	}
	if cfg.TelemetryDisabled {
		log.Debug("telemetry disabled (Shoal sends no telemetry either way)")
	}

	if len(f.snapshots) > 0 || f.storageSnapshot != "" || f.forceSnapshot {
		req, err := parseSnapshotFlags(f)
		if err != nil {
			return usageError(err)
		}
		if err := recoverAtStartup(ctx, cfg, req, log); err != nil {
			return err
		}
	}

	srv, err := server.New(cfg, server.Options{Logger: log, Version: Version, Commit: commit(), Bootstrap: f.bootstrap})
	if err != nil {
		return fmt.Errorf("cannot create server: %w", err)
	}
	sigCtx, stop := env.Signals(ctx)
	defer stop()
	if err := srv.Start(sigCtx); err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		return errors.Join(err, srv.Close(closeCtx))
	}
	if env.OnReady != nil {
		env.OnReady(srv.HTTPAddr(), srv.GRPCAddr())
	}

	var serveErr error
	select {
	case <-sigCtx.Done():
		log.Info("received a stop signal; shutting down gracefully (signal again to cut in-flight requests)")
	case serveErr = <-srv.Err():
	}
	stop()

	// A second signal cancels the grace period.
	closeCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	forceCtx, forceStop := env.Signals(context.Background())
	defer forceStop()
	go func() {
		select {
		case <-forceCtx.Done():
			cancel()
		case <-closeCtx.Done():
		}
	}()
	if err := srv.Close(closeCtx); err != nil {
		return errors.Join(serveErr, err)
	}
	return serveErr
}

// SnapshotRecovery is what the --snapshot, --storage-snapshot and
// --force-snapshot flags ask for at start.
type SnapshotRecovery struct {
	// Collections are the --snapshot arguments.
	Collections []CollectionSnapshot
	// StorageSnapshot is the --storage-snapshot path.
	StorageSnapshot string
	// Force replaces existing collections.
	Force bool
}

// CollectionSnapshot is one --snapshot <path>:<collection>.
type CollectionSnapshot struct {
	Path       string
	Collection string
}

func parseSnapshotFlags(f serveFlags) (SnapshotRecovery, error) {
	req := SnapshotRecovery{StorageSnapshot: f.storageSnapshot, Force: f.forceSnapshot}
	for _, s := range f.snapshots {
		i := strings.LastIndex(s, ":")
		if i <= 0 || i == len(s)-1 {
			return req, fmt.Errorf("invalid --snapshot %q: expected <snapshot path>:<collection name>", s)
		}
		req.Collections = append(req.Collections, CollectionSnapshot{Path: s[:i], Collection: s[i+1:]})
	}
	if f.forceSnapshot && len(req.Collections) == 0 && req.StorageSnapshot == "" {
		return req, errors.New("--force-snapshot needs --snapshot or --storage-snapshot")
	}
	return req, nil
}
