package p2p

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// sign returns hex(HMAC-SHA256(secret, "<peerID>|<tsMillis>|<method>")).
func sign(secret []byte, peerID uint64, tsMillis int64, method string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatUint(peerID, 10) + "|" + strconv.FormatInt(tsMillis, 10) + "|" + method))
	return hex.EncodeToString(m.Sum(nil))
}

// outgoing returns ctx with this node's identity (and signature, with a
// secret) appended to the outgoing metadata of a call to method.
func (o *Options) outgoing(ctx context.Context, method string) context.Context {
	id := strconv.FormatUint(o.PeerID, 10)
	if o.Secret == nil {
		return metadata.AppendToOutgoingContext(ctx, MDPeerID, id)
	}
	ts := time.Now().UnixMilli()
	return metadata.AppendToOutgoingContext(ctx,
		MDPeerID, id,
		MDTimestamp, strconv.FormatInt(ts, 10),
		MDAuth, sign(o.Secret, o.PeerID, ts, method))
}

// peerIDKey is the context key of the authenticated caller's peer id.
type peerIDKey struct{}

// CallerPeerID returns the peer id of the caller of the RPC being served in
// ctx, as authenticated by the p2p server (with a secret it is covered by the
// HMAC; with TLS alone it is what the certified peer declared). It reports
// false outside a p2p handler.
func CallerPeerID(ctx context.Context) (uint64, bool) {
	id, ok := ctx.Value(peerIDKey{}).(uint64)
	return id, ok
}

// single returns the one value of key in md, or "" if it is absent or
// repeated.
func single(md metadata.MD, key string) string {
	v := md.Get(key)
	if len(v) != 1 {
		return ""
	}
	return v[0]
}

// authenticate checks the incoming metadata of a call to method and returns
// the caller's peer id. The returned error is the generic Unauthenticated
// status sent to the caller; reason says why, for the log.
func (s *serverState) authenticate(ctx context.Context, method string) (id uint64, reason string, err error) {
	refuse := status.Error(codes.Unauthenticated, "p2p authentication failed")
	md, _ := metadata.FromIncomingContext(ctx)
	rawID := single(md, MDPeerID)
	if rawID == "" {
		return 0, "missing " + MDPeerID, refuse
	}
	id, perr := strconv.ParseUint(rawID, 10, 64)
	if perr != nil {
		return 0, "malformed " + MDPeerID, refuse
	}
	if s.opts.Secret == nil {
		return id, "", nil
	}
	rawTS, mac := single(md, MDTimestamp), single(md, MDAuth)
	if rawTS == "" || mac == "" {
		return 0, "missing signature", refuse
	}
	ts, perr := strconv.ParseInt(rawTS, 10, 64)
	if perr != nil {
		return 0, "malformed " + MDTimestamp, refuse
	}
	skew := time.Since(time.UnixMilli(ts))
	if skew > MaxClockSkew || skew < -MaxClockSkew {
		return 0, "timestamp outside the allowed clock skew", refuse
	}
	want := sign(s.opts.Secret, id, ts, method)
	if !hmac.Equal([]byte(mac), []byte(want)) {
		return 0, "bad signature", refuse
	}
	return id, "", nil
}

// unaryAuth authenticates a unary call before its handler runs.
func (s *serverState) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	id, reason, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		s.refused(ctx, info.FullMethod, reason)
		return nil, err
	}
	return handler(context.WithValue(ctx, peerIDKey{}, id), req)
}

// streamAuth authenticates a streaming call before its handler runs.
func (s *serverState) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	id, reason, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		s.refused(ss.Context(), info.FullMethod, reason)
		return err
	}
	return handler(srv, &authedStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), peerIDKey{}, id)})
}

// authedStream is a server stream whose context carries the caller's id.
type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the stream's context with the caller's peer id.
func (a *authedStream) Context() context.Context { return a.ctx }

// clientUnary signs every unary call made on a pool connection.
func (o *Options) clientUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(o.outgoing(ctx, method), method, req, reply, cc, opts...)
}

// clientStream signs every streaming call made on a pool connection.
func (o *Options) clientStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(o.outgoing(ctx, method), desc, cc, method, opts...)
}
