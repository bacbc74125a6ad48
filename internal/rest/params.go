package rest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// Query-parameter errors use the words of Qdrant's query extractor error
// handler (src/actix/mod.rs, validation_error_handler): "Deserialize error
// in query parameters: <serde text>" and "Validation error in query
// parameters: [<field>: <text>]". Qdrant answers the latter with 422; Shoal
// has no such Kind and answers 400, as for every other validation error.

func queryError(detail string) error {
	return &api.Error{Kind: api.KindBadRequest, Message: "Deserialize error in query parameters: " + detail}
}

func validationError(field, detail string) error {
	return &api.Error{Kind: api.KindBadRequest, Message: fmt.Sprintf("Validation error in query parameters: [%s: %s]", field, detail)}
}

// parseWait reads the wait parameter (absent means false).
func parseWait(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("wait"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, queryError("provided string was not `true` or `false`")
	}
}

// parseOrdering reads the ordering parameter (absent means weak).
func parseOrdering(r *http.Request) (api.WriteOrdering, error) {
	switch v := r.URL.Query().Get("ordering"); v {
	case "":
		return api.OrderingWeak, nil
	case string(api.OrderingWeak), string(api.OrderingMedium), string(api.OrderingStrong):
		return api.WriteOrdering(v), nil
	default:
		return "", queryError(fmt.Sprintf("unknown variant `%s`, expected one of `weak`, `medium`, `strong`", v))
	}
}

// parseTimeout reads the timeout parameter in whole seconds (0 when absent).
func parseTimeout(r *http.Request) (int, error) {
	v := r.URL.Query().Get("timeout")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, queryError("number too large to fit in target type")
		}
		return 0, queryError("invalid digit found in string")
	}
	if n < 1 {
		return 0, validationError("timeout", "value 0 invalid, must be 1 or larger")
	}
	return int(n), nil
}

// parseConsistency reads ReadConsistency: a factor N ≥ 1 or majority,
// quorum or all ("" when absent).
func parseConsistency(r *http.Request) (string, error) {
	v := r.URL.Query().Get("consistency")
	switch v {
	case "", "majority", "quorum", "all":
		return v, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return "", queryError("data did not match any variant of untagged enum ReadConsistency")
	}
	if n < 1 {
		return "", validationError("consistency", "value 0 invalid, must be 1 or larger")
	}
	return v, nil
}

// withTimeout bounds ctx by the request's timeout parameter, if any.
func withTimeout(ctx context.Context, seconds int) (context.Context, context.CancelFunc) {
	if seconds <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, time.Duration(seconds)*time.Second)
}

// writeParams parses wait, ordering and timeout.
func writeParams(r *http.Request) (api.WriteParams, error) {
	wait, err := parseWait(r)
	if err != nil {
		return api.WriteParams{}, err
	}
	ord, err := parseOrdering(r)
	if err != nil {
		return api.WriteParams{}, err
	}
	t, err := parseTimeout(r)
	if err != nil {
		return api.WriteParams{}, err
	}
	return api.WriteParams{Wait: wait, Ordering: ord, TimeoutSeconds: t}, nil
}

// readParams parses consistency and timeout.
func readParams(r *http.Request) (api.ReadParams, error) {
	c, err := parseConsistency(r)
	if err != nil {
		return api.ReadParams{}, err
	}
	t, err := parseTimeout(r)
	if err != nil {
		return api.ReadParams{}, err
	}
	return api.ReadParams{Consistency: c, TimeoutSeconds: t}, nil
}
