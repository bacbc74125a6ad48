package rest

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/service"
)

// newRealServer starts the REST API over the real service, with real
// shards in a temporary directory, on a real loopback socket.
func newRealServer(t testing.TB, opts Options, ao auth.Options) *testClient {
	t.Helper()
	svc, err := service.New(service.Options{
		StorageDir: t.TempDir(),
		Logger:     slog.New(slog.DiscardHandler),
		Limits:     service.Limits{MaxBatchPoints: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Service = svc
	opts.Auth = auth.New(ao)
	h := New(opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if err := svc.Close(); err != nil {
			t.Errorf("cannot close service: %v", err)
		}
	})
	return &testClient{t: t, base: srv.URL, h: h}
}
