package auth

import (
	"strings"

	"github.com/shoal-db/shoal/internal/api"
)

// verifyJWT validates a JWT signed with the API key and maps its claims to
// an Access. (Owner: the server-infrastructure work; see ARCHITECTURE.md.)
func (a *Authenticator) verifyJWT(token string) (Access, error) {
	return Access{}, api.ErrUnauthorized("JWT RBAC is not implemented yet")
}

func isJWTShaped(token string) bool { return strings.Count(token, ".") == 2 }
