package rest

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/shoal-db/shoal/internal/api"
)

// Query-parameter errors that only REST can meet (a value that does not
// parse) use the words of Qdrant's query extractor error handler
// (src/actix/mod.rs): "Deserialize error in query parameters: <serde
// text>". Values that parse but are out of range are checked by package
// api's validators, which gRPC calls for the same fields, so both
// protocols refuse them with one text (api.ErrValidation, 400).

func queryError(detail string) error {
	return &api.Error{Kind: api.KindBadRequest, Message: "Deserialize error in query parameters: " + detail}
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

// parseTimeout reads the timeout parameter in whole seconds (0 when absent),
// validated by api.TimeoutSeconds as gRPC's timeout field is.
func parseTimeout(r *http.Request) (int, error) {
	v := r.URL.Query().Get("timeout")
	if v == "" {
		return 0, nil
	}
	n, err := parseUint(v)
	if err != nil {
		return 0, err
	}
	return api.TimeoutSeconds(n)
}

// parseUint parses a non-negative integer query parameter with serde's
// error texts.
func parseUint(v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, queryError("number too large to fit in target type")
		}
		return 0, queryError("invalid digit found in string")
	}
	return n, nil
}

// parseConsistency reads ReadConsistency: a factor N ≥ 1 (validated by
// api.ReadConsistencyFactor, as gRPC's factor is) or majority, quorum or
// all ("" when absent).
func parseConsistency(r *http.Request) (string, error) {
	v := r.URL.Query().Get("consistency")
	switch v {
	case "", "majority", "quorum", "all":
		return v, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return "", queryError("data did not match any variant of untagged enum ReadConsistency")
	}
	return api.ReadConsistencyFactor(n)
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
