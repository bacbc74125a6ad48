// Package grpcapi is Shoal's gRPC adapter: it serves the public Qdrant gRPC
// API (port 6334) that the official Qdrant clients speak, by implementing
// the service interfaces generated in github.com/qdrant/go-client/qdrant.
// Every RPC decodes its protobuf request into package api's types, calls
// service.API, and encodes the answer; there is no business logic here.
// Errors map from api.Kind to gRPC codes in one table (errors.go) with the
// same message texts as the REST adapter; the checks both adapters make
// (timeouts, read consistency, context errors) are package api's.
// Interceptors authenticate ("api-key" or "authorization: Bearer" metadata)
// into an auth.Access that the service layer checks, refuse fields unknown
// to the served protos, bound each call by its timeout field, record
// Qdrant's grpc_responses_* metrics (metrics.Responses), log and recover
// from handler panics.
package grpcapi

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/metrics"
	"github.com/shoal-db/shoal/internal/service"
)

// DefaultMaxMessageBytes is the default limit on received and sent message
// sizes (Qdrant's service.max_request_size_mb default of 32).
const DefaultMaxMessageBytes = 32 << 20

// Options configure a Server.
type Options struct {
	// Service executes every operation. Required.
	Service service.API
	// Auth authenticates requests; nil (or an authenticator without keys)
	// grants full access to everyone.
	Auth *auth.Authenticator
	// Registerer receives the gRPC metrics; nil registers nothing (the
	// statistics still feed Responses).
	Registerer prometheus.Registerer
	// Logger logs failed requests and panics; nil logs nowhere.
	Logger *slog.Logger
	// MaxMessageBytes limits received and sent message sizes; zero means
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Version is Shoal's version, sent as the "shoal-version" header of
	// HealthCheck replies (the body reports api.QdrantVersion).
	Version string
	// Snapshots, when set, serves qdrant.Snapshots; otherwise every
	// Snapshots RPC answers Unimplemented.
	Snapshots qdrant.SnapshotsServer
}

// Server is the gRPC adapter. It is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics.Responses
	health  *health.Server
}

// New returns a Server. It registers the metrics with opts.Registerer (a
// second Server on the same registerer would collide; give each its own).
func New(opts Options) *Server {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Logger, health: health.NewServer(), metrics: newMetrics()}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.metrics)
	}
	return s
}

// Flow-control windows of the gRPC server: how much a client may send on
// one stream, and on one connection, before the server acknowledges it.
// gRPC's default starts at 64 KB and grows by estimating the bandwidth-delay
// product; an upsert of 256 vectors of 784 dimensions is 800 KB, so with
// the default every such request waits for a dozen window updates, each
// needing the server's reader to be scheduled, which on a machine busy
// building indexes made gRPC imports ~25 % slower (docs/benchmarks.md, "REST
// and gRPC end to end"). Fixed windows of this size bound what one
// connection can buffer to 8 MB and let a request of a few MB arrive in
// one go.
const (
	grpcStreamWindow = 4 << 20
	grpcConnWindow   = 8 << 20
)

// GRPCServerOptions returns the options a grpc.Server needs to host this
// adapter: the interceptor chains (metrics, logging, recovery, auth,
// unknown fields and the request's timeout field), the
// message size limits and the flow-control windows. Transport credentials
// (TLS) are added by the caller.
func (s *Server) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.opts.MaxMessageBytes),
		grpc.MaxSendMsgSize(s.opts.MaxMessageBytes),
		grpc.InitialWindowSize(grpcStreamWindow),
		grpc.InitialConnWindowSize(grpcConnWindow),
		// Calls run on a pool of long-lived goroutines whose stacks have
		// already grown, instead of one new goroutine per call that grows
		// its stack again on every search (runtime.newstack was ~6 % of a
		// gRPC search's CPU). When all are busy gRPC starts a goroutine.
		grpc.NumStreamWorkers(uint32(4 * runtime.GOMAXPROCS(0))),
		grpc.ChainUnaryInterceptor(s.unaryObserve, s.unaryAuth, unaryRequest),
		grpc.ChainStreamInterceptor(s.streamObserve, s.streamAuth),
	}
}

// Register registers the Qdrant services (Qdrant, Collections, Points,
// Snapshots), the standard grpc.health.v1 service and server reflection
// on gs.
func (s *Server) Register(gs *grpc.Server) {
	qdrant.RegisterQdrantServer(gs, &qdrantService{s: s})
	qdrant.RegisterCollectionsServer(gs, &collectionsService{s: s, svc: s.opts.Service})
	qdrant.RegisterPointsServer(gs, &pointsService{s: s, svc: s.opts.Service})
	if s.opts.Snapshots != nil {
		qdrant.RegisterSnapshotsServer(gs, s.opts.Snapshots)
	} else {
		qdrant.RegisterSnapshotsServer(gs, unimplementedSnapshots{})
	}
	healthpb.RegisterHealthServer(gs, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus("qdrant.Qdrant", healthpb.HealthCheckResponse_SERVING)
	reflection.Register(gs)
}

// Responses returns the gRPC response statistics (grpc_responses_*), for
// the REST adapter's /telemetry.
func (s *Server) Responses() *metrics.Responses { return s.metrics }

// Shutdown marks the grpc.health.v1 service NOT_SERVING; call it before
// stopping the grpc.Server so that health checkers drain traffic first.
func (s *Server) Shutdown() { s.health.Shutdown() }

// unimplementedSnapshots answers every Snapshots RPC with Unimplemented
// until a snapshot service is plugged in through Options.Snapshots.
type unimplementedSnapshots struct {
	qdrant.UnimplementedSnapshotsServer
}

// qdrantService implements qdrant.Qdrant.
type qdrantService struct {
	qdrant.UnimplementedQdrantServer
	s *Server
}

// HealthCheck reports Qdrant's title and the Qdrant API version served.
func (q *qdrantService) HealthCheck(ctx context.Context, _ *qdrant.HealthCheckRequest) (*qdrant.HealthCheckReply, error) {
	if q.s.opts.Version != "" {
		_ = grpc.SetHeader(ctx, metadata.Pairs("shoal-version", q.s.opts.Version))
	}
	return &qdrant.HealthCheckReply{Title: api.QdrantTitle, Version: api.QdrantVersion}, nil
}

// since returns the seconds elapsed since t, for the "time" response field.
func since(t time.Time) float64 { return time.Since(t).Seconds() }
