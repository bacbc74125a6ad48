package raftgrpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shoal-db/shoal/internal/p2p"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var testSecret = bytes.Repeat([]byte("s"), 32)

// endpoint is one transport with its p2p server and pool.
type endpoint struct {
	t    *Transport
	srv  *grpc.Server
	pool *p2p.Pool
	addr raft.ServerAddress
	reg  *prometheus.Registry // the server's p2p metrics
}

// newEndpoint serves a transport on 127.0.0.1 with the shared test secret.
func newEndpoint(t *testing.T, id uint64, opts Options) *endpoint {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveEndpoint(t, lis, id, testSecret, opts)
}

func serveEndpoint(t testing.TB, lis net.Listener, id uint64, secret []byte, opts Options) *endpoint {
	t.Helper()
	reg := prometheus.NewRegistry()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	popts := p2p.Options{PeerID: id, Secret: secret, Registerer: reg, Logger: quiet}
	srv, err := p2p.NewServer(popts)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := p2p.NewPool(popts)
	if err != nil {
		t.Fatal(err)
	}
	addr := raft.ServerAddress(lis.Addr().String())
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	tr := New(pool, addr, opts)
	tr.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	e := &endpoint{t: tr, srv: srv, pool: pool, addr: addr, reg: reg}
	t.Cleanup(e.stop)
	return e
}

func (e *endpoint) stop() {
	_ = e.t.Close()
	e.srv.Stop()
	_ = e.pool.Close()
}

// served returns how many calls of method ("AppendEntries", ...) e's
// server has finished, whatever their status.
func (e *endpoint) served(t testing.TB, method string) int {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range families {
		if f.GetName() != "shoal_p2p_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && l.GetValue() == "/"+ServiceName+"/"+method {
					total += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return total
}

// serve answers every RPC arriving at e with answer until the test ends.
func serve(t *testing.T, e *endpoint, answer func(rpc raft.RPC)) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for {
			select {
			case rpc := <-e.t.Consumer():
				answer(rpc)
			case <-ctx.Done():
				return
			}
		}
	}()
}

// sameLogs compares logs field by field, times with Equal (the monotonic
// clock reading and the *Location pointer do not travel).
func sameLogs(t *testing.T, got, want []*raft.Log) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d logs, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := *got[i], *want[i]
		if !g.AppendedAt.Equal(w.AppendedAt) {
			t.Fatalf("log %d: AppendedAt %v, want %v", i, g.AppendedAt, w.AppendedAt)
		}
		g.AppendedAt, w.AppendedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("log %d: got %#v, want %#v", i, g, w)
		}
	}
}

func TestAppendEntriesRoundTripsLogsExactly(t *testing.T) {
	a, b := newEndpoint(t, 1, Options{}), newEndpoint(t, 2, Options{})
	binary := make([]byte, 300)
	_, _ = rand.Read(binary)
	req := &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("1"), Addr: []byte(a.addr)},
		Term:              7,
		PrevLogEntry:      41,
		PrevLogTerm:       6,
		LeaderCommitIndex: 40,
		Entries: []*raft.Log{
			{Index: 42, Term: 7, Type: raft.LogCommand, Data: binary, Extensions: []byte{0, 0xff}, AppendedAt: time.Now()},
			{Index: 43, Term: 7, Type: raft.LogNoop, Data: nil, AppendedAt: time.Date(2026, 12, 6, 1, 2, 3, 999999999, time.FixedZone("+0530", 5*3600+1800))},
			{Index: 44, Term: 7, Type: raft.LogConfiguration, Data: []byte{}, Extensions: nil},
			{Index: 45, Term: 7, Type: raft.LogBarrier, Data: []byte("{\"json\":\"in bytes\"}"), AppendedAt: time.Unix(0, 1).UTC()},
		},
	}
	want := &raft.AppendEntriesResponse{RPCHeader: raft.RPCHeader{ID: []byte("2")}, Term: 7, LastLog: 45, Success: true, NoRetryBackoff: true}
	got := make(chan *raft.AppendEntriesRequest, 1)
	serve(t, b, func(rpc raft.RPC) {
		got <- rpc.Command.(*raft.AppendEntriesRequest)
		rpc.Respond(want, nil)
	})
	var resp raft.AppendEntriesResponse
	if err := a.t.AppendEntries("2", b.addr, req, &resp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&resp, want) {
		t.Fatalf("response %#v, want %#v", resp, want)
	}
	in := <-got
	sameLogs(t, in.Entries, req.Entries)
	if in.Entries[1].Data != nil || in.Entries[2].Data == nil || len(in.Entries[2].Data) != 0 {
		t.Fatal("nil and empty data are not kept apart")
	}
	inCopy, reqCopy := *in, *req
	inCopy.Entries, reqCopy.Entries = nil, nil
	if !reflect.DeepEqual(inCopy, reqCopy) {
		t.Fatalf("request %#v, want %#v", inCopy, reqCopy)
	}
}

