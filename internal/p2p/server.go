package p2p

import (
	"context"
	"crypto/tls"
	"errors"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// serverMetrics are the p2p server's Prometheus metrics.
type serverMetrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures prometheus.Counter
}

func newServerMetrics(reg prometheus.Registerer) (*serverMetrics, error) {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_p2p_requests_total",
			Help: "Peer-to-peer RPCs served, by full method and gRPC status code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shoal_p2p_request_duration_seconds",
			Help:    "Duration of peer-to-peer RPCs served (whole stream for streaming methods).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"method"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_p2p_auth_failures_total",
			Help: "Peer-to-peer RPCs refused because they failed authentication.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.requests, err = register(reg, m.requests)
	if err != nil {
		return nil, err
	}
	m.duration, err = register(reg, m.duration)
	if err != nil {
		return nil, err
	}
	m.authFailures, err = register(reg, m.authFailures)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg, or returns the collector of the same
// description that is already registered there (a second server on one
// registry shares the metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, err
	}
	return c, nil
}

// serverState is what a server's interceptors share.
type serverState struct {
	opts    Options
	metrics *serverMetrics
}

// refused counts and logs a request that failed authentication.
func (s *serverState) refused(ctx context.Context, method, reason string) {
	s.metrics.authFailures.Inc()
	addr := "unknown"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	s.opts.logger().Warn("p2p request refused", "method", method, "remote", addr, "reason", reason)
}

func (s *serverState) observe(method string, start time.Time, err error) {
	s.metrics.requests.WithLabelValues(method, status.Code(err).String()).Inc()
	s.metrics.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

// unaryMetrics times and counts unary calls, refused ones included.
func (s *serverState) unaryMetrics(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	s.observe(info.FullMethod, start, err)
	return resp, err
}

// streamMetrics times and counts streaming calls, refused ones included.
func (s *serverState) streamMetrics(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.observe(info.FullMethod, start, err)
	return err
}

// NewServer returns a gRPC server for the p2p port: the p2p codec, keepalive
// policy, TLS with required client certificates (ServerTLS), and unary and
// stream interceptors that count and time every call and authenticate it
// before any handler runs. extra options are applied after these. Register
// services built with Service, then Serve a listener.
func NewServer(opts Options, extra ...grpc.ServerOption) (*grpc.Server, error) {
	if err := opts.validate(true); err != nil {
		return nil, err
	}
	m, err := newServerMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &serverState{opts: opts, metrics: m}
	sopts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		// Calls run on a fixed set of worker goroutines instead of a new
		// goroutine each, whose stack every search grew again (copying
		// it, ~17 µs a call in BenchmarkSearchThroughPeer's profile).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		grpc.ChainUnaryInterceptor(s.unaryMetrics, s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamMetrics, s.streamAuth),
	}
	if opts.ServerTLS != nil {
		cfg, err := serverTLS(opts.ServerTLS)
		if err != nil {
			return nil, err
		}
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	return grpc.NewServer(append(sopts, extra...)...), nil
}

// errNoClientCAs refuses a server TLS configuration that would verify client
// certificates against the system roots, which any public CA satisfies.
var errNoClientCAs = errors.New("cannot use p2p server TLS without ClientCAs: client certificates must be verified against the cluster's CA")

// serverTLS returns a copy of cfg that requires and verifies client
// certificates, including in the configurations its GetConfigForClient
// returns (as a certificate reloader does).
func serverTLS(cfg *tls.Config) (*tls.Config, error) {
	out := cfg.Clone()
	out.ClientAuth = tls.RequireAndVerifyClientCert
	if get := cfg.GetConfigForClient; get != nil {
		out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if err != nil || c == nil {
				return c, err
			}
			if c.ClientCAs == nil {
				return nil, errNoClientCAs
			}
			c = c.Clone()
			c.ClientAuth = tls.RequireAndVerifyClientCert
			return c, nil
		}
	} else if cfg.ClientCAs == nil {
		return nil, errNoClientCAs
	}
	return out, nil
}
