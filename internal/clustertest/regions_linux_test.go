package clustertest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/clustertest/proc"
	"github.com/shoal-db/shoal/internal/faultnet"
)

// regionNet is a set of Linux network namespaces the test makes: one
// "switch" namespace holding a bridge, one namespace per region joined to
// it by a veth pair, and a veth from the test's own namespace so that its
// clients reach the nodes. Every address is in one 10.213.X.0/24 (X
// random, so that two sets never share a subnet), inside these
// namespaces; all of it is deleted at the end of the test.
//
// The latency between regions comes from a fault proxy in each region's
// namespace in front of its node's peer port (this machine's kernel has no
// tc netem): every peer connection into region j waits delays[j] each way.
// The proxy is this test binary run again inside the namespace
// (TestRegionProxyHelper).
type regionNet struct {
	t      *testing.T
	prefix string
	sw     string
	ns     []string
	addrs  []string
	delays []time.Duration
	hostIf string
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newRegionNet makes one namespace per delay (the one-way delay of peer
// traffic into that region).
func newRegionNet(t *testing.T, delays []time.Duration) *regionNet {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip, tc)")
	}
	id := fmt.Sprintf("%04x", rand.IntN(1<<16))
	subnet := fmt.Sprintf("10.213.%d", 1+rand.IntN(250))
	n := &regionNet{t: t, prefix: "shoal" + id, sw: "shoal" + id + "-sw", hostIf: "sh" + id + "h"}
	t.Cleanup(n.close)
	sh(t, "ip", "netns", "add", n.sw)
	sh(t, "ip", "-n", n.sw, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", n.sw, "link", "set", "br0", "up")
	sh(t, "ip", "-n", n.sw, "link", "set", "lo", "up")
	// The test's own end.
	sh(t, "ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", "hostp", "netns", n.sw)
	sh(t, "ip", "-n", n.sw, "link", "set", "hostp", "master", "br0")
	sh(t, "ip", "-n", n.sw, "link", "set", "hostp", "up")
	sh(t, "ip", "addr", "add", subnet+".254/24", "dev", n.hostIf)
	sh(t, "ip", "link", "set", n.hostIf, "up")
	for i, d := range delays {
		ns := fmt.Sprintf("%s-r%d", n.prefix, i)
		addr := fmt.Sprintf("%s.%d", subnet, i+1)
		sh(t, "ip", "netns", "add", ns)
		n.ns = append(n.ns, ns)
		n.addrs = append(n.addrs, addr)
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
		sh(t, "ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", fmt.Sprintf("r%d", i), "netns", n.sw)
		sh(t, "ip", "-n", n.sw, "link", "set", fmt.Sprintf("r%d", i), "master", "br0")
		sh(t, "ip", "-n", n.sw, "link", "set", fmt.Sprintf("r%d", i), "up")
		sh(t, "ip", "-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		sh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
		n.delays = append(n.delays, d)
	}
	return n
}

// cut takes region i's link down (true) or up again (false).
func (n *regionNet) cut(i int, down bool) {
	state := "up"
	if down {
		state = "down"
	}
	sh(n.t, "ip", "-n", n.ns[i], "link", "set", "eth0", state)
}

// proxy starts region i's peer proxy: it listens on the region's address
// at port listen and forwards to 127.0.0.1:target in the region, delaying
// both directions by the region's delay.
func (n *regionNet) proxy(i, listen, target int) {
	t := n.t
	cmd := exec.Command("ip", "netns", "exec", n.ns[i], os.Args[0], "-test.run=^TestRegionProxyHelper$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("SHOAL_REGION_PROXY=%s:%d,127.0.0.1:%d,%s", n.addrs[i], listen, target, n.delays[i]))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// TestRegionProxyHelper is the region proxy of TestThreeRegions when run
// with SHOAL_REGION_PROXY=listen,target,delay (inside a namespace); it
// serves until killed. Otherwise it checks that the proxy delays what it
// forwards.
func TestRegionProxyHelper(t *testing.T) {
	spec := os.Getenv("SHOAL_REGION_PROXY")
	if spec == "" {
		echo, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer echo.Close()
		go func() {
			c, err := echo.Accept()
			if err == nil {
				io.Copy(c, c)
				c.Close()
			}
		}()
		p, err := faultnet.NewProxy(echo.Addr().String(), faultnet.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.Delay(30*time.Millisecond, 0)
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if rtt := time.Since(start); rtt < 60*time.Millisecond {
			t.Fatalf("round trip through a 30 ms proxy took %s", rtt)
		}
		return
	}
	parts := strings.Split(spec, ",")
	d, err := time.ParseDuration(parts[2])
	if err != nil || len(parts) != 3 {
		t.Fatalf("SHOAL_REGION_PROXY=%q: want listen,target,delay", spec)
	}
	p, err := faultnet.NewProxy(parts[1], faultnet.Options{Listen: parts[0]})
	if err != nil {
		t.Fatal(err)
	}
	p.Delay(d, 0)
	select {} // until killed
}

func (n *regionNet) close() {
	exec.Command("ip", "link", "del", n.hostIf).Run()
	for _, ns := range append(slices.Clone(n.ns), n.sw) {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// TestThreeRegions runs one shoal process per region, each in its own
// network namespace, with 20, 30 and 45 ms each way on peer connections
// into it (round trips of 40 to 90 ms between regions): the cluster forms, keeps one leader for
// ten seconds, serves default reads from the local region (no cross-region
// round trip), survives the loss of a region's link (writes go on through
// the other two) and catches that region up when the link returns.
func TestThreeRegions(t *testing.T) {
	delays := []time.Duration{20 * time.Millisecond, 30 * time.Millisecond, 45 * time.Millisecond}
	bin := proc.Build(t)
	rn := newRegionNet(t, delays)
	const p2p, rest, grpc, proxied = 6335, 6333, 6334, 7335
	var join []string
	for i, a := range rn.addrs {
		join = append(join, a+":"+strconv.Itoa(proxied))
		rn.proxy(i, proxied, p2p)
	}
	nodes := make([]*proc.Node, len(delays))
	for i := range nodes {
		nodes[i] = proc.Start(t, bin, proc.NodeOptions{
			Name: fmt.Sprintf("region%d", i), Host: rn.addrs[i], Prefix: []string{"ip", "netns", "exec", rn.ns[i]},
			HTTPPort: rest, GRPCPort: grpc, P2PPort: p2p,
			Env: []string{
				"QDRANT__CLUSTER__ENABLED=true",
				"SHOAL__CLUSTER__SECRET=" + Secret,
				"SHOAL__CLUSTER__JOIN=" + strings.Join(join, ","),
				"SHOAL__CLUSTER__BOOTSTRAP_EXPECT=3",
				"SHOAL__CLUSTER__ADVERTISE_URI=http://" + join[i],
				"SHOAL__CLUSTER__P2P__HOST=127.0.0.1",
				"SHOAL__CLUSTER__REGION=r" + strconv.Itoa(i),
				"SHOAL__CLUSTER__ZONE=r" + strconv.Itoa(i) + "a",
				"SHOAL__CLUSTER__NODE_DOWN_AFTER=2s",
				"SHOAL__CANARY__ENABLED=false",
				"QDRANT__LOG_LEVEL=INFO",
			}})
	}
	pc := &procCluster{t: t, bin: bin, nodes: nodes}
	pc.waitReady(60 * time.Second)
	pc.waitFormed(60 * time.Second)

	// One stable leader.
	leader := func(i int) (uint64, uint64) {
		st, err := pc.status(i)
		if err != nil || st.RaftInfo.Leader == nil {
			return 0, 0
		}
		return *st.RaftInfo.Leader, st.RaftInfo.Term
	}
	first, term := leader(0)
	if first == 0 {
		t.Fatal("no leader after formation")
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		for i := range nodes {
			if l, tm := leader(i); l != first || tm != term {
				t.Fatalf("node %d sees leader %d in term %d, was %d in term %d", i, l, tm, first, term)
			}
		}
	}

	// A collection with a replica in every region.
	base := nodes[0].HTTP()
	if code, raw, err := httpJSON(base, "PUT", "/collections/geo", map[string]any{
		"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": 2, "replication_factor": 3}, 30*time.Second); err != nil || code != 200 {
		t.Fatalf("create: %d %s %v", code, raw, err)
	}
	var pts []any
	for id := 1; id <= 50; id++ {
		pts = append(pts, map[string]any{"id": id, "vector": []float32{1, float32(id), 0, 1}, "payload": map[string]any{"n": id}})
	}
	if code, raw, err := httpJSON(base, "PUT", "/collections/geo/points?wait=true", map[string]any{"points": pts}, 30*time.Second); err != nil || code != 200 {
		t.Fatalf("upsert: %d %s %v", code, raw, err)
	}
	waitActive := func(want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			why := regionsConverged(nodes, want)
			if why == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("replicas did not converge: %s", why)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitActive(3)

	// Reads are local: a point read costs what a health check through the
	// same node costs, not a round trip to another region (≥ 40 ms).
	for i, n := range nodes {
		med := func(path string) time.Duration {
			var ds []time.Duration
			for k := range 15 {
				start := time.Now()
				code, raw, err := httpJSON(n.HTTP(), "GET", strings.ReplaceAll(path, "ID", strconv.Itoa(1+k)), nil, 10*time.Second)
				if err != nil || code != 200 {
					t.Fatalf("node %d %s: %d %s %v", i, path, code, raw, err)
				}
				ds = append(ds, time.Since(start))
			}
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		health, read := med("/healthz?ID"), med("/collections/geo/points/ID")
		t.Logf("region %d: health check %s, point read %s (medians)", i, health, read)
		if read-health > 35*time.Millisecond { // a cross-region round trip costs ≥ 40 ms
			t.Fatalf("region %d reads cross regions: point read %s against a health check's %s", i, read, health)
		}
	}

	// Region 2 loses its link: writes go on through the other two.
	rn.cut(2, true)
	deadline := time.Now().Add(30 * time.Second)
	acked := 0
	for id := 100; acked < 20; id++ {
		code, _, err := httpJSON(nodes[id%2].HTTP(), "PUT", "/collections/geo/points?wait=true&timeout=5", map[string]any{
			"points": []any{map[string]any{"id": id, "vector": []float32{1, 1, 1, float32(id)}}}}, 6*time.Second)
		if err == nil && code == 200 {
			acked++
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in 30 s with region 2 cut off", acked)
		}
	}
	if l, _ := leader(0); l == 0 {
		t.Fatal("no leader among the two connected regions")
	}
	rn.cut(2, false)
	waitActive(3)
	var count struct {
		Count int `json:"count"`
	}
	code, raw, err := httpJSON(nodes[2].HTTP(), "POST", "/collections/geo/points/count?consistency=all", map[string]any{"exact": true}, 10*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("count: %d %s %v", code, raw, err)
	}
	if err := decodeResult(raw, &count); err != nil || count.Count < 50+acked {
		t.Fatalf("count %d after the link returned, want ≥ %d (%v)", count.Count, 50+acked, err)
	}
}

// regionsConverged returns "" when every shard of "geo" has want Active
// replicas at one sequence number with one digest, as the nodes report.
func regionsConverged(nodes []*proc.Node, want int) string {
	type digest struct {
		Shard  int    `json:"shard"`
		State  string `json:"state"`
		Seq    uint64 `json:"seq"`
		Digest string `json:"digest"`
	}
	byShard := map[int][]digest{}
	for i, n := range nodes {
		code, raw, err := httpJSON(n.HTTP(), "GET", "/collections/geo/cluster/digests", nil, 5*time.Second)
		if err != nil || code != 200 {
			return fmt.Sprintf("node %d: %d %s %v", i, code, raw, err)
		}
		var ds []digest
		if err := decodeResult(raw, &ds); err != nil {
			return err.Error()
		}
		for _, d := range ds {
			byShard[d.Shard] = append(byShard[d.Shard], d)
		}
	}
	for s, ds := range byShard {
		if len(ds) != want {
			return fmt.Sprintf("shard %d has %d replicas", s, len(ds))
		}
		for _, d := range ds {
			if d.State != "Active" || d.Seq != ds[0].Seq || d.Digest != ds[0].Digest {
				return fmt.Sprintf("shard %d: %+v", s, ds)
			}
		}
	}
	return ""
}