func TestOtherRPCsReachTheConsumer(t *testing.T) {
	a, b := newEndpoint(t, 1, Options{}), newEndpoint(t, 2, Options{})
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("1"), Addr: []byte(a.addr)}
	serve(t, b, func(rpc raft.RPC) {
		switch c := rpc.Command.(type) {
		case *raft.RequestVoteRequest:
			rpc.Respond(&raft.RequestVoteResponse{Term: c.Term, Granted: c.LeadershipTransfer && c.LastLogIndex == 9}, nil)
		case *raft.RequestPreVoteRequest:
			rpc.Respond(&raft.RequestPreVoteResponse{Term: c.Term + 1, Granted: c.LastLogTerm == 3}, nil)
		case *raft.TimeoutNowRequest:
			rpc.Respond(&raft.TimeoutNowResponse{RPCHeader: raft.RPCHeader{ID: c.ID}}, nil)
		case *raft.AppendEntriesRequest:
			rpc.Respond(nil, errors.New("log store is full"))
		default:
			rpc.Respond(nil, errors.New("unexpected"))
		}
	})
	var vote raft.RequestVoteResponse
	if err := a.t.RequestVote("2", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr, Term: 5, LastLogIndex: 9, LeadershipTransfer: true}, &vote); err != nil || vote.Term != 5 || !vote.Granted {
		t.Fatalf("RequestVote: %+v %v", vote, err)
	}
	var pre raft.RequestPreVoteResponse
	if err := a.t.RequestPreVote("2", b.addr, &raft.RequestPreVoteRequest{RPCHeader: hdr, Term: 5, LastLogTerm: 3}, &pre); err != nil || pre.Term != 6 || !pre.Granted {
		t.Fatalf("RequestPreVote: %+v %v", pre, err)
	}
	var tn raft.TimeoutNowResponse
	if err := a.t.TimeoutNow("2", b.addr, &raft.TimeoutNowRequest{RPCHeader: hdr}, &tn); err != nil || string(tn.ID) != "1" {
		t.Fatalf("TimeoutNow: %+v %v", tn, err)
	}
	var ae raft.AppendEntriesResponse
	err := a.t.AppendEntries("2", b.addr, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: 5, PrevLogEntry: 3}, &ae)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("log store is full")) {
		t.Fatalf("raft's error does not reach the caller: %v", err)
	}
}

func TestHeartbeatFastPath(t *testing.T) {
	a, b := newEndpoint(t, 1, Options{}), newEndpoint(t, 2, Options{})
	beats := make(chan *raft.AppendEntriesRequest, 1)
	b.t.SetHeartbeatHandler(func(rpc raft.RPC) {
		beats <- rpc.Command.(*raft.AppendEntriesRequest)
		rpc.Respond(&raft.AppendEntriesResponse{Term: 3, Success: true}, nil)
	})
	// Nobody reads b's consumer channel: only the fast path can answer.
	hb := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("1"), Addr: []byte(a.addr)}, Term: 3}
	var resp raft.AppendEntriesResponse
	if err := a.t.AppendEntries("2", b.addr, hb, &resp); err != nil || !resp.Success {
		t.Fatalf("heartbeat: %+v %v", resp, err)
	}
	if got := <-beats; got.Term != 3 {
		t.Fatalf("heartbeat handler got %+v", got)
	}
	// A request with entries is not a heartbeat: it waits for the consumer.
	ctxA := New(a.pool, a.addr, Options{Timeout: 300 * time.Millisecond})
	defer ctxA.Close()
	full := &raft.AppendEntriesRequest{RPCHeader: hb.RPCHeader, Term: 3, Entries: []*raft.Log{{Index: 1, Term: 3}}}
	if err := ctxA.AppendEntries("2", b.addr, full, &resp); err == nil {
		t.Fatal("AppendEntries with entries took the heartbeat path")
	}
	if len(beats) != 0 {
		t.Fatal("heartbeat handler saw a non-heartbeat")
	}
}

