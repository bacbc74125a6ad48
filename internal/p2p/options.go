package p2p

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MinSecretLen is the shortest shared secret Options accepts, in bytes.
const MinSecretLen = 32

// MaxClockSkew is how far a request's shoal-ts may lie from the server's
// clock, either way, for its HMAC to be accepted.
const MaxClockSkew = 60 * time.Second

// MaxMessageSize is the largest message, in encoded bytes, a p2p server or
// client accepts (gRPC's default is 4 MiB). Streams carry bulk data in
// smaller chunks; this bounds single messages such as a large Raft batch.
const MaxMessageSize = 64 << 20

// Flow-control windows of every p2p connection and stream. Fixed windows
// turn off gRPC's bandwidth-delay-product estimator, whose pings rode on
// data frames and cost each small call (a remote search) extra writes and
// wake-ups; these are large enough that a stream of 1 MiB snapshot chunks
// or Raft batches is not held back on a fast link either.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// DefaultDialTimeout is the connection timeout used when
// Options.DialTimeout is zero.
const DefaultDialTimeout = 5 * time.Second

// Metadata keys of an authenticated request.
const (
	// MDPeerID carries the caller's peer id in decimal.
	MDPeerID = "shoal-peer-id"
	// MDTimestamp carries the signing time in Unix milliseconds.
	MDTimestamp = "shoal-ts"
	// MDAuth carries hex(HMAC-SHA256(secret, "<peer_id>|<ts>|<full method>")).
	MDAuth = "shoal-auth"
)

// ErrNoAuth is returned by NewServer and NewPool when Options names no way to
// authenticate peers (no Secret, no TLS) and does not say Insecure.
var ErrNoAuth = errors.New("p2p needs a shared secret, mutual TLS, or an explicit insecure setting")

// Options configures a p2p server or pool. The same value can build both.
type Options struct {
	// PeerID is this node's peer id, sent with every outgoing call.
	PeerID uint64
	// Secret is the shared cluster secret (at least MinSecretLen bytes), or
	// nil. With a secret every RPC is signed, and the server refuses
	// unsigned or wrongly signed ones.
	Secret []byte
	// ServerTLS enables TLS on the server side. The server always requires
	// and verifies client certificates (ClientAuth is forced to
	// tls.RequireAndVerifyClientCert on a copy, and on the configurations a
	// GetConfigForClient returns); ClientCAs must name the cluster's CA, as
	// the system roots would admit a certificate from any public CA.
	ServerTLS *tls.Config
	// ClientTLS holds the client certificate and the roots used to verify
	// servers when dialling, or nil for plaintext connections.
	ClientTLS *tls.Config
	// Insecure explicitly allows running without any authentication. Without
	// it, NewServer and NewPool refuse options with neither a Secret nor TLS.
	Insecure bool
	// Logger receives warnings (refused requests). Nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the server metrics shoal_p2p_requests_total{method,
	// code}, shoal_p2p_request_duration_seconds{method} and
	// shoal_p2p_auth_failures_total. Nil disables registration.
	Registerer prometheus.Registerer
	// DialTimeout bounds establishing one connection (DefaultDialTimeout if
	// zero).
	DialTimeout time.Duration
	// Route, when set, maps the address a caller names to the address the
	// pool dials (tests put a fault proxy on every link between peers).
	Route func(addr string) string
}

// validate checks the security settings. server selects which TLS side
// counts.
func (o *Options) validate(server bool) error {
	if o.Secret != nil && len(o.Secret) < MinSecretLen {
		return fmt.Errorf("cannot use a p2p secret of %d bytes: it needs at least %d", len(o.Secret), MinSecretLen)
	}
	hasTLS := o.ClientTLS != nil
	if server {
		hasTLS = o.ServerTLS != nil
	}
	if o.Secret == nil && !hasTLS && !o.Insecure {
		return ErrNoAuth
	}
	return nil
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func (o *Options) dialTimeout() time.Duration {
	if o.DialTimeout > 0 {
		return o.DialTimeout
	}
	return DefaultDialTimeout
}
