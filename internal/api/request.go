package api

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// QdrantVersion is the Qdrant version whose API Shoal serves. Both
// adapters report it, REST as "version" in GET / and gRPC in HealthCheck,
// and it is the API version of the github.com/qdrant/go-client protos the
// gRPC adapter serves (go-client v1.19.3 carries Qdrant 1.19.0's protos),
// so the official clients' compatibility check passes.
const QdrantVersion = "1.19.0"

// QdrantTitle is the title both adapters report (GET / and HealthCheck),
// as Qdrant does.
const QdrantTitle = "qdrant - vector search engine"

// MaxTimeoutSeconds caps request timeouts (a year), so that conversions to
// int and time.Duration cannot overflow.
const MaxTimeoutSeconds = 365 * 24 * 3600

// ErrValidation returns the 400 error of a request field or parameter that
// decoded but is out of range, in Qdrant's validation wording:
// "Validation error: [<field>: <detail>]". Both adapters send the same text.
func ErrValidation(field, detail string) *Error {
	return &Error{Kind: KindBadRequest, Message: fmt.Sprintf("Validation error: [%s: %s]", field, detail)}
}

// TimeoutSeconds validates a request's timeout parameter (REST's ?timeout=,
// gRPC's timeout field), given in whole seconds when present: it must be at
// least 1, and is capped at MaxTimeoutSeconds. An absent timeout is not
// passed here; it means no timeout (0).
func TimeoutSeconds(n uint64) (int, error) {
	if n < 1 {
		return 0, ErrValidation("timeout", "value 0 invalid, must be 1 or larger")
	}
	return int(min(n, MaxTimeoutSeconds)), nil
}

// WithTimeout bounds ctx by a request's timeout in seconds (from
// TimeoutSeconds; 0 means none). The returned cancel must be called.
func WithTimeout(ctx context.Context, seconds int) (context.Context, context.CancelFunc) {
	if seconds <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, time.Duration(seconds)*time.Second)
}

// ReadConsistencyFactor validates a read consistency given as a number of
// replicas (REST's ?consistency=N, gRPC's ReadConsistency.factor) and
// returns it in ReadParams.Consistency's form.
func ReadConsistencyFactor(n uint64) (string, error) {
	if n < 1 {
		return "", ErrValidation("consistency", "value 0 invalid, must be 1 or larger")
	}
	return fmt.Sprint(n), nil
}

// ContextError is the one mapping of context errors to Qdrant's errors: an
// error that already carries an *Error is returned as it is; a deadline
// (the request's timeout) becomes KindTimeout "Timeout: Operation timed
// out"; a cancellation (the caller went away, or the server is stopping)
// becomes KindCanceled. Other errors are returned unchanged.
func ContextError(err error) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Message: "Timeout: Operation timed out", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindCanceled, Message: "Operation cancelled: the request was cancelled before it completed", Err: err}
	}
	return err
}

// The errors below are refused alike by both adapters, which meet the same
// input in their own shapes (a JSON key, a protobuf oneof).

// ErrQueryNotSupported is the error of a query variant this server does
// not run (formula, relevance_feedback, mmr).
func ErrQueryNotSupported(variant string) *Error {
	return ErrBadInput("%s queries are not supported by this server", variant)
}

// ErrDiscoverWithoutTarget is the error of a discover query without its
// target.
func ErrDiscoverWithoutTarget() *Error { return ErrBadInput("discover query needs a target") }

// ErrPayloadTooDeep is the error of a payload nested deeper than
// MaxPayloadDepth.
func ErrPayloadTooDeep() *Error {
	return ErrBadInput("payload is nested deeper than %d levels", MaxPayloadDepth)
}