func TestInstallSnapshotStreamsInChunks(t *testing.T) {
	a, b := newEndpoint(t, 1, Options{}), newEndpoint(t, 2, Options{})
	data := make([]byte, 3*SnapshotChunkSize+12345)
	_, _ = rand.Read(data)
	req := &raft.InstallSnapshotRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("1"), Addr: []byte(a.addr)}, SnapshotVersion: 1, Term: 4,
		LastLogIndex: 100, LastLogTerm: 4, Configuration: []byte("cfg"), ConfigurationIndex: 90, Size: int64(len(data)),
	}
	type received struct {
		req  *raft.InstallSnapshotRequest
		data []byte
		err  error
	}
	got := make(chan received, 1)
	serve(t, b, func(rpc raft.RPC) {
		body, err := io.ReadAll(rpc.Reader)
		got <- received{rpc.Command.(*raft.InstallSnapshotRequest), body, err}
		rpc.Respond(&raft.InstallSnapshotResponse{Term: 4, Success: err == nil}, nil)
	})
	var resp raft.InstallSnapshotResponse
	if err := a.t.InstallSnapshot("2", b.addr, req, &resp, bytes.NewReader(data)); err != nil || !resp.Success {
		t.Fatalf("InstallSnapshot: %+v %v", resp, err)
	}
	r := <-got
	if r.err != nil || !bytes.Equal(r.data, data) || !reflect.DeepEqual(r.req, req) {
		t.Fatalf("snapshot arrived changed: %d bytes (want %d), err %v, header %+v", len(r.data), len(data), r.err, r.req)
	}
	// A source shorter than the announced size fails on the sender.
	short := *req
	short.Size = int64(len(data)) + 1
	if err := a.t.InstallSnapshot("2", b.addr, &short, &resp, bytes.NewReader(data)); err == nil {
		t.Fatal("short snapshot source accepted")
	}
	// The sender gives up before the end of its stream, so the receiver
	// may see the header and hand raft a reader that then fails, or may
	// see only the cancelled stream and hand raft nothing. Either is
	// right; a complete snapshot is not.
	select {
	case r := <-got:
		if r.err == nil || int64(len(r.data)) == short.Size {
			t.Fatalf("receiver read a short source without an error: %d bytes, err %v", len(r.data), r.err)
		}
	case <-time.After(2 * time.Second):
	}
}

func TestPipelineAnswersInOrder(t *testing.T) {
	a, b := newEndpoint(t, 1, Options{MaxPipeline: 8}), newEndpoint(t, 2, Options{})
	serve(t, b, func(rpc raft.RPC) {
		req := rpc.Command.(*raft.AppendEntriesRequest)
		if req.PrevLogEntry == 13 {
			rpc.Respond(nil, errors.New("disk on fire"))
			return
		}
		rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}, nil)
	})
	p, err := a.t.AppendEntriesPipeline("2", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 200
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			f := <-p.Consumer()
			req := f.Request()
			if req.PrevLogEntry != uint64(i) {
				done <- errors.New("futures out of order")
				return
			}
			if i == 13 {
				if f.Error() == nil || f.Response().Success {
					done <- errors.New("raft error lost")
					return
				}
				continue
			}
			if err := f.Error(); err != nil {
				done <- err
				return
			}
			if r := f.Response(); !r.Success || r.LastLog != uint64(i)+1 || f.Start().IsZero() {
				done <- errors.New("wrong response")
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("1"), Addr: []byte(a.addr)}, Term: 2, PrevLogEntry: uint64(i), Entries: []*raft.Log{{Index: uint64(i) + 1, Term: 2, Data: []byte{byte(i)}}}}
		if _, err := p.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendEntries(&raft.AppendEntriesRequest{}, new(raft.AppendEntriesResponse)); !errors.Is(err, raft.ErrPipelineShutdown) {
		t.Fatalf("after Close: %v", err)
	}
	// Pipelining can be switched off.
	c := newEndpoint(t, 3, Options{MaxPipeline: -1})
	if _, err := c.t.AppendEntriesPipeline("2", b.addr); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("disabled pipeline: %v", err)
	}
}

