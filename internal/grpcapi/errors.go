package grpcapi

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-db/shoal/internal/api"
)

// kindCodes is the one table that maps an error Kind to a gRPC status code.
// The message sent with the code is api.Message(err): the same text the REST
// adapter puts in its error envelope.
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
}

// CodeOf returns the gRPC code for err's Kind (codes.Internal for kinds not
// in the table, codes.OK for nil).
func CodeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if c, ok := kindCodes[api.KindOf(err)]; ok {
		return c
	}
	return codes.Internal
}

// toStatus converts an error returned by the service layer (or by a
// conversion) into a gRPC status error. Errors that already are gRPC
// statuses pass through; bare context errors are mapped by
// api.ContextError, the mapping the REST adapter uses too.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if !errors.As(err, &ae) {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			return err
		}
		err = api.ContextError(err)
	}
	return status.Error(CodeOf(err), api.Message(err))
}
