package grpcapi

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/p2p"
)

// CodeOf returns the gRPC code for err's Kind (codes.OK for nil). The
// Kind → code table is p2p's (p2p.Code), the one table of every gRPC edge;
// the message sent with the code is api.Message(err), the same text the
// REST adapter puts in its error envelope.
func CodeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	return p2p.Code(api.KindOf(err))
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
