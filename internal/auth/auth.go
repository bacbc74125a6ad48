package auth

import (
	"crypto/subtle"
	"errors"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// Options configure an Authenticator.
type Options struct {
	// APIKey grants full access; empty disables authentication (unless
	// ReadOnlyAPIKey is set).
	APIKey string
	// AltAPIKey is a second full-access key (for rotation); JWTs signed
	// with it are accepted too.
	AltAPIKey string
	// ReadOnlyAPIKey grants read access.
	ReadOnlyAPIKey string
	// JWTRBAC accepts JWTs signed (HS256) with APIKey carrying Qdrant's
	// "access" claim.
	JWTRBAC bool
	// ValueExists backs the JWT "value_exists" claim; nil rejects tokens
	// that carry it.
	ValueExists ValueExistsFunc
	// ValueExistsTimeout bounds one value_exists check; 0 means 10 s.
	ValueExistsTimeout time.Duration
}

// Authenticator turns the credential of a request into an Access.
type Authenticator struct {
	opts Options
}

// New returns an Authenticator.
func New(opts Options) *Authenticator { return &Authenticator{opts: opts} }

// Enabled reports whether requests need a credential.
func (a *Authenticator) Enabled() bool {
	return a != nil && (a.opts.APIKey != "" || a.opts.AltAPIKey != "" || a.opts.ReadOnlyAPIKey != "")
}

// Authenticate checks token, the value of the "api-key" header or of an
// "Authorization: Bearer" header ("" when absent). It returns Full when
// authentication is disabled, and a 401 *api.Error when the token is missing
// or invalid, or a 403 *api.Error for a JWT that is expired or signed with
// another key (as Qdrant). Keys are compared in constant time, and every
// configured key is compared whatever the outcome of the others.
func (a *Authenticator) Authenticate(token string) (Access, error) {
	if !a.Enabled() {
		return Full, nil
	}
	if token == "" {
		return Access{}, api.ErrUnauthorized("Must provide an API key or an Authorization bearer token")
	}
	full := keyMatches(token, a.opts.APIKey) | keyMatches(token, a.opts.AltAPIKey)
	ro := keyMatches(token, a.opts.ReadOnlyAPIKey)
	if full == 1 {
		return Full, nil
	}
	if ro == 1 {
		return ReadOnly, nil
	}
	if a.opts.JWTRBAC && (a.opts.APIKey != "" || a.opts.AltAPIKey != "") {
		acc, err := a.verifyJWT(token)
		if err == nil {
			return acc, nil
		}
		if !errors.Is(err, errNotJWT) {
			return Access{}, err
		}
	}
	return Access{}, api.ErrUnauthorized("Invalid API key or JWT")
}

// keyMatches returns 1 when key is set and equals token, in time that
// depends only on the lengths.
func keyMatches(token, key string) int {
	eq := subtle.ConstantTimeCompare([]byte(token), []byte(key))
	set := subtle.ConstantTimeEq(int32(min(len(key), 1)), 1)
	return eq & set
}
