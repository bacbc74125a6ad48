package auth

import (
	"crypto/subtle"

	"github.com/shoal-db/shoal/internal/api"
)

// Options configure an Authenticator.
type Options struct {
	// APIKey grants full access; empty disables authentication (unless
	// ReadOnlyAPIKey is set).
	APIKey string
	// ReadOnlyAPIKey grants read access.
	ReadOnlyAPIKey string
	// JWTRBAC accepts JWTs signed (HS256) with APIKey carrying Qdrant's
	// "access" claim.
	JWTRBAC bool
}

// Authenticator turns the credential of a request into an Access.
type Authenticator struct {
	opts Options
}

// New returns an Authenticator.
func New(opts Options) *Authenticator { return &Authenticator{opts: opts} }

// Enabled reports whether requests need a credential.
func (a *Authenticator) Enabled() bool {
	return a != nil && (a.opts.APIKey != "" || a.opts.ReadOnlyAPIKey != "")
}

// Authenticate checks token, the value of the "api-key" header or of an
// "Authorization: Bearer" header ("" when absent). It returns Full when
// authentication is disabled, and a 401 *api.Error when the token is missing
// or invalid. Keys are compared in constant time.
func (a *Authenticator) Authenticate(token string) (Access, error) {
	if !a.Enabled() {
		return Full, nil
	}
	if token == "" {
		return Access{}, api.ErrUnauthorized("Must provide an API key or an Authorization bearer token")
	}
	if a.opts.APIKey != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.opts.APIKey)) == 1 {
		return Full, nil
	}
	if a.opts.ReadOnlyAPIKey != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.opts.ReadOnlyAPIKey)) == 1 {
		return ReadOnly, nil
	}
	if a.opts.JWTRBAC && a.opts.APIKey != "" {
		if acc, err := a.verifyJWT(token); err == nil {
			return acc, nil
		} else if isJWTShaped(token) {
			return Access{}, err
		}
	}
	return Access{}, api.ErrUnauthorized("Invalid API key or JWT")
}
