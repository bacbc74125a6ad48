package cluster

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/meta"
)

// leaderLoop runs the leader's duties while this node leads: naming the
// cluster once (init_cluster).
func (n *Node) leaderLoop() {
	defer n.wg.Done()
	r := n.getRaft()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-n.closeCh:
			return
		case <-r.LeaderCh():
		case <-tick.C:
		}
		if !n.isLeader() {
			continue
		}
		if n.State().ClusterID == "" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := n.Apply(ctx, &meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeInitCluster, ClusterID: uuid.NewString()})
			cancel()
			if err != nil {
				n.log.Warn("cannot name the cluster", "err", err)
			}
		}
	}
}
