package p2p

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Unary returns the description of a unary method called name whose handler
// is h. The request is decoded only after the server's interceptors have
// authenticated the call, so interceptors see a nil request. h's error is
// sent as a status carrying its api.Kind (see the package doc); a nil
// response with a nil error is sent as a zero Resp.
func Unary[Req, Resp any](name string, h func(ctx context.Context, req *Req) (*Resp, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			handle := func(ctx context.Context, _ any) (any, error) {
				req := new(Req)
				if err := dec(req); err != nil {
					return nil, err // gRPC's own status for an undecodable message
				}
				resp, err := h(ctx, req)
				if err != nil {
					return nil, toStatus(err)
				}
				if resp == nil {
					resp = new(Resp) // never send JSON null
				}
				return resp, nil
			}
			if interceptor == nil {
				return handle(ctx, nil)
			}
			method, _ := grpc.Method(ctx)
			return interceptor(ctx, nil, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, handle)
		},
	}
}

// ServerStream returns the description of a server-streaming method called
// name: h receives the one request and sends any number of messages with
// send, then returns; a nil return ends the stream cleanly. ctx is the call's
// context (cancelled when the caller goes away).
func ServerStream[Req, Msg any](name string, h func(req *Req, send func(*Msg) error, ctx context.Context) error) grpc.StreamDesc {
	return grpc.StreamDesc{
		StreamName:    name,
		ServerStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			req := new(Req)
			if err := stream.RecvMsg(req); err != nil {
				return recvStatus(err)
			}
			send := func(m *Msg) error { return stream.SendMsg(m) }
			return toStatus(h(req, send, stream.Context()))
		},
	}
}

// ClientStream returns the description of a client-streaming method called
// name: h reads the caller's messages with recv until it returns io.EOF (the
// caller closed its side) and returns the one response.
func ClientStream[Msg, Resp any](name string, h func(ctx context.Context, recv func() (*Msg, error)) (*Resp, error)) grpc.StreamDesc {
	return grpc.StreamDesc{
		StreamName:    name,
		ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			resp, err := h(stream.Context(), receiver[Msg](stream))
			if err != nil {
				return toStatus(err)
			}
			if resp == nil {
				resp = new(Resp) // never send JSON null
			}
			return stream.SendMsg(resp)
		},
	}
}

// BidiStream returns the description of a bidirectional-streaming method
// called name: h reads requests with recv (io.EOF when the caller closed its
// side) and writes responses with send, in any interleaving; recv and send
// may each be used by one goroutine at a time. A nil return ends the stream
// cleanly.
func BidiStream[Req, Resp any](name string, h func(ctx context.Context, recv func() (*Req, error), send func(*Resp) error) error) grpc.StreamDesc {
	return grpc.StreamDesc{
		StreamName:    name,
		ClientStreams: true,
		ServerStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			send := func(m *Resp) error { return stream.SendMsg(m) }
			return toStatus(h(stream.Context(), receiver[Req](stream), send))
		},
	}
}

// receiver returns a function that reads the next message of type M from a
// server stream, or io.EOF once the client has closed its side.
func receiver[M any](stream grpc.ServerStream) func() (*M, error) {
	return func() (*M, error) {
		m := new(M)
		if err := stream.RecvMsg(m); err != nil {
			return nil, recvStatus(err)
		}
		return m, nil
	}
}

// recvStatus passes io.EOF through and turns a decoding failure into
// InvalidArgument.
func recvStatus(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.InvalidArgument, "cannot decode message: %v", err)
}

// Service assembles a service description called name (the full gRPC
// service name, e.g. "shoal.raft.Raft") from methods and streams. Its
// HandlerType is the empty interface, so any value (or nil) registers it:
// s.RegisterService(Service(...), struct{}{}). Handlers are closures and
// ignore the registered value.
func Service(name string, methods []grpc.MethodDesc, streams []grpc.StreamDesc) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*any)(nil),
		Methods:     methods,
		Streams:     streams,
		Metadata:    "",
	}
}
