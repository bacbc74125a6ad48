package service

import (
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/meta"
)

func healthState(rf int, shards ...[]meta.Replica) *meta.State {
	st := meta.NewState()
	for _, id := range []uint64{1, 2, 3} {
		st.Peers[id] = &meta.Peer{ID: id, Addr: "n"}
	}
	c := &meta.Collection{Config: api.CollectionConfig{Params: api.CollectionParams{ShardNumber: len(shards), ReplicationFactor: rf}}}
	for _, rs := range shards {
		c.Shards = append(c.Shards, meta.ShardPlacement{Replicas: rs})
	}
	st.Collections["c"] = c
	return st
}

func rep(peer uint64, state api.ReplicaState) meta.Replica {
	return meta.Replica{Peer: peer, State: state}
}

func TestHealthStatuses(t *testing.T) {
	const dead = api.ReplicaState("Dead")
	act := api.ReplicaActive
	for _, tc := range []struct {
		name    string
		st      *meta.State
		want    api.HealthStatus
		below   int
		unread  int
		min     int
		max     int
		reasons []string
	}{
		{"every shard at its factor", healthState(2, []meta.Replica{rep(1, act), rep(2, act)}, []meta.Replica{rep(2, act), rep(3, act)}),
			api.HealthGreen, 0, 0, 2, 2, nil},
		{"a shard below its factor", healthState(2, []meta.Replica{rep(1, act), rep(2, act)}, []meta.Replica{rep(3, act)}),
			api.HealthYellow, 1, 0, 1, 2, []string{"collection c: shard 1 has 1 of 2 Active replicas"}},
		{"a replica not Active", healthState(2, []meta.Replica{rep(1, act), rep(2, dead)}),
			api.HealthYellow, 1, 0, 1, 1, []string{"collection c: shard 0 has 1 of 2 Active replicas (not Active: peer 2 Dead)"}},
		{"more replicas than the factor, one not Active", healthState(1, []meta.Replica{rep(1, act), rep(2, dead)}),
			api.HealthYellow, 0, 0, 1, 1, []string{"collection c: shard 0 has 1 of 1 Active replicas (not Active: peer 2 Dead)"}},
		{"a shard without an Active replica", healthState(2, []meta.Replica{rep(1, dead), rep(2, dead)}, []meta.Replica{rep(3, act), rep(1, act)}),
			api.HealthRed, 1, 1, 0, 2, []string{"collection c: shard 0 has no Active replica (not Active: peer 1 Dead, peer 2 Dead)"}},
		{"a shard without replicas", healthState(1, []meta.Replica{rep(1, act)}, nil),
			api.HealthRed, 1, 1, 0, 1, []string{"collection c: shard 1 has no Active replica"}},
		{"a replica on a removed peer", healthState(1, []meta.Replica{rep(9, act)}),
			api.HealthRed, 1, 1, 0, 0, []string{"collection c: shard 0 has no Active replica (not Active: peer 9 (not a member) Active)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Health(tc.st, false)
			c := h.Collections["c"]
			if h.Status != tc.want || c.Status != tc.want || c.ShardsBelowFactor != tc.below || c.ShardsUnreadable != tc.unread ||
				c.ActiveReplicasMin != tc.min || c.ActiveReplicasMax != tc.max {
				t.Fatalf("got %+v", h)
			}
			if strings.Join(h.Reasons, "|") != strings.Join(tc.reasons, "|") {
				t.Fatalf("reasons %q, want %q", h.Reasons, tc.reasons)
			}
		})
	}
}

func TestHealthWorstCollectionWins(t *testing.T) {
	st := healthState(2, []meta.Replica{rep(1, api.ReplicaActive)})
	st.Collections["b"] = &meta.Collection{Config: api.CollectionConfig{Params: api.CollectionParams{ShardNumber: 1, ReplicationFactor: 1}},
		Shards: []meta.ShardPlacement{{Replicas: []meta.Replica{rep(2, api.ReplicaActive)}}}}
	h := Health(st, false)
	if h.Status != api.HealthYellow || h.Collections["b"].Status != api.HealthGreen || h.Collections["c"].Status != api.HealthYellow {
		t.Fatalf("%+v", h)
	}
	if Health(meta.NewState(), false).Status != api.HealthGreen {
		t.Fatal("an empty cluster is not green")
	}
}

func TestHealthStandaloneAndHiddenCanary(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	ctx := auth.WithAccess(bg, auth.Full)
	for _, name := range []string{"docs", CanaryCollection(7)} {
		mustNil(t, s.CreateCollection(ctx, name, &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceDot}},
			ShardNumber: ptr(3), ReplicationFactor: ptr(2)}))
	}
	h, err := s.ClusterHealth(ctx)
	mustNil(t, err)
	if h.Status != api.HealthGreen || !h.Standalone || len(h.Collections) != 2 || len(h.Reasons) != 0 {
		t.Fatalf("%+v", h)
	}
	if c := h.Collections["docs"]; c.ShardCount != 3 || c.ReplicationFactor != 1 || c.ActiveReplicasMin != 1 {
		t.Fatalf("%+v", c)
	}
	list, err := s.ListCollections(ctx)
	mustNil(t, err)
	if len(list) != 1 || list[0].Name != "docs" {
		t.Fatalf("listing shows %v", list)
	}
	if names, _ := s.SnapshotHooks(t.TempDir()).CollectionNames(ctx); len(names) != 1 || names[0] != "docs" {
		t.Fatalf("snapshot names %v", names)
	}
	// The canary collection is still addressable and in telemetry.
	if ok, err := s.CollectionExists(ctx, CanaryCollection(7)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	tel, err := s.Telemetry(ctx)
	mustNil(t, err)
	if len(tel.Collections) != 2 {
		t.Fatalf("telemetry %+v", tel.Collections)
	}
	if _, err := s.ClusterHealth(auth.WithAccess(bg, auth.Access{})); api.KindOf(err) != api.KindForbidden {
		t.Fatalf("no access: %v", err)
	}
}
