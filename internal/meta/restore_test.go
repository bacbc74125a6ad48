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

	// Replacing the collection (version 6): the generation it replaces
	// must be the current one, and the new generation another.
	created := c.CreatedAt
	replace := func(mod func(*Command)) *Command {
		return cmd(func(c *Command) {
			c.V, c.Replaces, c.Generation, c.Epochs = RestoreReplaceCommandVersion, 9, 12, []uint64{3, 7}
			c.Placement = [][]uint64{{2, 1}, {1, 2}}
			c.PayloadIndexes = nil
			if mod != nil {
				mod(c)
			}
		})
	}
	wantErr(t, s, replace(func(c *Command) { c.V = RestoreCommandVersion }), api.KindBadInput, "version 6")
	wantErr(t, s, replace(func(c *Command) { c.Replaces = 8 }), api.KindBadInput, "replaces generation 8")
	wantErr(t, s, replace(func(c *Command) { c.Generation = 9 }), api.KindBadInput, "new generation")
	wantErr(t, s, replace(func(c *Command) { c.Collection = "gone" }), api.KindNotFound, "")
	if s.Collections["r"].Generation != 9 {
		t.Fatal("a refused replacement changed the collection")
	}
	mustApply(t, s, replace(nil))
	c = s.Collections["r"]
	if c.Generation != 12 || c.Shards[0].Primary() != 2 || c.Shards[1].Epoch != 7 || len(c.PayloadIndexes) != 0 || !c.CreatedAt.Equal(created) {
		t.Fatalf("replaced collection: %+v", c)
	}
}

// TestRestoreShard applies restore_shard: one shard's replicas replaced by
// the staged ones, all Active, in a new epoch, the other shards untouched;
// and the refusals that leave the state unchanged.
func TestRestoreShard(t *testing.T) {
	s := threePeers(t)
	cfg := testConfig(4)
	cfg.Params.ShardNumber = 2
	mustApply(t, s, &Command{V: RestoreCommandVersion, Type: TypeRestoreCollection, Collection: "r", Config: cfg, Generation: 9,
		Placement: [][]uint64{{1, 2}, {2, 1}}, Epochs: []uint64{4, 5}})
	cmd := func(mod func(*Command)) *Command {
		c := &Command{V: RestoreReplaceCommandVersion, Type: TypeRestoreShard, Collection: "r", Generation: 9, ShardID: 1,
			Placement: [][]uint64{{3, 1}}, Epoch: 6, Staged: 77}
		if mod != nil {
			mod(c)
		}
		return c
	}
	wantErr(t, s, cmd(func(c *Command) { c.V = RestoreCommandVersion }), api.KindBadInput, "version 6")
	wantErr(t, s, cmd(func(c *Command) { c.Collection = "x" }), api.KindNotFound, "")
	wantErr(t, s, cmd(func(c *Command) { c.Generation = 8 }), api.KindBadInput, "recreated")
	wantErr(t, s, cmd(func(c *Command) { c.ShardID = 2 }), api.KindBadInput, "does not exist")
	wantErr(t, s, cmd(func(c *Command) { c.Placement = [][]uint64{{3}, {1}} }), api.KindBadInput, "one shard")
	wantErr(t, s, cmd(func(c *Command) { c.Placement = [][]uint64{{3, 4}} }), api.KindBadInput, "unknown peer 4")
	wantErr(t, s, cmd(func(c *Command) { c.Staged = 9 }), api.KindBadInput, "staging generation")
	wantErr(t, s, cmd(func(c *Command) { c.Epoch = 5 }), api.KindBadInput, "epoch above 5")
	before := s.Collections["r"].Shards[0]
	mustApply(t, s, cmd(nil))
	c := s.Collections["r"]
	sp := c.Shards[1]
	if sp.Epoch != 6 || len(sp.Replicas) != 2 || sp.Primary() != 3 || sp.Replicas[1].Peer != 1 || sp.ActiveCount() != 2 {
		t.Fatalf("restored shard: %+v", sp)
	}
	if got := c.Shards[0]; got.Epoch != before.Epoch || len(got.Replicas) != len(before.Replicas) {
		t.Fatalf("shard 0 changed: %+v", got)
	}
}
