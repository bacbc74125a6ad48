package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/clustertest"
)

// TestPeerCommands drives `shoal peer` against a real 3-node cluster:
// list shows every peer, drain moves a peer's replicas away and removes
// it, and a bad id is a usage error.
func TestPeerCommands(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/p", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}, "shard_number": 3}, nil)
	url := "http://" + c.Nodes[0].Srv.HTTPAddr()
	run := func(args ...string) (int, string) {
		env, _, _ := testEnv(t)
		out, errb := &syncBuffer{}, &syncBuffer{}
		env.Stdout, env.Stderr = out, errb
		code := Run(context.Background(), append(args, "--url", url), env)
		return code, out.String() + errb.String()
	}
	code, out := run("peer", "list")
	if code != ExitOK || strings.Count(out, "alive") != 3 || !strings.Contains(out, "leader") {
		t.Fatalf("peer list: %d\n%s", code, out)
	}
	victim := strconv.FormatUint(c.Nodes[2].Srv.Cluster().ID(), 10)
	if code, out := run("peer", "drain", victim, "--wait", "60s"); code != ExitOK || !strings.Contains(out, "peer "+victim+" removed") {
		t.Fatalf("peer drain: %d\n%s", code, out)
	}
	code, out = run("peer", "list")
	if code != ExitOK || strings.Contains(out, victim) || strings.Count(out, "alive") != 2 {
		t.Fatalf("peer list after the drain: %d\n%s", code, out)
	}
	var count struct {
		Count int `json:"count"`
	}
	c.MustDo(0, "POST", "/collections/p/points/count", map[string]any{"exact": true}, &count) // every shard still has a replica
	if code, out := run("peer", "drain", "x1"); code != ExitUsage {
		t.Fatalf("bad peer id: %d\n%s", code, out)
	}
}
