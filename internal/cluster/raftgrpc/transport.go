// Package raftgrpc is a hashicorp/raft Transport that carries Raft's RPCs
// over Shoal's authenticated peer-to-peer gRPC port (internal/p2p).
//
// Why it exists: raft's own NetworkTransport opens a second, unauthenticated
// TCP protocol; running Raft on the p2p server instead gives it the same
// port, the same HMAC or mTLS authentication, the same metrics and the same
// connection pool as every other cluster protocol. internal/cluster builds
// its raft.Raft on top of this package.
//
// The service "shoal.raft.Raft" has these methods, encoded by p2p's codec:
// raft's structs as JSON, except AppendEntries requests and snapshot
// chunks, which use the binary layout described in wire.go (log entries
// round-trip exactly, times included):
//
//   - AppendEntries, RequestVote, RequestPreVote, TimeoutNow: unary.
//   - InstallSnapshot: client streaming; the first message carries the
//     request header, the following ones the snapshot bytes in chunks of
//     SnapshotChunkSize.
//   - AppendEntriesPipeline: bidirectional streaming; the leader sends
//     AppendEntries requests without waiting, the follower answers each in
//     order, so replication to a follower is not bound by the round trip.
//
// Incoming RPCs are handed to raft through Consumer() as raft.RPC values
// with a response channel, exactly as NetworkTransport does; heartbeats take
// the fast path set with SetHeartbeatHandler. Close unblocks every call in
// flight, in both directions.
package raftgrpc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/p2p"
	"google.golang.org/grpc"
)

// ServiceName is the gRPC service name of the Raft transport.
const ServiceName = "shoal.raft.Raft"

// Full method names of the service.
const (
	methodAppendEntries         = "/" + ServiceName + "/AppendEntries"
	methodRequestVote           = "/" + ServiceName + "/RequestVote"
	methodRequestPreVote        = "/" + ServiceName + "/RequestPreVote"
	methodTimeoutNow            = "/" + ServiceName + "/TimeoutNow"
	methodInstallSnapshot       = "/" + ServiceName + "/InstallSnapshot"
	methodAppendEntriesPipeline = "/" + ServiceName + "/AppendEntriesPipeline"
)

// DefaultTimeout is the per-RPC timeout used when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultMaxPipeline is the number of pipelined AppendEntries requests in
// flight per follower used when Options.MaxPipeline is zero.
const DefaultMaxPipeline = 16

// SnapshotChunkSize is the number of snapshot bytes sent per stream message.
const SnapshotChunkSize = 1 << 20

// snapshotTimeoutScale is the number of snapshot bytes per Options.Timeout
// an InstallSnapshot may take (NetworkTransport's rule: a 10 s timeout
// allows 10 s per 256 KiB).
const snapshotTimeoutScale = 256 << 10

// Options configures a Transport.
type Options struct {
	// Logger receives the transport's warnings. Nil means slog.Default().
	Logger *slog.Logger
	// Timeout bounds each outgoing RPC, and each pipelined response
	// (DefaultTimeout if zero). InstallSnapshot gets Timeout per 256 KiB of
	// snapshot.
	Timeout time.Duration
	// MaxPipeline is the number of AppendEntries requests a pipeline keeps
	// in flight (DefaultMaxPipeline if zero). A negative value disables
	// pipelining: AppendEntriesPipeline then returns
	// raft.ErrPipelineReplicationNotSupported and raft replicates with one
	// request at a time.
	MaxPipeline int
}

// Transport implements raft.Transport, raft.WithClose and raft.WithPreVote
// over a p2p connection pool (outgoing) and a p2p gRPC server (incoming, see
// Register). It is safe for concurrent use.
type Transport struct {
	pool    *p2p.Pool
	local   raft.ServerAddress
	timeout time.Duration
	maxPipe int
	log     *slog.Logger

	consumeCh chan raft.RPC

	// ctx is cancelled by Close; every outgoing call and every incoming
	// dispatch ends with it.
	ctx    context.Context
	cancel context.CancelFunc

	hbMu        sync.Mutex // guards heartbeatFn
	heartbeatFn func(raft.RPC)
}

// The interfaces raft probes for.
var (
	_ raft.Transport   = (*Transport)(nil)
	_ raft.WithClose   = (*Transport)(nil)
	_ raft.WithPreVote = (*Transport)(nil)
)

