package auth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shoal-db/shoal/internal/api"
)

const secret = "my-secret-api-key"

func sign(t *testing.T, key string, method jwt.SigningMethod, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func future() int64 { return time.Now().Add(time.Hour).Unix() }

func TestAPIKeys(t *testing.T) {
	a := New(Options{APIKey: "full", AltAPIKey: "alt", ReadOnlyAPIKey: "ro"})
	if !a.Enabled() {
		t.Fatal("keys configured but not enabled")
	}
	for token, want := range map[string]Access{"full": Full, "alt": Full, "ro": ReadOnly} {
		got, err := a.Authenticate(token)
		if err != nil || got.Global != want.Global {
			t.Fatalf("%s: %+v %v", token, got, err)
		}
	}
	for _, bad := range []string{"", "ful", "fulll", "RO", "x.y.z"} {
		_, err := a.Authenticate(bad)
		if api.KindOf(err) != api.KindUnauthorized {
			t.Fatalf("%q: want 401, got %v", bad, err)
		}
	}
	if _, err := a.Authenticate(""); api.Message(err) != "Must provide an API key or an Authorization bearer token" {
		t.Fatalf("missing key text: %q", api.Message(err))
	}
	// Without keys everything is allowed, with full access.
	open := New(Options{})
	if acc, err := open.Authenticate(""); err != nil || acc.Global != Manage || open.Enabled() {
		t.Fatalf("open: %+v %v", acc, err)
	}
	var nilAuth *Authenticator
	if acc, err := nilAuth.Authenticate("anything"); err != nil || acc.Global != Manage {
		t.Fatalf("nil authenticator: %+v %v", acc, err)
	}
	// Only a read-only key: the empty full key must not match an empty token.
	roOnly := New(Options{ReadOnlyAPIKey: "ro"})
	if _, err := roOnly.Authenticate(""); api.KindOf(err) != api.KindUnauthorized {
		t.Fatalf("empty token with read-only key only: %v", err)
	}
}

func TestJWTAccessClaims(t *testing.T) {
	a := New(Options{APIKey: secret, JWTRBAC: true})
	for _, c := range []struct {
		name   string
		access any
		check  func(Access) bool
	}{
		{"no access claim is full access", nil, func(a Access) bool { return a.Global == Manage }},
		{"global read", "r", func(a Access) bool {
			return a.Global == Read && a.CheckGlobal(Manage) != nil && a.CheckCollection("any", Read) == nil && a.CheckCollection("any", Write) != nil
		}},
		{"global manage", "m", func(a Access) bool { return a.Global == Manage && a.CheckGlobal(Manage) == nil }},
		{"collection grants", []map[string]any{{"collection": "books", "access": "rw"}, {"collection": "films", "access": "r"}}, func(a Access) bool {
			return a.Global == None &&
				a.CheckCollection("books", Write) == nil && a.CheckCollection("books", Manage) != nil &&
				a.CheckCollection("films", Read) == nil && a.CheckCollection("films", Write) != nil &&
				a.CheckCollection("other", Read) != nil && a.CheckGlobal(Read) != nil
		}},
		{"repeated grant keeps the higher mode", []map[string]any{{"collection": "c", "access": "rw"}, {"collection": "c", "access": "r"}}, func(a Access) bool {
			return a.ModeFor("c") == Write
		}},
	} {
		claims := jwt.MapClaims{"exp": future()}
		if c.access != nil {
			claims["access"] = c.access
		}
		acc, err := a.Authenticate(sign(t, secret, jwt.SigningMethodHS256, claims))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !c.check(acc) {
			t.Fatalf("%s: got %+v", c.name, acc)
		}
	}
}

func TestJWTRejections(t *testing.T) {
	a := New(Options{APIKey: secret, ReadOnlyAPIKey: "ro", JWTRBAC: true})
	for _, c := range []struct {
		name  string
		token string
		kind  api.Kind
		text  string
	}{
		{"expired beyond the leeway", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(-JWTLeeway - 5*time.Second).Unix(), "access": "m"}), api.KindForbidden, "ExpiredSignature"},
		{"signed with another key", sign(t, "other-key", jwt.SigningMethodHS256, jwt.MapClaims{"exp": future(), "access": "m"}), api.KindForbidden, "InvalidSignature"},
		{"missing exp", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"access": "m"}), api.KindUnauthorized, "Invalid API key or JWT"},
		{"HS512 is not accepted", sign(t, secret, jwt.SigningMethodHS512, jwt.MapClaims{"exp": future(), "access": "m"}), api.KindUnauthorized, "Invalid API key or JWT"},
		{"alg none", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"exp": future()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), api.KindUnauthorized, "Invalid API key or JWT"},
		{"garbage with dots", "a.b.c", api.KindUnauthorized, "Invalid API key or JWT"},
		{"unknown global mode", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": future(), "access": "w"}), api.KindUnauthorized, `unknown global access mode "w"`},
		{"unknown collection mode", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": future(), "access": []map[string]any{{"collection": "c", "access": "m"}}}), api.KindUnauthorized, `unknown collection access mode "m"`},
		{"payload restriction", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": future(), "access": []map[string]any{{"collection": "c", "access": "r", "payload": map[string]any{"user": "x"}}}}), api.KindUnauthorized, "payload restrictions are not supported"},
		{"empty collection", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": future(), "access": []map[string]any{{"collection": "", "access": "r"}}}), api.KindUnauthorized, "must not be empty"},
		{"value_exists without a checker", sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": future(), "value_exists": map[string]any{"collection": "users", "matches": []any{map[string]any{"key": "user", "value": "alice"}}}}), api.KindUnauthorized, "value_exists claims are not supported"},
	} {
		_, err := a.Authenticate(c.token)
		if api.KindOf(err) != c.kind || !strings.Contains(api.Message(err), c.text) {
			t.Errorf("%s: got kind %v %q, want %v containing %q", c.name, api.KindOf(err), api.Message(err), c.kind, c.text)
		}
	}
	// Inside the leeway an expired token still works.
	tok := sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(-5 * time.Second).Unix(), "access": "r"})
	if acc, err := a.Authenticate(tok); err != nil || acc.Global != Read {
		t.Fatalf("within leeway: %+v %v", acc, err)
	}
	// With jwt_rbac off a valid token is just a wrong key.
	off := New(Options{APIKey: secret})
	if _, err := off.Authenticate(sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": future()})); api.KindOf(err) != api.KindUnauthorized {
		t.Fatalf("JWT accepted with jwt_rbac off: %v", err)
	}
}

func TestJWTAltKeyAndIssue(t *testing.T) {
	a := New(Options{APIKey: secret, AltAPIKey: "rotated", JWTRBAC: true})
	tok, err := IssueJWT("rotated", []CollectionGrant{{Collection: "c", Access: "rw"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := a.Authenticate(tok)
	if err != nil || acc.ModeFor("c") != Write || acc.Global != None {
		t.Fatalf("alt-key token: %+v %v", acc, err)
	}
	expired, _ := IssueJWT(secret, "m", -time.Hour)
	if _, err := a.Authenticate(expired); api.KindOf(err) != api.KindForbidden || api.Message(err) != "ExpiredSignature" {
		t.Fatalf("expired: %v", err)
	}
}

func TestJWTValueExists(t *testing.T) {
	type call struct {
		collection string
		filter     string
	}
	var calls []call
	exists := map[string]bool{"alice": true}
	a := New(Options{APIKey: secret, JWTRBAC: true, ValueExists: func(ctx context.Context, collection string, f *api.Filter) (bool, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("value_exists check without a deadline")
		}
		b, _ := json.Marshal(f)
		calls = append(calls, call{collection, string(b)})
		if collection != "users" {
			return false, api.ErrCollectionNotFound(collection)
		}
		if f.Must[0].Field.Match.Value == "alice" && exists["alice"] {
			return true, nil
		}
		return false, nil
	}})
	mk := func(coll, user string) string {
		return sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"exp": future(), "access": "r",
			"value_exists": map[string]any{"collection": coll, "matches": []any{map[string]any{"key": "user", "value": user}}}})
	}
	if acc, err := a.Authenticate(mk("users", "alice")); err != nil || acc.Global != Read {
		t.Fatalf("existing value: %+v %v", acc, err)
	}
	if len(calls) != 1 || calls[0].collection != "users" || !strings.Contains(calls[0].filter, `"user"`) {
		t.Fatalf("calls %+v", calls)
	}
	if _, err := a.Authenticate(mk("users", "bob")); api.KindOf(err) != api.KindUnauthorized || !strings.Contains(api.Message(err), "stateful validation failed") {
		t.Fatalf("missing value: %v", err)
	}
	exists["alice"] = false // revoking the user revokes the token
	if _, err := a.Authenticate(mk("users", "alice")); api.KindOf(err) != api.KindUnauthorized {
		t.Fatalf("revoked value: %v", err)
	}
	if _, err := a.Authenticate(mk("nope", "alice")); api.KindOf(err) != api.KindForbidden {
		t.Fatalf("missing collection: %v", err)
	}
	failing := New(Options{APIKey: secret, JWTRBAC: true, ValueExists: func(context.Context, string, *api.Filter) (bool, error) {
		return false, errors.New("disk on fire")
	}})
	if _, err := failing.Authenticate(mk("users", "alice")); err == nil || api.KindOf(err) != api.KindInternal {
		t.Fatalf("checker failure must fail closed: %v", err)
	}
}
