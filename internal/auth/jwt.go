package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shoal-db/shoal/internal/api"
)

// JWTLeeway is the clock skew allowed on a token's "exp" claim (Qdrant's).
const JWTLeeway = 30 * time.Second

// Qdrant's answers to a token that is a well-formed JWT but cannot be
// accepted: both are 403 with the decoder's error name as the text.
const (
	msgExpired          = "ExpiredSignature"
	msgInvalidSignature = "InvalidSignature"
)

// ValueExistsFunc reports whether the collection holds at least one point
// matching filter; it backs the JWT "value_exists" claim. The context
// carries no caller access (the check runs with full access).
type ValueExistsFunc func(ctx context.Context, collection string, filter *api.Filter) (bool, error)

// Claims are the JWT claims Shoal reads, as Qdrant defines them.
type Claims struct {
	jwt.RegisteredClaims
	// Access is "r", "m" or a list of per-collection grants; absent means
	// full access.
	Access json.RawMessage `json:"access,omitempty"`
	// ValueExists makes the token valid only while a matching point exists.
	ValueExists *ValueExistsClaim `json:"value_exists,omitempty"`
	// Subject is a free-form caller name for audit logs.
	Subject string `json:"subject,omitempty"`
}

// ValueExistsClaim is the "value_exists" claim.
type ValueExistsClaim struct {
	Collection string          `json:"collection"`
	Matches    []KeyValueMatch `json:"matches"`
}

// KeyValueMatch is one required key/value of a value_exists claim.
type KeyValueMatch struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// CollectionGrant is one element of a per-collection "access" claim.
type CollectionGrant struct {
	Collection string `json:"collection"`
	// Access is "r" (read) or "rw" (read and write points).
	Access string `json:"access"`
	// Payload is Qdrant's removed payload restriction; a token carrying it
	// is rejected.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// errNotJWT means the token could not be decoded as one of our JWTs; the
// caller answers with the generic "invalid key" error.
var errNotJWT = errors.New("not a JWT signed for this server")

// verifyJWT validates token against the full-access keys and maps its claims
// to an Access. It returns errNotJWT when the token is not a decodable HS256
// JWT, and an *api.Error (403 for an expired token or a bad signature, 401
// for invalid claims) when it is one but cannot be accepted.
func (a *Authenticator) verifyJWT(token string) (Access, error) {
	var firstErr error
	for _, key := range []string{a.opts.APIKey, a.opts.AltAPIKey} {
		if key == "" {
			continue
		}
		claims, err := parseJWT(token, key)
		if err == nil {
			return a.claimsAccess(claims)
		}
		if firstErr == nil || errors.Is(firstErr, errNotJWT) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = errNotJWT
	}
	return Access{}, firstErr
}

// parseJWT checks the signature (HS256 with key) and the expiry.
func parseJWT(token, key string) (*Claims, error) {
	var claims Claims
	parser := jwt.NewParser(
		jwt.WithLeeway(JWTLeeway),
		jwt.WithExpirationRequired(),
		jwt.WithJSONNumber(),
	)
	_, err := parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("signing method %v is not HS256", t.Header["alg"])
		}
		return []byte(key), nil
	})
	switch {
	case err == nil:
		return &claims, nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, api.ErrForbidden(msgExpired)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, api.ErrForbidden(msgInvalidSignature)
	default:
		// Malformed, wrong algorithm, missing exp, undecodable claims.
		return nil, fmt.Errorf("%w: %v", errNotJWT, err)
	}
}

// claimsAccess maps verified claims to an Access, running the value_exists
// check when the claim is present.
func (a *Authenticator) claimsAccess(c *Claims) (Access, error) {
	acc, err := ParseAccessClaim(c.Access)
	if err != nil {
		return Access{}, err
	}
	if c.ValueExists != nil {
		if err := a.checkValueExists(c.ValueExists); err != nil {
			return Access{}, err
		}
	}
	return acc, nil
}

// ParseAccessClaim maps the raw "access" claim to an Access: absent or null
// is full access, "r" global read, "m" global manage, and a list of
// {"collection", "access": "r"|"rw"} grants read or write on the named
// collections only. Anything else is a 401 error.
func ParseAccessClaim(raw json.RawMessage) (Access, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return Full, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Access{}, invalidClaim("access: %v", err)
		}
		switch s {
		case "r":
			return Access{Global: Read}, nil
		case "m":
			return Access{Global: Manage}, nil
		}
		return Access{}, invalidClaim("access: unknown global access mode %q, expected \"r\" or \"m\"", s)
	}
	var grants []CollectionGrant
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&grants); err != nil {
		return Access{}, invalidClaim("access: expected \"r\", \"m\" or a list of collection grants: %v", err)
	}
	acc := Access{Global: None, Collections: make(map[string]Mode, len(grants))}
	for i, g := range grants {
		if g.Collection == "" {
			return Access{}, invalidClaim("access[%d].collection: must not be empty", i)
		}
		if p := bytes.TrimSpace(g.Payload); len(p) > 0 && string(p) != "null" {
			return Access{}, invalidClaim("access[%d].payload: payload restrictions are not supported", i)
		}
		var m Mode
		switch g.Access {
		case "r":
			m = Read
		case "rw":
			m = Write
		default:
			return Access{}, invalidClaim("access[%d].access: unknown collection access mode %q, expected \"r\" or \"rw\"", i, g.Access)
		}
		if m > acc.Collections[g.Collection] {
			acc.Collections[g.Collection] = m
		}
	}
	return acc, nil
}

// checkValueExists runs the value_exists claim against the data.
func (a *Authenticator) checkValueExists(v *ValueExistsClaim) error {
	if a.opts.ValueExists == nil {
		return api.ErrUnauthorized("Invalid JWT, value_exists claims are not supported by this server")
	}
	if v.Collection == "" || len(v.Matches) == 0 {
		return invalidClaim("value_exists: collection and matches are required")
	}
	// Build the filter through its JSON form so it is validated exactly as
	// a client's filter is.
	conds := make([]map[string]any, 0, len(v.Matches))
	for _, m := range v.Matches {
		conds = append(conds, map[string]any{"key": m.Key, "match": map[string]any{"value": m.Value}})
	}
	b, err := json.Marshal(map[string]any{"must": conds})
	if err != nil {
		return invalidClaim("value_exists: %v", err)
	}
	var f api.Filter
	if err := json.Unmarshal(b, &f); err != nil {
		return invalidClaim("value_exists: %s", strings.TrimPrefix(api.Message(err), "Wrong input: "))
	}
	timeout := a.opts.ValueExistsTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ok, err := a.opts.ValueExists(ctx, v.Collection, &f)
	if err != nil {
		if api.KindOf(err) == api.KindNotFound {
			return api.ErrForbidden("Invalid JWT, stateful validation failed")
		}
		return err
	}
	if !ok {
		return api.ErrUnauthorized("Invalid JWT, stateful validation failed")
	}
	return nil
}

func invalidClaim(format string, args ...any) *api.Error {
	return api.ErrUnauthorized("Invalid JWT claims: "+format, args...)
}

// IssueJWT signs a token with key (HS256) that expires after ttl (a
// negative ttl gives an already expired token); access is the "access"
// claim value ("r", "m" or a []CollectionGrant), nil for none. Operators
// and tests use it to hand out scoped tokens.
func IssueJWT(key string, access any, ttl time.Duration) (string, error) {
	claims := jwt.MapClaims{"exp": time.Now().Add(ttl).Unix()}
	if access != nil {
		claims["access"] = access
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		return "", fmt.Errorf("cannot sign JWT: %w", err)
	}
	return s, nil
}
