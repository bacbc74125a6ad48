package service

import (
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestNeedsCheck pins which writes a remote primary checks before a
// multi-shard commit: every one whose shard state can refuse it, not a
// plain upsert, which the collection validates in full.
func TestNeedsCheck(t *testing.T) {
	pts := []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"": {1, 2}}}}
	for _, c := range []struct {
		name string
		op   api.UpdateOperation
		want bool
	}{
		{"plain upsert", api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts}}, false},
		{"upsert with update_mode", api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts, UpdateMode: api.UpdateModeInsertOnly}}, false},
		{"upsert with update_filter", api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts, UpdateFilter: &api.Filter{}}}, true},
		{"delete", api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(1)}}}, true},
		{"set_payload", api.UpdateOperation{SetPayload: &api.SetPayload{Payload: api.Payload{"a": 1.0}, Points: []api.PointID{api.NumID(1)}}}, true},
		{"update_vectors", api.UpdateOperation{UpdateVectors: &api.UpdateVectors{}}, true},
	} {
		if got := needsCheck(&c.op); got != c.want {
			t.Errorf("%s: needsCheck = %v, want %v", c.name, got, c.want)
		}
	}
}
