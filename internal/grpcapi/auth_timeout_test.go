package grpcapi

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/service"
)

func signJWT(t *testing.T, key string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientJWT(t *testing.T) {
	ts := startServer(t, serverConfig{auth: auth.Options{APIKey: "jwt-secret", JWTRBAC: true}})
	ctx := ctxT(t)
	admin := ts.client(t, "jwt-secret")
	err := admin.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "j", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	reader := ts.client(t, signJWT(t, "jwt-secret", jwt.MapClaims{"access": "r", "exp": exp}))
	if _, err := reader.Count(ctx, &qdrant.CountPoints{CollectionName: "j"}); err != nil {
		t.Fatalf("read with an r token: %v", err)
	}
	pts := []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2)}}
	_, err = reader.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "j", Points: pts})
	wantCode(t, "write with an r token", err, codes.PermissionDenied, "")

	writer := ts.client(t, signJWT(t, "jwt-secret", jwt.MapClaims{"access": []any{map[string]any{"collection": "j", "access": "rw"}}, "exp": exp}))
	if _, err := writer.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "j", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatalf("write with an rw token on the collection: %v", err)
	}
	err = writer.DeleteCollection(ctx, "j")
	wantCode(t, "manage with an rw token", err, codes.PermissionDenied, "")

	// Tokens the authenticator refuses are refused over gRPC with the code
	// of the authenticator's error kind and its message.
	authn := auth.New(auth.Options{APIKey: "jwt-secret", JWTRBAC: true})
	for name, tok := range map[string]string{
		"forged":  signJWT(t, "other-key", jwt.MapClaims{"access": "m", "exp": exp}),
		"expired": signJWT(t, "jwt-secret", jwt.MapClaims{"access": "m", "exp": time.Now().Add(-time.Hour).Unix()}),
	} {
		_, aerr := authn.Authenticate(tok)
		if aerr == nil {
			t.Fatalf("%s token accepted by the authenticator", name)
		}
		_, err = ts.client(t, tok).ListCollections(ctx)
		wantCode(t, name+" token", err, CodeOf(aerr), api.Message(aerr))
		if c := CodeOf(aerr); c != codes.Unauthenticated && c != codes.PermissionDenied {
			t.Errorf("%s token: code %s", name, c)
		}
	}
}

// slowCount waits for its context in Count, to observe request timeouts.
type slowCount struct{ service.API }

func (slowCount) Count(ctx context.Context, _ string, _ *api.CountRequest, rp api.ReadParams) (*api.CountResult, error) {
	if rp.TimeoutSeconds != 1 {
		return nil, api.ErrBadInput("timeout %d was not passed on", rp.TimeoutSeconds)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestRequestTimeout(t *testing.T) {
	ts := startServer(t, serverConfig{wrap: func(s service.API) service.API { return slowCount{s} }})
	c := ts.client(t, "")
	ctx := ctxT(t)
	start := time.Now()
	_, err := c.Count(ctx, &qdrant.CountPoints{CollectionName: "any", Timeout: qdrant.PtrOf(uint64(1))})
	wantCode(t, "timeout field", err, codes.DeadlineExceeded, "Timeout: ")
	if d := time.Since(start); d < time.Second || d > 10*time.Second {
		t.Fatalf("the 1 s timeout took %v", d)
	}
}
