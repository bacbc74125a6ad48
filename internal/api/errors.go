package api

import (
	"errors"
	"fmt"
)

// Kind classifies an error the way Qdrant's StorageError does; the API edges
// map a Kind to an HTTP status or a gRPC code in one table each.
type Kind int

// Error kinds. The zero value is KindInternal.
const (
	KindInternal            Kind = iota // 500 "Service internal error: "
	KindBadInput                        // 400 "Wrong input: "
	KindBadRequest                      // 400 "Bad request: "
	KindNotFound                        // 404 "Not found: "
	KindAlreadyExists                   // 409
	KindForbidden                       // 403
	KindUnauthorized                    // 401
	KindTimeout                         // 408 "Timeout: "
	KindChecksumMismatch                // 400 "Checksum mismatch: "
	KindUnavailable                     // 503
	KindStandalone                      // 405 "Qdrant is running in standalone mode"
	KindTooLarge                        // 413 (body size)
	KindRateLimited                     // 429
	KindInsufficientStorage             // 507
	KindCanceled                        // 499 (gRPC Canceled): the caller cancelled the request
	KindValidation                      // 422 "Validation error in JSON body: [...]" (gRPC InvalidArgument)
)

// Error is an error with a Kind. Message is the full text shown to clients,
// already prefixed the way Qdrant prefixes it (see the constructors).
type Error struct {
	Kind    Kind
	Message string
	Err     error // optional cause, for errors.Is/As
	// RetryAfter, when positive, is the number of seconds after which the
	// request may succeed (a rate limit): REST sends it as Retry-After.
	RetryAfter int
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Message returns the client-facing text of err: the Message of the first
// *Error in its chain, or "Service internal error: " + err.Error().
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Service internal error: " + err.Error()
}

// ErrBadInput returns a 400 error reading "Wrong input: <text>".
func ErrBadInput(format string, args ...any) *Error {
	return &Error{Kind: KindBadInput, Message: "Wrong input: " + fmt.Sprintf(format, args...)}
}

// ErrBodyValidation returns Qdrant's 422 error for a request that decoded but
// breaks a declared constraint of its JSON body (Qdrant's `Validate`
// derive, answered by actix before the handler runs): "Validation error in
// JSON body: [<field>: <text>]", without the "Wrong input: " prefix.
func ErrBodyValidation(field, format string, args ...any) *Error {
	return &Error{Kind: KindValidation, Message: fmt.Sprintf("Validation error in JSON body: [%s: %s]", field, fmt.Sprintf(format, args...))}
}

// ErrPathValidation is ErrBodyValidation for a path parameter: "Validation
// error in path parameters: [<field>: <text>]".
func ErrPathValidation(field, format string, args ...any) *Error {
	return &Error{Kind: KindValidation, Message: fmt.Sprintf("Validation error in path parameters: [%s: %s]", field, fmt.Sprintf(format, args...))}
}

// ErrBadRequest returns a 400 error reading "Bad request: <text>".
func ErrBadRequest(format string, args ...any) *Error {
	return &Error{Kind: KindBadRequest, Message: "Bad request: " + fmt.Sprintf(format, args...)}
}

// ErrNotFound returns a 404 error reading "Not found: <text>".
func ErrNotFound(format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Message: "Not found: " + fmt.Sprintf(format, args...)}
}

// ErrCollectionNotFound is Qdrant's text for a missing collection.
func ErrCollectionNotFound(name string) *Error {
	return ErrNotFound("Collection `%s` doesn't exist!", name)
}

// ErrPointNotFound is Qdrant's text for a missing point.
func ErrPointNotFound(id PointID) *Error {
	return ErrNotFound("No point with id %s found", id.String())
}

// ErrAlreadyExists returns a 409 error.
func ErrAlreadyExists(format string, args ...any) *Error {
	return &Error{Kind: KindAlreadyExists, Message: fmt.Sprintf(format, args...)}
}

// ErrForbidden returns a 403 error.
func ErrForbidden(format string, args ...any) *Error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(format, args...)}
}

// ErrUnauthorized returns a 401 error.
func ErrUnauthorized(format string, args ...any) *Error {
	return &Error{Kind: KindUnauthorized, Message: fmt.Sprintf(format, args...)}
}

// ErrTimeout returns a 408 error reading "Timeout: <text>".
func ErrTimeout(format string, args ...any) *Error {
	return &Error{Kind: KindTimeout, Message: "Timeout: " + fmt.Sprintf(format, args...)}
}

// ErrInternal returns a 500 error wrapping cause.
func ErrInternal(cause error, format string, args ...any) *Error {
	return &Error{Kind: KindInternal, Message: "Service internal error: " + fmt.Sprintf(format, args...), Err: cause}
}

// ErrChecksumMismatch is Qdrant's checksum error.
func ErrChecksumMismatch(expected, actual string) *Error {
	return &Error{Kind: KindChecksumMismatch, Message: fmt.Sprintf("Checksum mismatch: expected %s, actual %s", expected, actual)}
}

// ErrStandalone is returned by cluster operations on a node without clustering.
var ErrStandalone = &Error{Kind: KindStandalone, Message: "Qdrant is running in standalone mode"}

// ErrUnavailable returns a 503 error reading "Service unavailable: <text>"
// (no quorum, no peer to place shards on, a peer that cannot be reached).
func ErrUnavailable(format string, args ...any) *Error {
	return &Error{Kind: KindUnavailable, Message: "Service unavailable: " + fmt.Sprintf(format, args...)}
}

// RetryAfterOf returns the RetryAfter seconds of the first *Error in err's
// chain, or 0.
func RetryAfterOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
