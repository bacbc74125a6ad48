package cluster

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/api"
)

// Status reports this node's view of the cluster in Qdrant's GET /cluster
// shape, with each peer's failure domains and replica count.
func (n *Node) Status() *api.ClusterStatus {
	st := n.State()
	out := &api.ClusterStatus{Status: "enabled", PeerID: n.id, Peers: map[string]api.PeerInfo{},
		MessageSendFailures: map[string]api.MessageSendErrors{}}
	for id, p := range st.Peers {
		out.Peers[strconv.FormatUint(id, 10)] = api.PeerInfo{URI: p.URI, Zone: p.Zone, Region: p.Region, Labels: p.Labels, Replicas: st.ReplicaCount(id)}
	}
	out.RaftInfo = n.raftInfo()
	out.ConsensusThreadStatus = api.ConsensusThreadStatus{Status: "working", LastUpdate: n.lastContact()}
	if msg := n.form.foreignCluster(); msg != "" {
		out.ConsensusThreadStatus = api.ConsensusThreadStatus{Status: "stopped_with_err", Err: msg}
	}
	if n.isClosed() {
		out.ConsensusThreadStatus = api.ConsensusThreadStatus{Status: "stopped"}
	}
	return out
}

func (n *Node) lastContact() time.Time {
	r := n.getRaft()
	if r == nil {
		return time.Now().UTC()
	}
	if r.State() == raft.Leader {
		return time.Now().UTC()
	}
	return r.LastContact().UTC()
}

func (n *Node) isClosed() bool {
	select {
	case <-n.closeCh:
		return true
	default:
		return false
	}
}

func (n *Node) raftInfo() api.RaftInfo {
	var info api.RaftInfo
	r := n.getRaft()
	if r == nil {
		info.Role = "Follower"
		return info
	}
	info.Term = r.CurrentTerm()
	info.Commit = r.CommitIndex()
	if applied := n.fsm.Applied(); info.Commit > applied {
		info.PendingOperations = int(info.Commit - applied)
	}
	if _, id := r.LeaderWithID(); id != "" {
		if v, err := strconv.ParseUint(string(id), 10, 64); err == nil {
			info.Leader = &v
		}
	}
	switch r.State() {
	case raft.Leader:
		info.Role = "Leader"
	case raft.Candidate:
		info.Role = "Candidate"
	default:
		info.Role = "Follower"
	}
	if cf := r.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			if s.ID == raft.ServerID(strconv.FormatUint(n.id, 10)) && s.Suffrage == raft.Voter {
				info.IsVoter = true
			}
		}
	}
	return info
}

func (n *Node) isLeader() bool {
	r := n.getRaft()
	return r != nil && r.State() == raft.Leader
}

type nodeMetrics struct{}

// newNodeMetrics registers Qdrant's cluster gauges (cluster_enabled is
// internal/metrics'), read from the node on
// every scrape.
func newNodeMetrics(n *Node, reg prometheus.Registerer) *nodeMetrics {
	if reg == nil {
		return &nodeMetrics{}
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("cluster_peers_total", "Total number of cluster peers.", func() float64 { return float64(len(n.State().Peers)) })
	gauge("cluster_term", "Current cluster term.", func() float64 { return float64(n.raftInfo().Term) })
	gauge("cluster_commit", "Index of last committed (finalized) operation cluster peer is aware of.", func() float64 { return float64(n.raftInfo().Commit) })
	gauge("cluster_pending_operations_total", "Total number of pending operations for cluster peer.", func() float64 { return float64(n.raftInfo().PendingOperations) })
	gauge("cluster_voter", "Whether the cluster peer is a voter (1) or learner (0).", func() float64 {
		if n.raftInfo().IsVoter {
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
