package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// ErrPoolClosed is returned by Pool.Conn after Pool.Close.
var ErrPoolClosed = errors.New("p2p connection pool is closed")

// reconnectBackoff bounds how long a connection to a peer that went away
// waits between reconnection attempts. gRPC's default grows to two minutes,
// far longer than a restarted peer should stay unreachable to its cluster.
var reconnectBackoff = backoff.Config{
	BaseDelay:  100 * time.Millisecond,
	Multiplier: 1.6,
	Jitter:     0.2,
	MaxDelay:   time.Second,
}

// Pool holds one shared client connection per peer address, each dialled
// lazily on first use and carrying this node's authentication on every call.
// It is safe for concurrent use.
type Pool struct {
	opts     Options
	dialOpts []grpc.DialOption

	mu     sync.Mutex // guards the fields below
	conns  map[string]*grpc.ClientConn
	closed bool
}

// NewPool returns an empty pool. It refuses options that name no way to
// authenticate (no Secret, no ClientTLS) unless Insecure is set.
func NewPool(opts Options) (*Pool, error) {
	if err := opts.validate(false); err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if opts.ClientTLS != nil {
		creds = credentials.NewTLS(opts.ClientTLS.Clone())
	}
	p := &Pool{opts: opts, conns: map[string]*grpc.ClientConn{}}
	p.dialOpts = []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(p.opts.clientUnary),
		grpc.WithChainStreamInterceptor(p.opts.clientStream),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnectBackoff, MinConnectTimeout: opts.dialTimeout()}),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodecV2(codec),
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
	}
	return p, nil
}

// Conn returns the pool's connection to addr ("host:port"), creating it on
// first use. The connection is established in the background and
// re-established after failures; calls on it fail fast with Unavailable
// while the peer is unreachable. Do not close the returned connection: the
// pool owns it.
func (p *Pool) Conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPoolClosed
	}
	if cc, ok := p.conns[addr]; ok {
		return cc, nil
	}
	target := addr
	if p.opts.Route != nil {
		target = p.opts.Route(addr)
	}
	cc, err := grpc.NewClient(target, p.dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create p2p connection to %s: %w", addr, err)
	}
	p.conns[addr] = cc
	return cc, nil
}

// Close closes every connection; calls in flight on them fail. Conn fails
// afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for addr, cc := range p.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close p2p connection to %s: %w", addr, err))
		}
	}
	p.conns = nil
	return errors.Join(errs...)
}

// Call invokes the unary method fullMethod ("/service/Method") on cc with
// req and returns the response. Errors are *api.Error values (see the
// package doc); ctx's deadline travels to the server.
func Call[Req, Resp any](ctx context.Context, cc *grpc.ClientConn, fullMethod string, req *Req) (*Resp, error) {
	resp := new(Resp)
	if err := cc.Invoke(ctx, fullMethod, req, resp, grpc.ForceCodecV2(codec)); err != nil {
		return nil, fromStatus(err)
	}
	return resp, nil
}

// OpenServerStream calls the server-streaming method fullMethod with req and
// returns a function that yields the server's messages, then io.EOF once the
// server has finished cleanly. Cancel ctx to abandon the stream early; the
// stream's resources are released only when recv has returned an error or
// ctx is done.
func OpenServerStream[Req, Msg any](ctx context.Context, cc *grpc.ClientConn, fullMethod string, req *Req) (recv func() (*Msg, error), err error) {
	cs, err := cc.NewStream(ctx, &grpc.StreamDesc{StreamName: fullMethod, ServerStreams: true}, fullMethod, grpc.ForceCodecV2(codec))
	if err != nil {
		return nil, fromStatus(err)
	}
	if err := cs.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return nil, fromStatus(err)
	}
	if err := cs.CloseSend(); err != nil {
		return nil, fromStatus(err)
	}
	return clientReceiver[Msg](cs), nil
}

// OpenClientStream calls the client-streaming method fullMethod: send writes
// one message (it blocks under flow control), closeAndRecv ends the upload
// and returns the server's response. If the server ends the call early, send
// returns the server's error. Cancel ctx to abandon the stream.
func OpenClientStream[Msg, Resp any](ctx context.Context, cc *grpc.ClientConn, fullMethod string) (send func(*Msg) error, closeAndRecv func() (*Resp, error), err error) {
	cs, err := cc.NewStream(ctx, &grpc.StreamDesc{StreamName: fullMethod, ClientStreams: true}, fullMethod, grpc.ForceCodecV2(codec))
	if err != nil {
		return nil, nil, fromStatus(err)
	}
	send = func(m *Msg) error {
		err := cs.SendMsg(m)
		if errors.Is(err, io.EOF) {
			// The server has ended the call; its status says why.
			if rerr := cs.RecvMsg(new(Resp)); rerr != nil {
				return fromStatus(rerr)
			}
			return fromStatus(fmt.Errorf("cannot send on %s: the server ended the call", fullMethod))
		}
		return fromStatus(err)
	}
	closeAndRecv = func() (*Resp, error) {
		if err := cs.CloseSend(); err != nil {
			return nil, fromStatus(err)
		}
		resp := new(Resp)
		if err := cs.RecvMsg(resp); err != nil {
			return nil, fromStatus(err)
		}
		return resp, nil
	}
	return send, closeAndRecv, nil
}

// OpenBidiStream calls the bidirectional-streaming method fullMethod. send
// writes a request, recv reads the next response (io.EOF once the server has
// finished cleanly), closeSend tells the server no more requests follow. One
// goroutine may send while another receives. Cancel ctx to abandon the
// stream; its resources are released once recv has returned an error or ctx
// is done.
func OpenBidiStream[Req, Resp any](ctx context.Context, cc *grpc.ClientConn, fullMethod string) (send func(*Req) error, recv func() (*Resp, error), closeSend func() error, err error) {
	cs, err := cc.NewStream(ctx, &grpc.StreamDesc{StreamName: fullMethod, ClientStreams: true, ServerStreams: true}, fullMethod, grpc.ForceCodecV2(codec))
	if err != nil {
		return nil, nil, nil, fromStatus(err)
	}
	send = func(m *Req) error {
		err := cs.SendMsg(m)
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("cannot send on %s: the server ended the call", fullMethod)
		}
		return fromStatus(err)
	}
	closeSend = func() error { return fromStatus(cs.CloseSend()) }
	return send, clientReceiver[Resp](cs), closeSend, nil
}

// clientReceiver returns a function that reads the next message of type M
// from a client stream: io.EOF at a clean end, an *api.Error otherwise.
func clientReceiver[M any](cs grpc.ClientStream) func() (*M, error) {
	return func() (*M, error) {
		m := new(M)
		if err := cs.RecvMsg(m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fromStatus(err)
		}
		return m, nil
	}
}
