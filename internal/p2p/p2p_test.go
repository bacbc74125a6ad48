package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shoal-db/shoal/internal/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var (
	secretA = bytes.Repeat([]byte("a"), 32)
	secretB = bytes.Repeat([]byte("b"), 32)
)

// echoReq is the test service's request.
type echoReq struct {
	Text    string
	Data    []byte
	Fail    *api.Error `json:",omitempty"`
	Plain   string     // a non-api error to return
	Wait    bool       // block until the context ends
	Count   int
	Created time.Time
}

// echoResp is the test service's response.
type echoResp struct {
	Text     string
	Data     []byte
	Caller   uint64
	CallerOK bool
	Deadline bool
	Seq      int
	Created  time.Time
}

// testService is a service that exercises every method shape and counts how
// often a handler ran.
type testService struct {
	calls atomic.Int64
}

func (ts *testService) desc() *grpc.ServiceDesc {
	echo := func(ctx context.Context, req *echoReq) (*echoResp, error) {
		ts.calls.Add(1)
		if req.Fail != nil {
			return nil, req.Fail
		}
		if req.Plain != "" {
			return nil, fmt.Errorf("cannot echo: %s", req.Plain)
		}
		_, hasDeadline := ctx.Deadline()
		if req.Wait {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		id, ok := CallerPeerID(ctx)
		return &echoResp{Text: req.Text, Data: req.Data, Caller: id, CallerOK: ok, Deadline: hasDeadline, Created: req.Created}, nil
	}
	count := func(req *echoReq, send func(*echoResp) error, ctx context.Context) error {
		ts.calls.Add(1)
		id, _ := CallerPeerID(ctx)
		for i := 0; i < req.Count; i++ {
			if err := send(&echoResp{Text: req.Text, Seq: i, Caller: id}); err != nil {
				return err
			}
		}
		if req.Fail != nil {
			return req.Fail
		}
		return nil
	}
	sum := func(ctx context.Context, recv func() (*echoReq, error)) (*echoResp, error) {
		ts.calls.Add(1)
		var sb strings.Builder
		n := 0
		for {
			m, err := recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			if m.Fail != nil {
				return nil, m.Fail
			}
			sb.WriteString(m.Text)
			n++
		}
		id, _ := CallerPeerID(ctx)
		return &echoResp{Text: sb.String(), Seq: n, Caller: id}, nil
	}
	chat := func(ctx context.Context, recv func() (*echoReq, error), send func(*echoResp) error) error {
		ts.calls.Add(1)
		for i := 0; ; i++ {
			m, err := recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := send(&echoResp{Text: strings.ToUpper(m.Text), Seq: i}); err != nil {
				return err
			}
		}
	}
	bulk := func(ctx context.Context, req *bulkMsg) (*bulkMsg, error) {
		ts.calls.Add(1)
		out := append([]byte(nil), req.b...)
		slices.Reverse(out)
		return &bulkMsg{b: out, hint: req.hint}, nil
	}
	raw := func(ctx context.Context, req *rawMsg) (*rawMsg, error) {
		ts.calls.Add(1)
		out := append([]byte(nil), req.b...)
		slices.Reverse(out)
		return &rawMsg{b: out}, nil
	}
	return Service("shoal.test.Echo",
		[]grpc.MethodDesc{Unary("Echo", echo), Unary("Raw", raw), Unary("Bulk", bulk)},
		[]grpc.StreamDesc{
			ServerStream("Count", count),
			ClientStream("Sum", sum),
			BidiStream("Chat", chat),
		})
}

// rawMsg encodes itself: its only field is unexported, so JSON would lose
// it.
type rawMsg struct{ b []byte }

func (m *rawMsg) MarshalWire() ([]byte, error) { return m.b, nil }

func (m *rawMsg) UnmarshalWire(data []byte) error {
	if len(data) > 0 && data[0] == 0 {
		return errors.New("leading zero")
	}
	m.b = data
	return nil
}

// bulkMsg appends itself to pooled buffers and decodes from borrowed
// bytes (WireAppender, WireBorrower). hint is its size estimate: a
// negative one means exact.
type bulkMsg struct {
	b    []byte
	hint int
}

func (m *bulkMsg) WireSize() int {
	if m.hint < 0 {
		return len(m.b) + 9
	}
	return m.hint
}

func (m *bulkMsg) AppendWire(b []byte) ([]byte, error) {
	b = binary.AppendVarint(b, int64(m.hint))
	return append(b, m.b...), nil
}

func (m *bulkMsg) UnmarshalWireBorrowed(data []byte) error {
	h, n := binary.Varint(data)
	if n <= 0 {
		return errors.New("no hint")
	}
	m.hint, m.b = int(h), bytes.Clone(data[n:])
	return nil
}

// TestBulkMessagesUsePooledBuffers checks that appended messages round-trip
// whatever their size estimate (a short one moves the message out of the
// pool's buffer), that an exact estimate encodes into a buffer of the
// pool, and that a message received in many frames decodes whole.
func TestBulkMessagesUsePooledBuffers(t *testing.T) {
	data := make([]byte, 3<<20+17) // many HTTP/2 frames
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, hint := range []int{-1, 0, 100} {
		bs, err := codec.Marshal(&bulkMsg{b: data, hint: hint})
		if err != nil {
			t.Fatal(err)
		}
		if _, copied := bs[0].(mem.SliceBuffer); copied && hint < 0 {
			t.Errorf("exactly estimated: encoded into a buffer of its own, not the pool's")
		}
		var back bulkMsg
		if err := codec.Unmarshal(bs, &back); err != nil || back.hint != hint || !bytes.Equal(back.b, data) {
			t.Fatalf("hint %d: codec round trip: %v", hint, err)
		}
		bs.Free()
	}
	addr, _ := startServer(t, Options{Secret: secretA})
	cc := conn(t, newPool(t, Options{PeerID: 1, Secret: secretA}), addr)
	want := slices.Clone(data)
	slices.Reverse(want)
	for _, hint := range []int{-1, 5} {
		resp, err := Call[bulkMsg, bulkMsg](ctxT(t), cc, "/shoal.test.Echo/Bulk", &bulkMsg{b: data, hint: hint})
		if err != nil || resp.hint != hint || !bytes.Equal(resp.b, want) {
			t.Fatalf("hint %d: bulk round trip: %v", hint, err)
		}
	}
}

func TestWireMessagesSkipJSON(t *testing.T) {
	addr, ts := startServer(t, Options{Secret: secretA})
	cc := conn(t, newPool(t, Options{PeerID: 1, Secret: secretA}), addr)
	resp, err := Call[rawMsg, rawMsg](ctxT(t), cc, "/shoal.test.Echo/Raw", &rawMsg{b: []byte{1, 0xff, '{', 3}})
	if err != nil || !bytes.Equal(resp.b, []byte{3, '{', 0xff, 1}) {
		t.Fatalf("raw round trip: %v %v", resp, err)
	}
	// A message the receiver cannot decode never reaches the handler, and
	// the caller learns why.
	_, err = Call[rawMsg, rawMsg](ctxT(t), cc, "/shoal.test.Echo/Raw", &rawMsg{b: []byte{0, 1}})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "leading zero") {
		t.Fatalf("undecodable message: %v", err)
	}
	if n := ts.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

// startServer serves the test service with opts on 127.0.0.1 and returns its
// address.
func startServer(t *testing.T, opts Options) (string, *testService) {
	t.Helper()
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testService{}
	srv.RegisterService(ts.desc(), struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), ts
}

func newPool(t *testing.T, opts Options) *Pool {
	t.Helper()
	p, err := NewPool(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func conn(t *testing.T, p *Pool, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := p.Conn(addr)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestUnaryCallCarriesPeerIDAndData(t *testing.T) {
	addr, ts := startServer(t, Options{Secret: secretA})
	cc := conn(t, newPool(t, Options{PeerID: 42, Secret: secretA}), addr)
	created := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	resp, err := Call[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Echo", &echoReq{Text: "hi", Data: []byte{0, 1, 255}, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "hi" || !bytes.Equal(resp.Data, []byte{0, 1, 255}) || resp.Caller != 42 || !resp.CallerOK || !resp.Deadline || !resp.Created.Equal(created) {
		t.Fatalf("unexpected response %+v", resp)
	}
	if ts.calls.Load() != 1 {
		t.Fatalf("handler ran %d times", ts.calls.Load())
	}
	if _, ok := CallerPeerID(context.Background()); ok {
		t.Fatal("CallerPeerID reports a caller outside a handler")
	}
}

func TestErrorsKeepKindAndMessage(t *testing.T) {
	addr, _ := startServer(t, Options{Secret: secretA})
	cc := conn(t, newPool(t, Options{PeerID: 1, Secret: secretA}), addr)
	for k := api.KindInternal; k <= api.KindInsufficientStorage; k++ {
		want := &api.Error{Kind: k, Message: fmt.Sprintf("kind %d failed", k)}
		_, err := Call[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Echo", &echoReq{Fail: want})
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Kind != k || ae.Message != want.Message {
			t.Fatalf("kind %d: got %#v", k, err)
		}
		if status.Code(err) != kindCodes[k] {
			t.Fatalf("kind %d: code %v, want %v", k, status.Code(err), kindCodes[k])
		}
	}
	// A plain error becomes an internal error with Qdrant's prefix.
	_, err := Call[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Echo", &echoReq{Plain: "boom"})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Kind != api.KindInternal || ae.Message != "Service internal error: cannot echo: boom" {
		t.Fatalf("plain error: got %#v", err)
	}
	// The caller's deadline reaches the handler.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Call[echoReq, echoResp](ctx, cc, "/shoal.test.Echo/Echo", &echoReq{Wait: true})
	if !errors.As(err, &ae) || ae.Kind != api.KindTimeout || status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("deadline: got %#v", err)
	}
	// An unknown method is refused by gRPC itself.
	_, err = Call[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Nope", &echoReq{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("unknown method: got %v", err)
	}
}

func TestStreams(t *testing.T) {
	addr, _ := startServer(t, Options{Secret: secretA})
	cc := conn(t, newPool(t, Options{PeerID: 7, Secret: secretA}), addr)

	recv, err := OpenServerStream[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Count", &echoReq{Text: "x", Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		m, err := recv()
		if err != nil || m.Seq != i || m.Caller != 7 {
			t.Fatalf("message %d: %+v %v", i, m, err)
		}
	}
	if _, err := recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("want io.EOF, got %v", err)
	}
	// A server stream that fails after sending keeps the error's kind.
	recv, err = OpenServerStream[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Count", &echoReq{Count: 2, Fail: api.ErrNotFound("gone")})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	var last error
	for {
		m, err := recv()
		if err != nil {
			last = err
			break
		}
		got = append(got, m.Seq)
	}
	var ae *api.Error
	if len(got) != 2 || !errors.As(last, &ae) || ae.Kind != api.KindNotFound || ae.Message != "Not found: gone" {
		t.Fatalf("got %v then %#v", got, last)
	}

	send, closeAndRecv, err := OpenClientStream[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Sum")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "c"} {
		if err := send(&echoReq{Text: s}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := closeAndRecv()
	if err != nil || resp.Text != "abc" || resp.Seq != 3 || resp.Caller != 7 {
		t.Fatalf("sum: %+v %v", resp, err)
	}
	// A client stream the server refuses midway returns the server's error.
	send, closeAndRecv, err = OpenClientStream[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Sum")
	if err != nil {
		t.Fatal(err)
	}
	if err := send(&echoReq{Fail: api.ErrBadInput("no")}); err != nil {
		t.Fatal(err)
	}
	_, err = closeAndRecv()
	if !errors.As(err, &ae) || ae.Kind != api.KindBadInput || ae.Message != "Wrong input: no" {
		t.Fatalf("sum failure: %#v", err)
	}

	bsend, brecv, closeSend, err := OpenBidiStream[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Chat")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"x", "y", "z"} {
		if err := bsend(&echoReq{Text: s}); err != nil {
			t.Fatal(err)
		}
		m, err := brecv()
		if err != nil || m.Text != strings.ToUpper(s) || m.Seq != i {
			t.Fatalf("chat %d: %+v %v", i, m, err)
		}
	}
	if err := closeSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := brecv(); !errors.Is(err, io.EOF) {
		t.Fatalf("want io.EOF, got %v", err)
	}
}

// rawConn dials addr without the pool's signing interceptors.
func rawConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// signed returns a context whose metadata signs method at ts with secret.
func signed(t *testing.T, secret []byte, id uint64, ts time.Time, method string) context.Context {
	ms := ts.UnixMilli()
	return metadata.AppendToOutgoingContext(ctxT(t),
		MDPeerID, fmt.Sprint(id), MDTimestamp, fmt.Sprint(ms), MDAuth, sign(secret, id, ms, method))
}

func TestSecretAuthentication(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	addr, ts := startServer(t, Options{Secret: secretA, Registerer: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const echo = "/shoal.test.Echo/Echo"
	unauthenticated := func(name string, err error) {
		t.Helper()
		var ae *api.Error
		if status.Code(err) != codes.Unauthenticated || !errors.As(err, &ae) || ae.Kind != api.KindUnauthorized {
			t.Fatalf("%s: want Unauthenticated, got %v", name, err)
		}
	}

	// Wrong secret, on every method shape.
	bad := conn(t, newPool(t, Options{PeerID: 3, Secret: secretB}), addr)
	_, err := Call[echoReq, echoResp](ctxT(t), bad, echo, &echoReq{})
	unauthenticated("wrong secret", err)
	recv, err := OpenServerStream[echoReq, echoResp](ctxT(t), bad, "/shoal.test.Echo/Count", &echoReq{Count: 1})
	if err == nil {
		_, err = recv()
	}
	unauthenticated("wrong secret, server stream", err)
	send, closeAndRecv, err := OpenClientStream[echoReq, echoResp](ctxT(t), bad, "/shoal.test.Echo/Sum")
	if err == nil {
		_ = send(&echoReq{Text: "a"})
		_, err = closeAndRecv()
	}
	unauthenticated("wrong secret, client stream", err)
	bsend, brecv, _, err := OpenBidiStream[echoReq, echoResp](ctxT(t), bad, "/shoal.test.Echo/Chat")
	if err == nil {
		_ = bsend(&echoReq{Text: "a"})
		_, err = brecv()
	}
	unauthenticated("wrong secret, bidi stream", err)

	// No secret at all.
	none := conn(t, newPool(t, Options{PeerID: 3, Insecure: true}), addr)
	_, err = Call[echoReq, echoResp](ctxT(t), none, echo, &echoReq{})
	unauthenticated("no secret", err)

	raw := rawConn(t, addr)
	// No metadata at all.
	_, err = Call[echoReq, echoResp](ctxT(t), raw, echo, &echoReq{})
	unauthenticated("no metadata", err)
	// Right secret, stale and future timestamps.
	_, err = Call[echoReq, echoResp](signed(t, secretA, 3, time.Now().Add(-61*time.Second), echo), raw, echo, &echoReq{})
	unauthenticated("stale timestamp", err)
	_, err = Call[echoReq, echoResp](signed(t, secretA, 3, time.Now().Add(61*time.Second), echo), raw, echo, &echoReq{})
	unauthenticated("future timestamp", err)
	// A signature for another method, and one for another peer id.
	_, err = Call[echoReq, echoResp](signed(t, secretA, 3, time.Now(), "/shoal.test.Echo/Other"), raw, echo, &echoReq{})
	unauthenticated("other method", err)
	ms := time.Now().UnixMilli()
	ctx := metadata.AppendToOutgoingContext(ctxT(t), MDPeerID, "4", MDTimestamp, fmt.Sprint(ms), MDAuth, sign(secretA, 3, ms, echo))
	_, err = Call[echoReq, echoResp](ctx, raw, echo, &echoReq{})
	unauthenticated("other peer id", err)

	if n := ts.calls.Load(); n != 0 {
		t.Fatalf("%d refused requests reached a handler", n)
	}
	if n := testutil.ToFloat64(mustGet(t, reg, "shoal_p2p_auth_failures_total")); n != 10 {
		t.Fatalf("auth failures counted: %v, want 10", n)
	}
	for _, reason := range []string{"bad signature", "timestamp outside the allowed clock skew", "missing signature", "missing shoal-peer-id"} {
		if !strings.Contains(logs.String(), reason) {
			t.Fatalf("no refusal logged for %q in:\n%s", reason, logs.String())
		}
	}

	// A correctly signed raw call within the skew passes.
	resp, err := Call[echoReq, echoResp](signed(t, secretA, 9, time.Now().Add(-50*time.Second), echo), raw, echo, &echoReq{Text: "ok"})
	if err != nil || resp.Text != "ok" || resp.Caller != 9 {
		t.Fatalf("good raw call: %+v %v", resp, err)
	}
	// And so does the pool with the right secret.
	good := conn(t, newPool(t, Options{PeerID: 5, Secret: secretA}), addr)
	resp, err = Call[echoReq, echoResp](ctxT(t), good, echo, &echoReq{Text: "ok"})
	if err != nil || resp.Caller != 5 {
		t.Fatalf("good call: %+v %v", resp, err)
	}
	if n := ts.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
	want := `
# HELP shoal_p2p_requests_total Peer-to-peer RPCs served, by full method and gRPC status code.
# TYPE shoal_p2p_requests_total counter
shoal_p2p_requests_total{code="OK",method="/shoal.test.Echo/Echo"} 2
shoal_p2p_requests_total{code="Unauthenticated",method="/shoal.test.Echo/Chat"} 1
shoal_p2p_requests_total{code="Unauthenticated",method="/shoal.test.Echo/Count"} 1
shoal_p2p_requests_total{code="Unauthenticated",method="/shoal.test.Echo/Echo"} 7
shoal_p2p_requests_total{code="Unauthenticated",method="/shoal.test.Echo/Sum"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shoal_p2p_requests_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(mustGet(t, reg, "shoal_p2p_request_duration_seconds")); n != 4 {
		t.Fatalf("duration series: %d, want 4", n)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mustGet finds the registered collector named name by registering a
// duplicate and taking the existing one.
func mustGet(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	m, err := newServerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	switch name {
	case "shoal_p2p_auth_failures_total":
		return m.authFailures
	case "shoal_p2p_request_duration_seconds":
		return m.duration
	}
	return m.requests
}

func TestInsecureServerStillNeedsPeerID(t *testing.T) {
	addr, ts := startServer(t, Options{Insecure: true})
	_, err := Call[echoReq, echoResp](ctxT(t), rawConn(t, addr), "/shoal.test.Echo/Echo", &echoReq{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("want Unauthenticated, got %v", err)
	}
	cc := conn(t, newPool(t, Options{PeerID: 11, Insecure: true}), addr)
	resp, err := Call[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Echo", &echoReq{Text: "x"})
	if err != nil || resp.Caller != 11 {
		t.Fatalf("%+v %v", resp, err)
	}
	if ts.calls.Load() != 1 {
		t.Fatal("handler count")
	}
}

func TestOptionsValidation(t *testing.T) {
	if _, err := NewServer(Options{}); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("server without auth: %v", err)
	}
	if _, err := NewPool(Options{}); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("pool without auth: %v", err)
	}
	if _, err := NewServer(Options{Secret: []byte("short")}); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := NewPool(Options{Secret: make([]byte, 31)}); err == nil {
		t.Fatal("31-byte secret accepted")
	}
	// Server TLS does not make a pool secure, and vice versa.
	if _, err := NewPool(Options{ServerTLS: selfSignedServer(t)}); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("pool with server TLS only: %v", err)
	}
	// Two servers may share a registry.
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		if _, err := NewServer(Options{Insecure: true, Registerer: reg}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPoolSharesConnections(t *testing.T) {
	p, err := NewPool(Options{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p.Conn("127.0.0.1:1")
	b, _ := p.Conn("127.0.0.1:1")
	c, _ := p.Conn("127.0.0.1:2")
	if a != b || a == c {
		t.Fatal("pool does not share one connection per address")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Conn("127.0.0.1:1"); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("after close: %v", err)
	}
	// A call to a closed port fails as unavailable.
	q := newPool(t, Options{Insecure: true, DialTimeout: time.Second})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	_, err = Call[echoReq, echoResp](ctxT(t), conn(t, q, addr), "/shoal.test.Echo/Echo", &echoReq{})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Kind != api.KindUnavailable {
		t.Fatalf("closed port: %#v", err)
	}
}
