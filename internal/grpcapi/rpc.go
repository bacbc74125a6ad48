package grpcapi

import (
	"context"
	"reflect"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shoal-db/shoal/internal/api"
)

// The steps that every Points RPC takes (bound the context by the request's
// timeout, take the read or write parameters, convert the request, call the
// service, convert the answer, map errors to gRPC statuses and report the
// elapsed time) live here once; each handler names only what differs.

// timedRequest is what every Points request message has: the collection it
// addresses and a timeout in seconds (zero for none).
type timedRequest interface {
	GetCollectionName() string
	GetTimeout() uint64
}

// readRequest is a request of a read RPC, which also names a read
// consistency.
type readRequest interface {
	timedRequest
	GetReadConsistency() *qdrant.ReadConsistency
}

// writeRequest is a request of a write RPC, which also says whether to wait
// for the write and with which ordering.
type writeRequest interface {
	timedRequest
	GetWait() bool
	GetOrdering() *qdrant.WriteOrdering
}

// readParamsOf returns the read parameters of r.
func readParamsOf[R readRequest](r R) (api.ReadParams, error) {
	timeout := r.GetTimeout()
	return readParams(r.GetReadConsistency(), &timeout)
}

// writeParamsOf returns the write parameters of r.
func writeParamsOf[R writeRequest](r R) (api.WriteParams, error) {
	wait, timeout := r.GetWait(), r.GetTimeout()
	return writeParams(&wait, r.GetOrdering(), &timeout)
}

// requestTimeout returns the validated timeout (api.TimeoutSeconds, as
// REST's ?timeout=) of a request message with a `timeout` field; 0 when
// the message has none or it is not set.
func requestTimeout(req any) (int, error) {
	m, ok := req.(proto.Message)
	if !ok {
		return 0, nil
	}
	pr := m.ProtoReflect()
	fd := pr.Descriptor().Fields().ByName("timeout")
	if fd == nil || fd.Kind() != protoreflect.Uint64Kind || fd.IsList() || !pr.Has(fd) {
		return 0, nil
	}
	return api.TimeoutSeconds(pr.Get(fd).Uint())
}

// unaryRequest checks every request before its handler runs: it refuses
// fields the served protos do not know (unknownField, as REST refuses
// unknown JSON members) and bounds the call by the request's timeout field
// (the one place gRPC handles it), refusing a timeout of 0 as REST does.
func unaryRequest(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if err := unknownField(m.ProtoReflect(), 0); err != nil {
			return nil, toStatus(err)
		}
	}
	secs, err := requestTimeout(req)
	if err != nil {
		return nil, toStatus(err)
	}
	ctx, cancel := api.WithTimeout(ctx, secs)
	defer cancel()
	return handler(ctx, req)
}

// serve is the body that every Points RPC shares (the timeout interceptor
// has bounded ctx by r's timeout). Stopping at the first error, it takes
// r's parameters with params, converts r with conv, calls the service with
// call on r's collection and converts the answer with out. It returns the
// converted answer and the seconds elapsed since it began, for the
// response's time field; an error is already a gRPC status (toStatus).
func serve[R timedRequest, P, Req, Res, Out any](
	ctx context.Context, r R,
	params func(R) (P, error),
	conv func(R) (Req, error),
	call func(context.Context, string, Req, P) (Res, error),
	out func(Res) (Out, error),
) (Out, float64, error) {
	start := time.Now()
	var zero Out
	ps, err := params(r)
	if err != nil {
		return zero, 0, toStatus(err)
	}
	req, err := conv(r)
	if err != nil {
		return zero, 0, toStatus(err)
	}
	res, err := call(ctx, r.GetCollectionName(), req, ps)
	if err != nil {
		return zero, 0, toStatus(err)
	}
	o, err := out(res)
	if err != nil {
		return zero, 0, toStatus(err)
	}
	return o, since(start), nil
}

// read serves a read RPC: serve with r's read parameters.
func read[R readRequest, Req, Res, Out any](
	ctx context.Context, r R,
	conv func(R) (Req, error),
	call func(context.Context, string, Req, api.ReadParams) (Res, error),
	out func(Res) (Out, error),
) (Out, float64, error) {
	return serve(ctx, r, readParamsOf[R], conv, call, out)
}

