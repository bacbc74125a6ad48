package raftgrpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/p2p"
	"google.golang.org/grpc"
)

// Register registers the "shoal.raft.Raft" service on s, a server built
// with p2p.NewServer (which authenticates every call before it reaches the
// transport). Register before s serves; a server holds one Raft transport.
func (t *Transport) Register(s *grpc.Server) {
	s.RegisterService(p2p.Service(ServiceName,
		[]grpc.MethodDesc{
			p2p.Unary("AppendEntries", t.serveAppendEntries),
			p2p.Unary("RequestVote", serveRPC[raft.RequestVoteRequest, raft.RequestVoteResponse](t)),
			p2p.Unary("RequestPreVote", serveRPC[raft.RequestPreVoteRequest, raft.RequestPreVoteResponse](t)),
			p2p.Unary("TimeoutNow", serveRPC[raft.TimeoutNowRequest, raft.TimeoutNowResponse](t)),
		},
		[]grpc.StreamDesc{
			p2p.ClientStream("InstallSnapshot", t.serveInstallSnapshot),
			p2p.BidiStream("AppendEntriesPipeline", t.servePipeline),
		}), struct{}{})
}

// dispatch hands cmd to raft (the heartbeat handler when heartbeat is set
// and one is installed, the consumer channel otherwise) and waits for its
// answer, the caller going away, or Close.
func (t *Transport) dispatch(ctx context.Context, cmd any, reader io.Reader, heartbeat bool) (any, error) {
	respCh := make(chan raft.RPCResponse, 1)
	rpc := raft.RPC{Command: cmd, Reader: reader, RespChan: respCh}
	handled := false
	if heartbeat {
		t.hbMu.Lock()
		fn := t.heartbeatFn
		t.hbMu.Unlock()
		if fn != nil {
			fn(rpc)
			handled = true
		}
	}
	if !handled {
		select {
		case t.consumeCh <- rpc:
		case <-t.ctx.Done():
			return nil, errShutdown()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case r := <-respCh:
		if r.Error != nil {
			return nil, r.Error
		}
		return r.Response, nil
	case <-t.ctx.Done():
		return nil, errShutdown()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serveRPC returns a handler that hands a request of type Req to raft and
// expects a response of type Resp.
func serveRPC[Req, Resp any](t *Transport) func(ctx context.Context, req *Req) (*Resp, error) {
	return func(ctx context.Context, req *Req) (*Resp, error) {
		resp, err := t.dispatch(ctx, req, nil, false)
		if err != nil {
			return nil, err
		}
		return typed[Resp](resp)
	}
}

// typed asserts raft's response type.
func typed[Resp any](resp any) (*Resp, error) {
	out, ok := resp.(*Resp)
	if !ok {
		return nil, api.ErrInternal(nil, "raft answered with %T instead of %T", resp, out)
	}
	return out, nil
}

// isHeartbeat reports whether req is a heartbeat, by the rule raft's
// NetworkTransport uses: a term and a leader, and nothing else.
func isHeartbeat(req *raft.AppendEntriesRequest) bool {
	leader := req.RPCHeader.Addr
	if len(leader) == 0 {
		leader = req.Leader
	}
	return req.Term != 0 && leader != nil &&
		req.PrevLogEntry == 0 && req.PrevLogTerm == 0 &&
		len(req.Entries) == 0 && req.LeaderCommitIndex == 0
}

func (t *Transport) serveAppendEntries(ctx context.Context, w *wireAppendEntries) (*raft.AppendEntriesResponse, error) {
	req := (*raft.AppendEntriesRequest)(w)
	resp, err := t.dispatch(ctx, req, nil, isHeartbeat(req))
	if err != nil {
		return nil, err
	}
	return typed[raft.AppendEntriesResponse](resp)
}

// chunkReader reads the announced size of snapshot bytes from an
// InstallSnapshot stream.
type chunkReader struct {
	recv func() (*snapshotChunk, error)
	buf  []byte
	left int64 // bytes announced and not yet read
}

// Read returns bytes of the current chunk, receiving the next one when it
// is used up; io.EOF once the announced size has been read, and
// io.ErrUnexpectedEOF when the sender closed the stream before that.
func (r *chunkReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	for len(r.buf) == 0 {
		c, err := r.recv()
		if err == io.EOF {
			return 0, io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, err
		}
		if c.Header != nil {
			return 0, api.ErrBadRequest("snapshot stream carries a second header")
		}
		r.buf = c.Data
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.left -= int64(n)
	return n, nil
}

func (t *Transport) serveInstallSnapshot(ctx context.Context, recv func() (*snapshotChunk, error)) (*raft.InstallSnapshotResponse, error) {
	first, err := recv()
	if err != nil {
		return nil, fmt.Errorf("cannot receive snapshot header: %w", err)
	}
	if first.Header == nil {
		return nil, api.ErrBadRequest("snapshot stream does not start with its header")
	}
	if first.Header.Size < 0 {
		return nil, api.ErrBadRequest("snapshot size %d is negative", first.Header.Size)
	}
	reader := &chunkReader{recv: recv, buf: first.Data, left: first.Header.Size}
	resp, err := t.dispatch(ctx, first.Header, reader, false)
	if err != nil {
		t.log.Warn("raft snapshot not installed", "leader", string(first.Header.RPCHeader.Addr),
			"index", first.Header.LastLogIndex, "size", first.Header.Size, "error", err)
		return nil, err
	}
	return typed[raft.InstallSnapshotResponse](resp)
}

// pipelineResponse answers one pipelined AppendEntries request: Resp, or
// the error raft returned for it.
type pipelineResponse struct {
	Resp  *raft.AppendEntriesResponse `json:",omitempty"`
	Error string                      `json:",omitempty"`
}

// servePipeline answers pipelined AppendEntries requests in order. A raft
// error answers that request and keeps the stream; a shutdown or a
// cancelled stream ends it.
func (t *Transport) servePipeline(ctx context.Context, recv func() (*wireAppendEntries, error), send func(*pipelineResponse) error) error {
	for {
		w, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		out := &pipelineResponse{}
		resp, err := t.dispatch(ctx, (*raft.AppendEntriesRequest)(w), nil, false)
		switch {
		case t.isShutdown():
			return errShutdown()
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			out.Error = err.Error()
		default:
			if out.Resp, err = typed[raft.AppendEntriesResponse](resp); err != nil {
				return err
			}
		}
		if err := send(out); err != nil {
			return err
		}
	}
}
