package api

// HealthStatus is the health of a collection or of the whole cluster, as
// GET /cluster/health reports it.
type HealthStatus string

// Health statuses, from best to worst.
const (
	// HealthGreen: every shard has as many replicas as its replication
	// factor asks, all of them Active.
	HealthGreen HealthStatus = "green"
	// HealthYellow: every shard is readable (at least one Active
	// replica), but some shard is below its replication factor or holds a
	// replica that is not Active.
	HealthYellow HealthStatus = "yellow"
	// HealthRed: some shard has no Active replica, so part of the data
	// cannot be read.
	HealthRed HealthStatus = "red"
)

// Rank orders the statuses: 0 green, 1 yellow, 2 red.
func (h HealthStatus) Rank() int {
	switch h {
	case HealthGreen:
		return 0
	case HealthYellow:
		return 1
	default:
		return 2
	}
}

// Worse returns the worse of h and o.
func (h HealthStatus) Worse(o HealthStatus) HealthStatus {
	if o.Rank() > h.Rank() {
		return o
	}
	return h
}

// ClusterHealth is Shoal's GET /cluster/health result: the worst status of
// the collections, the reasons for it, and each collection's health. The
// lists and map are never nil, so that they encode as [] and {}.
type ClusterHealth struct {
	Status HealthStatus `json:"status"`
	// Standalone is true on a node without cluster mode (every shard is
	// local and Active).
	Standalone bool `json:"standalone"`
	// Reasons explain a status other than green, one line per shard
	// problem, each naming its collection.
	Reasons     []string                    `json:"reasons"`
	Collections map[string]CollectionHealth `json:"collections"`
}

// CollectionHealth is the health of one collection.
type CollectionHealth struct {
	Status            HealthStatus `json:"status"`
	ShardCount        int          `json:"shard_count"`
	ReplicationFactor int          `json:"replication_factor"`
	// ShardsBelowFactor counts the shards with fewer Active replicas than
	// the replication factor (readable or not).
	ShardsBelowFactor int `json:"shards_below_replication_factor"`
	// ShardsUnreadable counts the shards without an Active replica.
	ShardsUnreadable int `json:"shards_unreadable"`
	// ActiveReplicasMin and ActiveReplicasMax are the fewest and most
	// Active replicas of a shard.
	ActiveReplicasMin int `json:"active_replicas_min"`
	ActiveReplicasMax int `json:"active_replicas_max"`
	// InactiveReplicas counts the replicas that are not Active.
	InactiveReplicas int      `json:"inactive_replicas"`
	Reasons          []string `json:"reasons"`
}