func TestCloseUnblocksCalls(t *testing.T) {
	a, b := newEndpoint(t, 1, Options{Timeout: time.Minute}), newEndpoint(t, 2, Options{Timeout: time.Minute})
	hb := raft.RPCHeader{ID: []byte("1"), Addr: []byte(a.addr)}
	call := func(tr *Transport) chan error {
		ch := make(chan error, 1)
		go func() {
			var resp raft.RequestVoteResponse
			ch <- tr.RequestVote("2", b.addr, &raft.RequestVoteRequest{RPCHeader: hb, Term: 1}, &resp)
		}()
		return ch
	}
	waitErr := func(name string, ch chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			if err == nil {
				t.Fatalf("%s: call succeeded", name)
			}
			return err
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: call still blocked after Close", name)
		}
		return nil
	}

	// Nobody consumes b's RPCs: closing the caller's transport unblocks it.
	ch := call(a.t)
	time.Sleep(100 * time.Millisecond)
	_ = a.t.Close()
	if err := waitErr("caller closed", ch); !errors.Is(err, raft.ErrTransportShutdown) {
		t.Fatalf("caller closed: %v", err)
	}
	var resp raft.RequestVoteResponse
	if err := a.t.RequestVote("2", b.addr, &raft.RequestVoteRequest{}, &resp); !errors.Is(err, raft.ErrTransportShutdown) {
		t.Fatalf("call after Close: %v", err)
	}
	if _, err := a.t.AppendEntriesPipeline("2", b.addr); !errors.Is(err, raft.ErrTransportShutdown) {
		t.Fatalf("pipeline after Close: %v", err)
	}

	// Closing the callee's transport unblocks the handler, and the caller
	// learns that the peer is unavailable.
	c := newEndpoint(t, 3, Options{Timeout: time.Minute})
	ch = call(c.t)
	time.Sleep(100 * time.Millisecond)
	_ = b.t.Close()
	if err := waitErr("callee closed", ch); status.Code(err) != codes.Unavailable {
		t.Fatalf("callee closed: %v", err)
	}

	// A pipeline blocked on an unanswered request ends with Close too.
	d := newEndpoint(t, 4, Options{})
	e := newEndpoint(t, 5, Options{Timeout: time.Minute})
	p, err := e.t.AppendEntriesPipeline("4", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.AppendEntries(&raft.AppendEntriesRequest{RPCHeader: hb, Term: 1, PrevLogEntry: 1}, new(raft.AppendEntriesResponse))
	if err != nil {
		t.Fatal(err)
	}
	_ = e.t.Close()
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if !errors.Is(err, raft.ErrTransportShutdown) {
			t.Fatalf("pipelined future after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pipelined future still pending after Close")
	}
	_ = p.Close()
}

func TestWrongSecretIsRefused(t *testing.T) {
	b := newEndpoint(t, 2, Options{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	intruder := serveEndpoint(t, lis, 9, bytes.Repeat([]byte("x"), 32), Options{})
	serve(t, b, func(rpc raft.RPC) {
		t.Errorf("a refused RPC reached raft: %T", rpc.Command)
		rpc.Respond(nil, errors.New("no"))
	})
	var resp raft.RequestVoteResponse
	err = intruder.t.RequestVote("2", b.addr, &raft.RequestVoteRequest{Term: 99}, &resp)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("want Unauthenticated, got %v", err)
	}
	p, err := intruder.t.AppendEntriesPipeline("2", b.addr)
	if err == nil {
		f, serr := p.AppendEntries(&raft.AppendEntriesRequest{Term: 99}, new(raft.AppendEntriesResponse))
		if serr == nil {
			err = f.Error()
		} else {
			err = serr
		}
		_ = p.Close()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("pipeline: want Unauthenticated, got %v", err)
	}
	var sresp raft.InstallSnapshotResponse
	err = intruder.t.InstallSnapshot("2", b.addr, &raft.InstallSnapshotRequest{Size: 3}, &sresp, bytes.NewReader([]byte("abc")))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("snapshot: want Unauthenticated, got %v", err)
	}
}

func TestChunkReaderEndsAtAnnouncedSize(t *testing.T) {
	stream := func(chunks ...string) func() (*snapshotChunk, error) {
		return func() (*snapshotChunk, error) {
			if len(chunks) == 0 {
				return nil, io.EOF
			}
			c := &snapshotChunk{Data: []byte(chunks[0])}
			chunks = chunks[1:]
			return c, nil
		}
	}
	// The announced size ends the snapshot, even inside a chunk.
	got, err := io.ReadAll(&chunkReader{recv: stream("def", "ghi"), buf: []byte("abc"), left: 7})
	if err != nil || string(got) != "abcdefg" {
		t.Fatalf("read %q, %v; want abcdefg", got, err)
	}
	// A stream closed before the announced size is an error, not a
	// shorter snapshot.
	got, err = io.ReadAll(&chunkReader{recv: stream("def"), buf: []byte("abc"), left: 10})
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(got) != "abcdef" {
		t.Fatalf("read %q, %v; want abcdef and io.ErrUnexpectedEOF", got, err)
	}
}
