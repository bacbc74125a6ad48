package meta

import (
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestRestoreCollection applies restore_collection: a placed collection
// with its payload indexes and each shard's starting epoch, and the
// refusals that leave the state unchanged.
func TestRestoreCollection(t *testing.T) {
	s := NewState()
	mustApply(t, s,
		&Command{V: ClusterCommandVersion, Type: TypeInitCluster, ClusterID: "c1"},
		peerCmd(TypeAddPeer, 1, "a:1"), peerCmd(TypeAddPeer, 2, "b:1"))
	cfg := testConfig(4)
	cfg.Params.ShardNumber = 2
	cmd := func(mod func(*Command)) *Command {
		c := &Command{V: RestoreCommandVersion, Type: TypeRestoreCollection, Collection: "r", Config: cfg, Generation: 9,
			Placement: [][]uint64{{1, 2}, {2, 1}}, Epochs: []uint64{1, 5},
			PayloadIndexes: map[string]api.PayloadFieldSchema{"city": {Type: "keyword"}}}
		if mod != nil {
			mod(c)
		}
		return c
	}
	wantErr(t, s, cmd(func(c *Command) { c.V = ReplicationCommandVersion }), api.KindBadInput, "version 5")
	wantErr(t, s, cmd(func(c *Command) { c.V = MaxCommandVersion + 1 }), api.KindBadInput, "unsupported metadata command version")
	wantErr(t, s, cmd(func(c *Command) { c.Epochs = []uint64{1} }), api.KindBadInput, "2 shards")
	wantErr(t, s, cmd(func(c *Command) { c.Epochs = []uint64{1, 0} }), api.KindBadInput, "epoch of at least 1")
	wantErr(t, s, cmd(func(c *Command) { c.Generation = 0 }), api.KindBadInput, "needs a generation")
	wantErr(t, s, cmd(func(c *Command) { c.Placement = [][]uint64{{1, 3}, {2}} }), api.KindBadInput, "unknown peer 3")
	wantErr(t, s, cmd(func(c *Command) { c.PayloadIndexes = map[string]api.PayloadFieldSchema{"x": {Type: "nope"}} }), api.KindBadInput, "field_schema")
	mustApply(t, s, cmd(nil))
	c := s.Collections["r"]
	if c.Generation != 9 || len(c.Shards) != 2 || c.Shards[0].Epoch != 1 || c.Shards[1].Epoch != 5 || c.Shards[1].Primary() != 2 ||
		c.PayloadIndexes["city"].Type != "keyword" {
		t.Fatalf("restored collection: %+v", c)
	}
	for _, sp := range c.Shards {
		for _, r := range sp.Replicas {
			if r.State != api.ReplicaActive {
				t.Fatalf("replica %+v is not Active", r)
			}
		}
	}
	wantErr(t, s, cmd(func(c *Command) { c.Generation = 10 }), api.KindBadInput, "already exists")
	mustApply(t, s, &Command{V: CommandVersion, Type: TypeChangeAliases, Aliases: []api.AliasOperation{
		{CreateAlias: &api.AliasDescription{CollectionName: "r", AliasName: "al"}}}})
	wantErr(t, s, cmd(func(c *Command) { c.Collection = "al" }), api.KindBadInput, "Alias with the same name")
}
