package p2p

import (
	"context"
	"errors"
	"strconv"

	"github.com/shoal-db/shoal/internal/api"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorDomain marks the status details that carry an api.Kind.
const errorDomain = "shoal.p2p"

// kindCodes is Shoal's one table that maps an error Kind to a gRPC code:
// the code sent on the peer port and, through Code, by the public gRPC API
// (internal/grpcapi). On the peer port the Kind itself travels in the
// status details too, so kinds that share a code stay distinct.
var kindCodes = map[api.Kind]codes.Code{
	api.KindInternal:            codes.Internal,
	api.KindBadInput:            codes.InvalidArgument,
	api.KindBadRequest:          codes.InvalidArgument,
	api.KindNotFound:            codes.NotFound,
	api.KindAlreadyExists:       codes.AlreadyExists,
	api.KindForbidden:           codes.PermissionDenied,
	api.KindUnauthorized:        codes.Unauthenticated,
	api.KindTimeout:             codes.DeadlineExceeded,
	api.KindChecksumMismatch:    codes.DataLoss,
	api.KindUnavailable:         codes.Unavailable,
	api.KindStandalone:          codes.Unimplemented,
	api.KindTooLarge:            codes.ResourceExhausted,
	api.KindRateLimited:         codes.ResourceExhausted,
	api.KindInsufficientStorage: codes.ResourceExhausted,
	api.KindCanceled:            codes.Canceled,
	api.KindValidation:          codes.InvalidArgument,
}

// Code returns the gRPC code of an error Kind (codes.Internal for a kind
// not in the table).
func Code(k api.Kind) codes.Code {
	if c, ok := kindCodes[k]; ok {
		return c
	}
	return codes.Internal
}

// codeKinds maps a gRPC code without Kind details (raised by gRPC itself or
// by a peer's interceptors) back to a Kind.
var codeKinds = map[codes.Code]api.Kind{
	codes.InvalidArgument:    api.KindBadRequest,
	codes.NotFound:           api.KindNotFound,
	codes.AlreadyExists:      api.KindAlreadyExists,
	codes.PermissionDenied:   api.KindForbidden,
	codes.Unauthenticated:    api.KindUnauthorized,
	codes.DeadlineExceeded:   api.KindTimeout,
	codes.Canceled:           api.KindUnavailable,
	codes.DataLoss:           api.KindChecksumMismatch,
	codes.Unavailable:        api.KindUnavailable,
	codes.Unimplemented:      api.KindBadRequest,
	codes.ResourceExhausted:  api.KindTooLarge,
	codes.FailedPrecondition: api.KindBadRequest,
	codes.Aborted:            api.KindUnavailable,
}

// toStatus converts a handler's error into a gRPC status error carrying the
// error's Kind in its details. Status errors pass through unchanged; context
// errors without an *api.Error become DeadlineExceeded or Canceled.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if !errors.As(err, &ae) {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			return err
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			ae = api.ErrTimeout("%v", err)
		case errors.Is(err, context.Canceled):
			return status.Error(codes.Canceled, err.Error())
		default:
			ae = &api.Error{Kind: api.KindInternal, Message: api.Message(err)}
		}
	}
	st := status.New(Code(ae.Kind), ae.Message)
	withKind, derr := st.WithDetails(&errdetails.ErrorInfo{
		Reason: "kind",
		Domain: errorDomain,
		Metadata: map[string]string{
			"kind": strconv.Itoa(int(ae.Kind)),
		},
	})
	if derr != nil {
		return st.Err()
	}
	return withKind.Err()
}

// fromStatus converts an error returned by a gRPC call into an *api.Error.
// A status sent by a p2p handler yields the handler's Kind and Message; any
// other status (transport failure, deadline, refused authentication) yields a
// Kind derived from its code. The result wraps the original error, so
// status.Code and errors.Is(err, context.DeadlineExceeded)-style checks on
// the cause keep working. Errors that are not statuses are returned as is.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		k, perr := strconv.Atoi(info.GetMetadata()["kind"])
		if perr != nil {
			break
		}
		return &api.Error{Kind: api.Kind(k), Message: st.Message(), Err: err}
	}
	kind, ok := codeKinds[st.Code()]
	if !ok {
		kind = api.KindInternal
	}
	msg := st.Message()
	switch kind {
	case api.KindTimeout:
		msg = "Timeout: " + msg
	case api.KindInternal:
		msg = "Service internal error: " + msg
	}
	return &api.Error{Kind: kind, Message: msg, Err: err}
}