// write serves a single-operation write RPC: serve with r's write
// parameters, answered with the update result.
func write[R writeRequest, Req any](
	ctx context.Context, r R,
	conv func(R) (Req, error),
	call func(context.Context, string, Req, api.WriteParams) (*api.UpdateResult, error),
) (*qdrant.PointsOperationResponse, error) {
	res, secs, err := serve(ctx, r, writeParamsOf[R], conv, call, infallible(updateResultToProto))
	if err != nil {
		return nil, err
	}
	return &qdrant.PointsOperationResponse{Result: res, Time: secs}, nil
}

// infallible adapts a conversion that cannot fail to the form serve takes.
func infallible[In, Out any](f func(In) Out) func(In) (Out, error) {
	return func(in In) (Out, error) { return f(in), nil }
}

// requestsFromProto converts the requests of a batch RPC with conv, in
// order, stopping at the first error.
func requestsFromProto[In, Out any](in []In, conv func(In) (*Out, error)) ([]Out, error) {
	out := make([]Out, len(in))
	for i, x := range in {
		req, err := conv(x)
		if err != nil {
			return nil, err
		}
		out[i] = *req
	}
	return out, nil
}

// maxUnknownFieldDepth bounds the recursion of unknownField; protobuf's
// decoder already limits nesting to 100 levels.
const maxUnknownFieldDepth = 128

// unknownField returns an error naming the first field of m, or of a
// message inside it, that the protos this server serves do not know: a
// client built on a newer Qdrant API sent an option this server would
// otherwise drop without a word. nil when there is none.
func unknownField(m protoreflect.Message, depth int) error {
	if u := m.GetUnknown(); len(u) > 0 {
		num, _, _ := protowire.ConsumeTag(u)
		return api.ErrBadInput("unknown field %d in %s: it is not part of the Qdrant %s API this server serves", num, m.Descriptor().FullName(), api.QdrantVersion)
	}
	if depth > maxUnknownFieldDepth {
		return nil
	}
	// Points, their vectors and payload values, the bulk of a write, are
	// walked through their Go types (every message field of the served
	// PointStruct and Vector is visited): the reflective walk below costs
	// several times more.
	switch x := m.Interface().(type) {
	case *qdrant.Value:
		return unknownInValue(x, depth)
	case *qdrant.PointStruct:
		if id := x.GetId(); id != nil && len(id.ProtoReflect().GetUnknown()) > 0 {
			return unknownField(id.ProtoReflect(), depth+1)
		}
		if v := x.GetVectors(); v != nil {
			if err := unknownField(v.ProtoReflect(), depth+1); err != nil {
				return err
			}
		}
		return unknownInPayload(x.GetPayload(), depth+1)
	case *qdrant.Vector:
		// A dense vector's numbers hold no messages: only the vector's
		// other parts are walked.
		for _, f := range []proto.Message{x.GetDense(), x.GetSparse(), x.GetMultiDense(), x.GetIndices(), x.GetDocument(), x.GetImage(), x.GetObject()} {
			if f != nil && !reflect.ValueOf(f).IsNil() {
				if err := unknownField(f.ProtoReflect(), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				l := v.List()
				for i := 0; i < l.Len() && err == nil; i++ {
					err = unknownField(l.Get(i).Message(), depth+1)
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					err = unknownField(mv.Message(), depth+1)
					return err == nil
				})
			}
		case fd.Message() != nil:
			err = unknownField(v.Message(), depth+1)
		}
		return err == nil
	})
	return err
}

// unknownInPayload is unknownField over the values of a payload.
func unknownInPayload(p map[string]*qdrant.Value, depth int) error {
	for _, v := range p {
		if err := unknownInValue(v, depth); err != nil {
			return err
		}
	}
	return nil
}

// unknownInValue is unknownField over one payload value.
func unknownInValue(v *qdrant.Value, depth int) error {
	if v == nil || depth > maxUnknownFieldDepth {
		return nil
	}
	if len(v.ProtoReflect().GetUnknown()) > 0 {
		return unknownField(v.ProtoReflect(), depth)
	}
	switch k := v.GetKind().(type) {
	case *qdrant.Value_StructValue:
		if s := k.StructValue; s != nil {
			if len(s.ProtoReflect().GetUnknown()) > 0 {
				return unknownField(s.ProtoReflect(), depth+1)
			}
			return unknownInPayload(s.GetFields(), depth+2)
		}
	case *qdrant.Value_ListValue:
		if l := k.ListValue; l != nil {
			if len(l.ProtoReflect().GetUnknown()) > 0 {
				return unknownField(l.ProtoReflect(), depth+1)
			}
			for _, e := range l.GetValues() {
				if err := unknownInValue(e, depth+2); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
