package api

// ReplicaState is the state of one replica of a shard, spelled as in
// Qdrant's JSON.
type ReplicaState string

// ReplicaActive is a replica that serves reads and writes. It is the only
// state a shard of a standalone node has.
const ReplicaActive ReplicaState = "Active"

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
	ShardID uint32 `json:"shard_id"`
	From    uint64 `json:"from"`
	To      uint64 `json:"to"`
	Sync    bool   `json:"sync"`
}