// New returns a transport that dials peers through pool and announces
// localAddr (the advertised p2p "host:port") as its own address. Register it
// on the p2p server to receive RPCs. The pool stays the caller's: Close does
// not close it.
func New(pool *p2p.Pool, localAddr raft.ServerAddress, opts Options) *Transport {
	t := &Transport{
		pool:      pool,
		local:     localAddr,
		timeout:   opts.Timeout,
		maxPipe:   opts.MaxPipeline,
		log:       opts.Logger,
		consumeCh: make(chan raft.RPC),
	}
	if t.timeout <= 0 {
		t.timeout = DefaultTimeout
	}
	if t.maxPipe == 0 {
		t.maxPipe = DefaultMaxPipeline
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t
}

// Consumer returns the channel on which incoming RPCs are delivered to raft.
func (t *Transport) Consumer() <-chan raft.RPC { return t.consumeCh }

// LocalAddr returns the address this transport announces.
func (t *Transport) LocalAddr() raft.ServerAddress { return t.local }

// SetHeartbeatHandler sets the fast path for heartbeats (AppendEntries
// requests without entries or log position): they go to cb instead of the
// consumer channel, so they are not queued behind disk-bound RPCs.
func (t *Transport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	t.hbMu.Lock()
	defer t.hbMu.Unlock()
	t.heartbeatFn = cb
}

// EncodePeer serialises a peer's address (its p2p "host:port").
func (t *Transport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte {
	return []byte(addr)
}

// DecodePeer deserialises a peer's address.
func (t *Transport) DecodePeer(buf []byte) raft.ServerAddress {
	return raft.ServerAddress(buf)
}

// Close shuts the transport down permanently: calls in flight (outgoing and
// incoming) return, and later calls fail with raft.ErrTransportShutdown. It
// does not close the pool or the gRPC server. Close is idempotent.
func (t *Transport) Close() error {
	t.cancel()
	return nil
}

// isShutdown reports whether Close has been called.
func (t *Transport) isShutdown() bool { return t.ctx.Err() != nil }

// errShutdown is what an incoming RPC gets once the transport is closed.
func errShutdown() error {
	return &api.Error{Kind: api.KindUnavailable, Message: "raft transport is shut down", Err: raft.ErrTransportShutdown}
}

// conn returns the pooled connection to target.
func (t *Transport) conn(target raft.ServerAddress) (*grpc.ClientConn, error) {
	if t.isShutdown() {
		return nil, raft.ErrTransportShutdown
	}
	cc, err := t.pool.Conn(string(target))
	if err != nil {
		return nil, fmt.Errorf("cannot reach raft peer %s: %w", target, err)
	}
	return cc, nil
}

// callErr turns the failure of an outgoing call into the transport's error:
// raft.ErrTransportShutdown once closed, otherwise err with context.
func (t *Transport) callErr(name string, target raft.ServerAddress, err error) error {
	if t.isShutdown() {
		return raft.ErrTransportShutdown
	}
	return fmt.Errorf("cannot send %s to %s: %w", name, target, err)
}

// unary calls a unary method of target's transport and copies the response
// into out.
func unary[Req, Resp any](t *Transport, name, method string, target raft.ServerAddress, req *Req, out *Resp) error {
	cc, err := t.conn(target)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.timeout)
	defer cancel()
	resp, err := p2p.Call[Req, Resp](ctx, cc, method, req)
	if err != nil {
		return t.callErr(name, target, err)
	}
	*out = *resp
	return nil
}

// AppendEntries sends one AppendEntries request to target.
func (t *Transport) AppendEntries(_ raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return unary(t, "AppendEntries", methodAppendEntries, target, (*wireAppendEntries)(args), resp)
}

// RequestVote asks target for its vote.
func (t *Transport) RequestVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return unary(t, "RequestVote", methodRequestVote, target, args, resp)
}

// RequestPreVote asks target whether it would grant its vote.
func (t *Transport) RequestPreVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return unary(t, "RequestPreVote", methodRequestPreVote, target, args, resp)
}

// TimeoutNow tells target to start an election now (leadership transfer).
func (t *Transport) TimeoutNow(_ raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return unary(t, "TimeoutNow", methodTimeoutNow, target, args, resp)
}

// snapshotChunk is one message of the InstallSnapshot stream: the first
// carries Header (and no data), the others carry Data.
type snapshotChunk struct {
	Header *raft.InstallSnapshotRequest `json:",omitempty"`
	Data   []byte                       `json:",omitempty"`
}

// InstallSnapshot streams a snapshot of args.Size bytes read from data to
// target.
func (t *Transport) InstallSnapshot(_ raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	cc, err := t.conn(target)
	if err != nil {
		return err
	}
	timeout := t.timeout
	if scaled := t.timeout * time.Duration(args.Size/snapshotTimeoutScale); scaled > timeout {
		timeout = scaled
	}
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	send, closeAndRecv, err := p2p.OpenClientStream[snapshotChunk, raft.InstallSnapshotResponse](ctx, cc, methodInstallSnapshot)
	if err != nil {
		return t.callErr("InstallSnapshot", target, err)
	}
	if err := send(&snapshotChunk{Header: args}); err != nil {
		return t.callErr("InstallSnapshot", target, err)
	}
	var sent int64
	for sent < args.Size {
		// A fresh buffer per message: gRPC may hold a sent message.
		buf := make([]byte, min(SnapshotChunkSize, args.Size-sent))
		n, rerr := io.ReadFull(data, buf)
		if n > 0 {
			if err := send(&snapshotChunk{Data: buf[:n]}); err != nil {
				return t.callErr("InstallSnapshot", target, err)
			}
			sent += int64(n)
		}
		if rerr != nil {
			return fmt.Errorf("cannot read snapshot for %s after %d of %d bytes: %w", target, sent, args.Size, rerr)
		}
	}
	out, err := closeAndRecv()
	if err != nil {
		return t.callErr("InstallSnapshot", target, err)
	}
	*resp = *out
	return nil
}

// AppendEntriesPipeline opens a pipeline of AppendEntries requests to
// target over one bidirectional stream.
func (t *Transport) AppendEntriesPipeline(_ raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.maxPipe < 0 {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	cc, err := t.conn(target)
	if err != nil {
		return nil, err
	}
	return newPipeline(t, cc, target)
}
