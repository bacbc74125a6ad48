package server

import (
	"context"
	"strconv"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/cluster"
	"github.com/shoal-db/shoal/internal/metrics"
)

// opsMetrics are the operator metrics the composition root owns: cluster
// health (from the metadata), disk space of the data directories, and in
// cluster mode leader changes and peer liveness as this node knows them.
type opsMetrics struct {
	leaderChanges prometheus.Counter

	mu      sync.Mutex // guards the fields below
	leader  uint64     // last leader observed (0: none)
	failing map[uint64]bool
}

// registerOpsMetrics registers the health collector, the disk gauges and,
// in cluster mode, the leader and liveness metrics (observed once the node
// starts, see observeCluster).
func (s *Server) registerOpsMetrics() error {
	health := metrics.NewHealthCollector(func(context.Context) (*api.ClusterHealth, error) {
		return s.svc.LocalHealth(), nil
	}, s.log.With("component", "metrics"))
	if err := s.reg.Register(health); err != nil {
		return err
	}
	disk := &diskCollector{
		paths: map[string]string{"storage": s.cfg.Storage.StoragePath, "snapshots": s.cfg.Storage.SnapshotsPath},
		free:  prometheus.NewDesc("shoal_disk_free_bytes", "bytes available to Shoal on the file system of a data directory (storage, snapshots)", []string{"path"}, nil),
		total: prometheus.NewDesc("shoal_disk_total_bytes", "size of the file system of a data directory (storage, snapshots)", []string{"path"}, nil),
	}
	if err := s.reg.Register(disk); err != nil {
		return err
	}
	if s.cl == nil {
		return nil
	}
	m := &opsMetrics{failing: map[uint64]bool{},
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_cluster_leader_changes_total",
			Help: "times this node learnt of a new Raft leader (an election it saw end)",
		})}
	s.ops = m
	node := s.cl.node
	for _, c := range []prometheus.Collector{
		m.leaderChanges,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shoal_cluster_leader_known", Help: "1 when this node knows a Raft leader"}, func() float64 {
			if node.Status().RaftInfo.Leader != nil {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shoal_cluster_is_leader", Help: "1 when this node is the Raft leader"}, func() float64 {
			if node.Status().RaftInfo.Role == "Leader" {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shoal_cluster_transfers_total",
			Help: "checkpoint transfers this node sent as a shard's primary (filling a new, moved or lagging replica)"},
			func() float64 { n, _ := s.svc.TransferStats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shoal_cluster_transfer_bytes_total",
			Help: "bytes of the checkpoint transfers this node sent"},
			func() float64 { _, b := s.svc.TransferStats(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shoal_cluster_transfer_seconds_total",
			Help: "time spent on the checkpoint transfers this node sent, from the checkpoint to the receiver's answer"},
			func() float64 { return s.svc.TransferTime().Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shoal_cluster_heal_actions_total",
			Help: "allocator actions (replicas added, moved, dropped, primaries handed over, peers removed) this node applied while it led"},
			func() float64 { return float64(s.svc.HealActions()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "shoal_cluster_dead_peers_replaced_total",
			Help: "dead peers whose replicas this node, leading, re-created elsewhere before removing them"},
			func() float64 { return float64(s.svc.DeadPeersReplaced()) }),
		&peerDownCollector{s: s, desc: prometheus.NewDesc("shoal_cluster_peer_down_seconds",
			"how long a peer has not answered this node's pings (every node pings every member every 500 ms; 0 when it answers)", []string{"peer"}, nil)},
		&peerUpCollector{s: s, desc: prometheus.NewDesc("shoal_cluster_peer_up",
			"peer liveness as this node knows it: itself; on the leader every member (0 once heartbeats to it fail, 1 again when they resume); on a follower the leader it hears from",
			[]string{"peer"}, nil)},
	} {
		if err := s.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// observeCluster follows the started node's Raft events into opsMetrics.
func (s *Server) observeCluster() error {
	m := s.ops
	return s.cl.node.Observe(cluster.Observer{
		Leader: func(leader uint64) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if leader != 0 && leader != m.leader {
				m.leaderChanges.Inc()
			}
			if leader != m.leader {
				// Heartbeat failures are the old leader's knowledge.
				clear(m.failing)
			}
			m.leader = leader
		},
		Heartbeat: func(peer uint64, ok bool) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if ok {
				delete(m.failing, peer)
			} else {
				m.failing[peer] = true
			}
		},
	})
}

type peerUpCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func (c *peerUpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *peerUpCollector) Collect(ch chan<- prometheus.Metric) {
	node := c.s.cl.node
	self := node.ID()
	st := node.Status()
	up := map[uint64]bool{self: true}
	switch {
	case st.RaftInfo.Role == "Leader":
		m := c.s.ops
		m.mu.Lock()
		for _, id := range node.State().PeerIDs() {
			if id != self {
				up[id] = !m.failing[id]
			}
		}
		m.mu.Unlock()
	case st.RaftInfo.Leader != nil:
		up[*st.RaftInfo.Leader] = true
	}
	for id, ok := range up {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, strconv.FormatUint(id, 10))
	}
}

// peerDownCollector reports, per member, how long it has not answered
// this node's pings.
type peerDownCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func (c *peerDownCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *peerDownCollector) Collect(ch chan<- prometheus.Metric) {
	for _, id := range c.s.cl.node.State().PeerIDs() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, c.s.svc.PeerLiveness(id).DownFor.Seconds(), strconv.FormatUint(id, 10))
	}
}

// diskCollector reports the free and total space of the file systems that
// hold the data directories, read on every scrape.
type diskCollector struct {
	paths       map[string]string
	free, total *prometheus.Desc
}

func (d *diskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.free; ch <- d.total }

func (d *diskCollector) Collect(ch chan<- prometheus.Metric) {
	for label, p := range d.paths {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(p, &fs); err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(d.free, prometheus.GaugeValue, float64(fs.Bavail)*float64(fs.Bsize), label)
		ch <- prometheus.MustNewConstMetric(d.total, prometheus.GaugeValue, float64(fs.Blocks)*float64(fs.Bsize), label)
	}
}
