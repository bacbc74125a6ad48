package config

import (
	"fmt"
	"runtime"
)

// IndexingThreads returns the number of background HNSW indexing workers
// of each shard that storage.performance.optimizer_cpu_budget and
// storage.optimizers.max_optimization_threads ask for, the smaller of the
// two that are set; 0 means automatic (one per CPU).
func (c Config) IndexingThreads() int {
	n := 0
	switch b := c.Storage.Performance.OptimizerCPUBudget; {
	case b > 0:
		n = b
	case b < 0:
		n = max(1, runtime.GOMAXPROCS(0)+b)
	}
	if m := c.Storage.Optimizers.MaxOptimizationThreads; m > 0 && (n == 0 || m < n) {
		n = m
	}
	return n
}

// noEffectWarnings names every key set to a value that changes nothing in
// this version (each is accepted at its no-op value without a warning).
func (c Config) noEffectWarnings() []Warning {
	var ws []Warning
	warn := func(key string, value any, why string) {
		ws = append(ws, Warning{Key: key, Message: fmt.Sprintf("%s: %v has no effect in this version: %s", key, value, why)})
	}
	st := c.Storage
	if st.HnswIndex.PayloadM != 0 {
		warn("storage.hnsw_index.payload_m", st.HnswIndex.PayloadM, "Shoal builds no per-payload graph links")
	}
	def := Default().Storage.Optimizers
	if st.Optimizers.VacuumMinVectorNumber != def.VacuumMinVectorNumber {
		warn("storage.optimizers.vacuum_min_vector_number", st.Optimizers.VacuumMinVectorNumber,
			"deleted points are unlinked from the graph once they pass deleted_threshold, without waiting for a count")
	}
	if st.Optimizers.DefaultSegmentNumber != 0 {
		warn("storage.optimizers.default_segment_number", st.Optimizers.DefaultSegmentNumber, "a shard is one store and one graph per vector, not segments")
	}
	if st.Optimizers.MaxSegmentSizeKB != 0 {
		warn("storage.optimizers.max_segment_size_kb", st.Optimizers.MaxSegmentSizeKB, "a shard is one store and one graph per vector, not segments")
	}
	if st.Performance.MaxOptimizationThreads != 0 {
		warn("storage.performance.max_optimization_threads", st.Performance.MaxOptimizationThreads,
			"there is no node-wide optimizer pool; storage.performance.optimizer_cpu_budget and "+
				"storage.optimizers.max_optimization_threads set the indexing workers of each shard")
	}
	ws = append(ws, c.clusterNoEffect(warn)...)
	return ws
}

// clusterNoEffect names the cluster keys this version accepts (so
// configurations written for Qdrant or a later Shoal validate) but does
// not act on, when set to anything but their defaults.
func (c Config) clusterNoEffect(warn func(key string, value any, why string)) []Warning {
	cl, def := c.Cluster, Default().Cluster
	if cl.GRPCTimeoutMS != def.GRPCTimeoutMS {
		warn("cluster.grpc_timeout_ms", cl.GRPCTimeoutMS, "peer calls take the deadline of the client request they serve")
	}
	if cl.Consensus.BootstrapTimeoutSec != def.Consensus.BootstrapTimeoutSec {
		warn("cluster.consensus.bootstrap_timeout_sec", cl.Consensus.BootstrapTimeoutSec, "a node keeps trying to join until it succeeds")
	}
	if cl.Consensus.MaxMessageQueueSize != def.Consensus.MaxMessageQueueSize {
		warn("cluster.consensus.max_message_queue_size", cl.Consensus.MaxMessageQueueSize, "Raft messages are not queued per peer")
	}
	if cl.P2P.ConnectionPoolSize != def.P2P.ConnectionPoolSize {
		warn("cluster.p2p.connection_pool_size", cl.P2P.ConnectionPoolSize, "one multiplexed connection serves each peer")
	}
	return nil
}
