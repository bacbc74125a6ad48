// Package auth decides who may do what: API keys (full and read-only), JWT
// RBAC tokens signed with the API key, and the Access value that the service
// layer checks on every operation. Adapters (REST, gRPC) authenticate a
// request into an Access and put it in the context; only the service layer
// checks it, so both adapters enforce the same rules.
package auth

import (
	"context"

	"github.com/shoal-db/shoal/internal/api"
)

// Mode is a level of access.
type Mode int

// Access levels, each including the ones before it.
const (
	None   Mode = iota
	Read        // read points, collection info, search
	Write       // also write points and payloads (JWT "rw" on a collection)
	Manage      // also create/delete collections, aliases, indexes, snapshots (global "m")
)

// Access is what one request may do: a global mode, raised for the named
// collections by Collections. PayloadFilter, when set by a JWT
// "value_exists"-style claim, is not supported and is left nil.
type Access struct {
	Global      Mode
	Collections map[string]Mode
}

// Full is the access of a request when no key is configured or the full API
// key was given.
var Full = Access{Global: Manage}

// ReadOnly is the access of the read-only API key.
var ReadOnly = Access{Global: Read}

// ModeFor returns the access mode for the named collection.
func (a Access) ModeFor(collection string) Mode {
	m := a.Global
	if c, ok := a.Collections[collection]; ok && c > m {
		m = c
	}
	return m
}

// CheckCollection returns a 403 error unless a grants at least need on the
// collection.
func (a Access) CheckCollection(collection string, need Mode) error {
	if a.ModeFor(collection) >= need {
		return nil
	}
	return api.ErrForbidden("Forbidden: %s access to collection %s is required", modeName(need), collection)
}

// CheckGlobal returns a 403 error unless a grants at least need globally.
func (a Access) CheckGlobal(need Mode) error {
	if a.Global >= need {
		return nil
	}
	return api.ErrForbidden("Forbidden: global %s access is required", modeName(need))
}

func modeName(m Mode) string {
	switch m {
	case Read:
		return "read"
	case Write:
		return "write"
	case Manage:
		return "manage"
	}
	return "no"
}

type ctxKey struct{}

// WithAccess returns ctx carrying a.
func WithAccess(ctx context.Context, a Access) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// FromContext returns the Access in ctx, or Full when none was set
// (in-process callers such as the snapshot scheduler).
func FromContext(ctx context.Context) Access {
	if a, ok := ctx.Value(ctxKey{}).(Access); ok {
		return a
	}
	return Full
}
