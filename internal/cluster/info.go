package cluster

import (
	"log/slog"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// RaftInfo is Qdrant's raft_info of GET /cluster.
type RaftInfo struct {
	Term              uint64  `json:"term"`
	Commit            uint64  `json:"commit"`
	PendingOperations int     `json:"pending_operations"`
	Leader            *uint64 `json:"leader"`
	Role              string  `json:"role"`
	IsVoter           bool    `json:"is_voter"`
}

// Info is this node's view of the cluster for GET /cluster.
type Info struct {
	PeerID    uint64
	ClusterID string
	Raft      RaftInfo
	// Voters are the Raft voters' peer ids.
	Voters map[uint64]bool
}

// Info reports this node's view of Raft.
func (n *Node) Info() Info {
	info := Info{PeerID: n.id, ClusterID: n.State().ClusterID, Voters: map[uint64]bool{}}
	r := n.getRaft()
	if r == nil {
		info.Raft.Role = "Follower"
		return info
	}
	info.Raft.Term = r.CurrentTerm()
	info.Raft.Commit = r.CommitIndex()
	if applied := n.fsm.Applied(); info.Raft.Commit > applied {
		info.Raft.PendingOperations = int(info.Raft.Commit - applied)
	}
	if _, id := r.LeaderWithID(); id != "" {
		if v, err := strconv.ParseUint(string(id), 10, 64); err == nil {
			info.Raft.Leader = &v
		}
	}
	switch r.State() {
	case raft.Leader:
		info.Raft.Role = "Leader"
	case raft.Candidate:
		info.Raft.Role = "Candidate"
	default:
		info.Raft.Role = "Follower"
	}
	if cf := r.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			id, err := strconv.ParseUint(string(s.ID), 10, 64)
			if err != nil {
				continue
			}
			if s.Suffrage == raft.Voter {
				info.Voters[id] = true
			}
		}
	}
	info.Raft.IsVoter = info.Voters[n.id]
	return info
}

func (n *Node) isLeader() bool {
	r := n.getRaft()
	return r != nil && r.State() == raft.Leader
}

type nodeMetrics struct{}

// newNodeMetrics registers Qdrant's cluster gauges, read from the node on
// every scrape.
func newNodeMetrics(n *Node, reg prometheus.Registerer) *nodeMetrics {
	if reg == nil {
		return &nodeMetrics{}
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("cluster_enabled", "Whether cluster support is enabled (1) or not (0).", func() float64 { return 1 })
	gauge("cluster_peers_total", "Total number of cluster peers.", func() float64 { return float64(len(n.State().Peers)) })
	gauge("cluster_term", "Current cluster term.", func() float64 { return float64(n.Info().Raft.Term) })
	gauge("cluster_commit", "Index of last committed (finalized) operation cluster peer is aware of.", func() float64 { return float64(n.Info().Raft.Commit) })
	gauge("cluster_pending_operations_total", "Total number of pending operations for cluster peer.", func() float64 { return float64(n.Info().Raft.PendingOperations) })
	gauge("cluster_voter", "Whether the cluster peer is a voter (1) or learner (0).", func() float64 {
		if n.Info().Raft.IsVoter {
			return 1
		}
		return 0
	})
	return &nodeMetrics{}
}

// newHCLogger routes hashicorp/raft's logging into slog (warnings and
// above; raft's info lines would repeat every election).
func newHCLogger(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{l}, DisableTime: true})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	switch {
	case strings.Contains(msg, "[ERROR]"):
		w.l.Error(msg)
	case strings.Contains(msg, "[WARN]"):
		w.l.Warn(msg)
	default:
		w.l.Info(msg)
	}
	return len(p), nil
}
