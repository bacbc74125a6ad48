package grpcapi

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shoal-db/shoal/internal/auth"
)

// unauthenticatedMethods may be called without credentials, as in Qdrant:
// health checks.
var unauthenticatedMethods = map[string]bool{
	"/qdrant.Qdrant/HealthCheck":   true,
	"/grpc.health.v1.Health/Check": true,
	"/grpc.health.v1.Health/Watch": true,
	"/grpc.health.v1.Health/List":  true,
}

// credential returns the token of the "api-key" metadata, else of an
// "authorization: Bearer <token>" metadata, else "".
func credential(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("api-key"); len(v) > 0 && v[0] != "" {
		return v[0]
	}
	for _, v := range md.Get("authorization") {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:])
		}
	}
	return ""
}

func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	if unauthenticatedMethods[method] {
		return ctx, nil
	}
	access, err := s.opts.Auth.Authenticate(credential(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return auth.WithAccess(ctx, access), nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authedStream) Context() context.Context { return a.ctx }

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

// unaryObserve recovers from handler panics (answering Internal), records
// metrics and logs failures.
func (s *Server) unaryObserve(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	func() {
		defer s.recoverInto(info.FullMethod, &err)
		resp, err = handler(ctx, req)
	}()
	s.observe(info.FullMethod, start, err)
	return resp, err
}

func (s *Server) streamObserve(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	func() {
		defer s.recoverInto(info.FullMethod, &err)
		err = handler(srv, ss)
	}()
	s.observe(info.FullMethod, start, err)
	return err
}

// recoverInto turns a panic in a request handler into an Internal status;
// the panic value and stack are logged. Only the request fails.
func (s *Server) recoverInto(method string, err *error) {
	if r := recover(); r != nil {
		s.log.Error("panic in gRPC handler", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, "Service internal error: unexpected panic while handling the request")
	}
}

func (s *Server) observe(method string, start time.Time, err error) {
	d := time.Since(start)
	code := status.Code(err)
	if !strings.HasPrefix(method, "/grpc.reflection.") {
		observeResponse(s.metrics, method, code, d)
	}
	switch code {
	case codes.OK:
		s.log.Debug("grpc request", "method", method, "duration", d)
	case codes.Internal, codes.Unknown, codes.DataLoss:
		s.log.Error("grpc request failed", "method", method, "code", code.String(), "duration", d, "error", status.Convert(err).Message())
	default:
		s.log.Log(context.Background(), slog.LevelDebug, "grpc request failed", "method", method, "code", code.String(), "duration", d, "error", status.Convert(err).Message())
	}
}
