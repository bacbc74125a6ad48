package grpcapi

import (
	"testing"

	"github.com/shoal-db/shoal/internal/service"
)

// newRealService returns the real service layer over a temporary storage
// directory; it is closed when the test ends.
func newRealService(t *testing.T) service.API {
	t.Helper()
	svc, err := service.New(service.Options{StorageDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("cannot close service: %v", err)
		}
	})
	return svc
}
