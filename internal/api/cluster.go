package api

import (
	"encoding/json"
	"time"
)

// ReplicaState is the state of one replica of a shard, spelled as in
// Qdrant's JSON.
type ReplicaState string

// ReplicaActive is a replica that serves reads and writes. It is the only
// state a shard of a standalone node has.
const ReplicaActive ReplicaState = "Active"

// The other replica states, with Qdrant's names and meanings.
const (
	// ReplicaDead may lack acknowledged writes: it gets no reads and no
	// writes until a transfer has caught it up.
	ReplicaDead ReplicaState = "Dead"
	// ReplicaPartial is receiving a checkpoint of the shard followed by
	// the live writes; it gets no reads.
	ReplicaPartial ReplicaState = "Partial"
	// ReplicaRecovery is catching up from its primary's op log; it gets
	// no reads.
	ReplicaRecovery ReplicaState = "Recovery"
	// ReplicaInitializing is created and not yet confirmed.
	ReplicaInitializing ReplicaState = "Initializing"
	// ReplicaListener receives writes and serves no reads.
	ReplicaListener ReplicaState = "Listener"
)

// Valid reports whether s is a replica state Shoal knows.
func (s ReplicaState) Valid() bool {
	switch s {
	case ReplicaActive, ReplicaDead, ReplicaPartial, ReplicaRecovery, ReplicaInitializing, ReplicaListener:
		return true
	}
	return false
}

// CollectionClusterInfo is Qdrant's CollectionClusterInfo: where the shards
// of a collection live, as seen from this node. The lists are never nil, so
// that they encode as [] rather than null. Resharding operations are left
// out, as Qdrant leaves them out when none is running.
type CollectionClusterInfo struct {
	PeerID         uint64              `json:"peer_id"`
	ShardCount     int                 `json:"shard_count"`
	LocalShards    []LocalShardInfo    `json:"local_shards"`
	RemoteShards   []RemoteShardInfo   `json:"remote_shards"`
	ShardTransfers []ShardTransferInfo `json:"shard_transfers"`
}

// LocalShardInfo describes one shard replica held by this node.
type LocalShardInfo struct {
	ShardID     uint32       `json:"shard_id"`
	PointsCount uint64       `json:"points_count"`
	State       ReplicaState `json:"state"`
}

// RemoteShardInfo describes one shard replica held by another peer.
type RemoteShardInfo struct {
	ShardID uint32       `json:"shard_id"`
	PeerID  uint64       `json:"peer_id"`
	State   ReplicaState `json:"state"`
}

// ShardTransferInfo describes one shard transfer between peers.
type ShardTransferInfo struct {
	ShardID uint32               `json:"shard_id"`
	From    uint64               `json:"from"`
	To      uint64               `json:"to"`
	Sync    bool                 `json:"sync"`
	Method  *ShardTransferMethod `json:"method,omitempty"`
	Comment *string              `json:"comment,omitempty"`
}

// ClusterStatus is Qdrant's GET /cluster result of a cluster member
// (a standalone node answers {"status":"disabled"}).
type ClusterStatus struct {
	Status                string                       `json:"status"`
	PeerID                uint64                       `json:"peer_id"`
	Peers                 map[string]PeerInfo          `json:"peers"`
	RaftInfo              RaftInfo                     `json:"raft_info"`
	ConsensusThreadStatus ConsensusThreadStatus        `json:"consensus_thread_status"`
	MessageSendFailures   map[string]MessageSendErrors `json:"message_send_failures"`
}

// PeerInfo describes one peer: Qdrant's uri, plus Shoal's failure domains
// and the number of shard replicas the peer holds.
type PeerInfo struct {
	URI      string `json:"uri"`
	Zone     string `json:"zone,omitempty"`
	Region   string `json:"region,omitempty"`
	Replicas int    `json:"replicas"`
	// Labels are the peer's cluster.labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Liveness is the answering node's view of the peer (alive, down,
	// dead) and DownForSec how long the peer has not answered its pings;
	// Draining is set while the peer's replicas move away.
	Liveness   string  `json:"liveness,omitempty"`
	DownForSec float64 `json:"down_for_sec,omitempty"`
	Draining   bool    `json:"draining,omitempty"`
}

// RaftInfo is Qdrant's raft_info.
type RaftInfo struct {
	Term              uint64  `json:"term"`
	Commit            uint64  `json:"commit"`
	PendingOperations int     `json:"pending_operations"`
	Leader            *uint64 `json:"leader"`
	Role              string  `json:"role,omitempty"`
	IsVoter           bool    `json:"is_voter"`
}

// ConsensusThreadStatus is Qdrant's consensus_thread_status.
type ConsensusThreadStatus struct {
	Status     string    `json:"consensus_thread_status"`
	LastUpdate time.Time `json:"last_update,omitzero"`
	Err        string    `json:"err,omitempty"`
}

// MessageSendErrors counts failed messages to one peer.
type MessageSendErrors struct {
	Count                int        `json:"count"`
	LatestError          *string    `json:"latest_error"`
	LatestErrorTimestamp *time.Time `json:"latest_error_timestamp"`
}

// ShardTransferMethod is Qdrant's shard transfer method.
type ShardTransferMethod string

// Transfer methods.
const (
	TransferStreamRecords ShardTransferMethod = "stream_records"
	TransferSnapshot      ShardTransferMethod = "snapshot"
	TransferWalDelta      ShardTransferMethod = "wal_delta"
)

// ShardTransfer names a transfer of one shard between two peers
// (move_shard, replicate_shard, abort_transfer, restart_transfer).
type ShardTransfer struct {
	ShardID    uint32               `json:"shard_id"`
	FromPeerID uint64               `json:"from_peer_id"`
	ToPeerID   uint64               `json:"to_peer_id"`
	Method     *ShardTransferMethod `json:"method,omitempty"`
}

// ReplicaRef names one replica (drop_replica).
type ReplicaRef struct {
	ShardID uint32 `json:"shard_id"`
	PeerID  uint64 `json:"peer_id"`
}

// ClusterOperations is the body of POST /collections/{c}/cluster: exactly
// one operation. The sharding-key, resharding and replicate-points
// operations are recognised and refused.
type ClusterOperations struct {
	MoveShard         *ShardTransfer  `json:"move_shard,omitempty"`
	ReplicateShard    *ShardTransfer  `json:"replicate_shard,omitempty"`
	AbortTransfer     *ShardTransfer  `json:"abort_transfer,omitempty"`
	RestartTransfer   *ShardTransfer  `json:"restart_transfer,omitempty"`
	DropReplica       *ReplicaRef     `json:"drop_replica,omitempty"`
	CreateShardingKey json.RawMessage `json:"create_sharding_key,omitempty"`
	DropShardingKey   json.RawMessage `json:"drop_sharding_key,omitempty"`
	StartResharding   json.RawMessage `json:"start_resharding,omitempty"`
	AbortResharding   json.RawMessage `json:"abort_resharding,omitempty"`
	ReplicatePoints   json.RawMessage `json:"replicate_points,omitempty"`
}

// Check validates the method of a transfer.
func (m *ShardTransferMethod) Check() error {
	if m == nil {
		return nil
	}
	switch *m {
	case TransferStreamRecords, TransferSnapshot, TransferWalDelta:
		return nil
	case "resharding_stream_records":
		return ErrBadRequest("the resharding_stream_records method belongs to resharding, which this server does not offer")
	}
	return ErrBadInput("unknown shard transfer method %q", string(*m))
}
