package service

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/meta"
)

// CanaryPrefix starts the name of every node's canary collection
// (CanaryCollection). Collections named so are left out of collection
// listings (REST GET /collections, gRPC List) and nowhere else: they are
// addressable by name, in metrics, telemetry and health.
const CanaryPrefix = "__shoal_canary_"

// CanaryCollection names the canary collection of the node with the given
// peer id: one per node, so that the nodes of a cluster never write to the
// same one.
func CanaryCollection(peer uint64) string { return CanaryPrefix + strconv.FormatUint(peer, 10) }

// IsCanary reports whether name is a canary collection's.
func IsCanary(name string) bool { return strings.HasPrefix(name, CanaryPrefix) }

// HealthReadTimeout bounds the leader round trip of ClusterHealth.
const HealthReadTimeout = 2 * time.Second

// ClusterHealth reports GET /cluster/health from the metadata: per
// collection, whether every shard has its replication factor of Active
// replicas (green), is readable through at least one Active replica
// (yellow), or has none (red); the cluster's status is the worst. A
// standalone node's shards are all local and Active: green. It needs
// global read access.
//
// In a cluster the metadata is first brought up to date with the leader
// (a linearizable read, as GET /collections does), for at most
// HealthReadTimeout: without a leader the answer is this node's applied
// metadata, at least yellow, with the reason.
func (s *Service) ClusterHealth(ctx context.Context) (*api.ClusterHealth, error) {
	if err := auth.FromContext(ctx).CheckGlobal(auth.Read); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, HealthReadTimeout)
	err := s.linearize(rctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		return nil, fail(ctx.Err())
	}
	h := Health(s.state(), s.cluster == nil)
	if err != nil {
		h.Status = h.Status.Worse(api.HealthYellow)
		h.Reasons = append([]string{"cannot confirm the metadata with a leader, showing this node's: " + api.Message(err)}, h.Reasons...)
	}
	return h, nil
}

// LocalHealth is ClusterHealth from this node's applied metadata, without
// asking the leader (for metrics: every node reports what it knows).
func (s *Service) LocalHealth() *api.ClusterHealth { return Health(s.state(), s.cluster == nil) }

// Health computes the health of every collection of st (see
// ClusterHealth). With standalone set, the shards are all local and Active
// whatever the placement says.
func Health(st *meta.State, standalone bool) *api.ClusterHealth {
	out := &api.ClusterHealth{Status: api.HealthGreen, Standalone: standalone, Reasons: []string{},
		Collections: map[string]api.CollectionHealth{}}
	for _, name := range st.CollectionNames() {
		h := collectionHealth(st, st.Collections[name], standalone)
		out.Collections[name] = h
		out.Status = out.Status.Worse(h.Status)
		for _, r := range h.Reasons {
			out.Reasons = append(out.Reasons, "collection "+name+": "+r)
		}
	}
	return out
}

func collectionHealth(st *meta.State, m *meta.Collection, standalone bool) api.CollectionHealth {
	rf := max(m.Config.Params.ReplicationFactor, 1)
	h := api.CollectionHealth{Status: api.HealthGreen, ReplicationFactor: rf, Reasons: []string{}}
	if standalone || m.Shards == nil {
		// Every shard is one local Active replica; the replication
		// factor has no effect without peers.
		n := max(m.Config.Params.ShardNumber, 1)
		h.ShardCount, h.ReplicationFactor = n, 1
		h.ActiveReplicasMin, h.ActiveReplicasMax = 1, 1
		return h
	}
	h.ShardCount = len(m.Shards)
	h.ActiveReplicasMin = -1
	for i, sp := range m.Shards {
		active := 0
		var inactive []string
		for _, r := range sp.Replicas {
			_, member := st.Peers[r.Peer]
			switch {
			case !member:
				inactive = append(inactive, fmt.Sprintf("peer %d (not a member) %s", r.Peer, r.State))
			case r.State != api.ReplicaActive:
				inactive = append(inactive, fmt.Sprintf("peer %d %s", r.Peer, r.State))
			default:
				active++
			}
		}
		sort.Strings(inactive)
		h.InactiveReplicas += len(inactive)
		if h.ActiveReplicasMin < 0 || active < h.ActiveReplicasMin {
			h.ActiveReplicasMin = active
		}
		h.ActiveReplicasMax = max(h.ActiveReplicasMax, active)
		if active < rf {
			h.ShardsBelowFactor++
		}
		detail := ""
		if len(inactive) > 0 {
			detail = " (not Active: " + strings.Join(inactive, ", ") + ")"
		}
		switch {
		case active == 0:
			h.ShardsUnreadable++
			h.Status = api.HealthRed
			h.Reasons = append(h.Reasons, fmt.Sprintf("shard %d has no Active replica%s", i, detail))
		case active < rf || len(inactive) > 0:
			h.Status = h.Status.Worse(api.HealthYellow)
			h.Reasons = append(h.Reasons, fmt.Sprintf("shard %d has %d of %d Active replicas%s", i, active, rf, detail))
		}
	}
	if h.ActiveReplicasMin < 0 {
		h.ActiveReplicasMin = 0
	}
	return h
}
