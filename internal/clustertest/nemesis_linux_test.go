package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/clustertest/proc"
)

// netnsProcCluster prepares n shoal processes for the nemesis, each in a
// network namespace of its own on one bridge (a regionNet without
// delays), serving on its namespace's address at Qdrant's default ports;
// the test's clients reach them over the bridge. The partitioner it
// returns cuts the peers apart with nftables rules inside the namespaces.
// It returns nil when this machine cannot make namespaces or has no nft:
// the nemesis then runs on loopback without partitions.
func netnsProcCluster(t *testing.T, n int, extra ...string) (*procCluster, partitioner) {
	if why := netnsUnavailable(); why != "" {
		t.Logf("network partitions are not part of this run: %s", why)
		return nil, nil
	}
	bin := proc.Build(t)
	rn := newRegionNet(t, make([]time.Duration, n))
	const rest, grpc, p2p = 6333, 6334, 6335
	var join []string
	for _, a := range rn.addrs {
		join = append(join, a+":"+strconv.Itoa(p2p))
	}
	pc := &procCluster{t: t, bin: bin, nodes: make([]*proc.Node, n)}
	for i := range n {
		env := append([]string{
			"QDRANT__CLUSTER__ENABLED=true",
			"SHOAL__CLUSTER__SECRET=" + Secret,
			"SHOAL__CLUSTER__JOIN=" + strings.Join(join, ","),
			"SHOAL__CLUSTER__BOOTSTRAP_EXPECT=" + strconv.Itoa(n),
			"SHOAL__CLUSTER__ADVERTISE_URI=http://" + join[i],
			"QDRANT__CLUSTER__CONSENSUS__TICK_PERIOD_MS=50",
			"SHOAL__CANARY__ENABLED=false",
			"QDRANT__LOG_LEVEL=INFO",
		}, extra...)
		pc.opts = append(pc.opts, proc.NodeOptions{Name: fmt.Sprintf("node%d", i), Dir: t.TempDir(), Env: env,
			Host: rn.addrs[i], Prefix: []string{"ip", "netns", "exec", rn.ns[i]},
			HTTPPort: rest, GRPCPort: grpc, P2PPort: p2p})
	}
	return pc, rn
}

// netnsUnavailable says why network namespaces with nftables cannot be
// used here ("" when they can).
func netnsUnavailable() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "no " + tool + " command (iproute2, nftables)"
		}
	}
	return ""
}

// partition cuts the nodes into groups: inside each node's namespace an
// nftables table drops every packet from or to the nodes of the other
// groups (open connections stall, as in a real partition); the test's
// own clients still reach every node. A node in no group is cut from all.
func (n *regionNet) partition(groups ...[]int) {
	n.heal()
	for i := range n.ns {
		var others []string
		for j, a := range n.addrs {
			if j != i && !sameGroup(groups, i, j) {
				others = append(others, a)
			}
		}
		if len(others) == 0 {
			continue
		}
		set := "{ " + strings.Join(others, ", ") + " }"
		rules := fmt.Sprintf(`table inet shoalpart {
	chain input { type filter hook input priority 0; policy accept; ip saddr %s drop; }
	chain output { type filter hook output priority 0; policy accept; ip daddr %s drop; }
}
`, set, set)
		cmd := exec.Command("ip", "netns", "exec", n.ns[i], "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			n.t.Fatalf("nft in %s: %v\n%s", n.ns[i], err, out)
		}
	}
}

// heal removes every partition rule.
func (n *regionNet) heal() {
	for _, ns := range n.ns {
		// The table may not exist; deleting a missing one fails harmlessly.
		exec.Command("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "shoalpart").Run()
	}
}

func sameGroup(groups [][]int, i, j int) bool {
	for _, g := range groups {
		if slices.Contains(g, i) && slices.Contains(g, j) {
			return true
		}
	}
	return false
}
