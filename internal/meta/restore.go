package meta

import (
	"slices"

	"github.com/shoal-db/shoal/internal/api"
)

// RestoreCommandVersion is the envelope version of restore_collection.
// Builds that apply only versions up to 4 refuse it by its version, so a
// mixed cluster never diverges on it.
const RestoreCommandVersion = 5

// RestoreReplaceCommandVersion is the envelope version of a
// restore_collection that replaces an existing collection (Replaces set):
// builds that apply only version 5 refuse it by its version instead of
// refusing it as a collection that already exists, so every node decides
// alike.
const RestoreReplaceCommandVersion = 6

// TypeRestoreCollection creates a collection whose replicas already hold
// data (a cluster snapshot's shards, staged on every placed peer before the
// command is proposed): Collection, Config, PayloadIndexes, CreatedAt,
// Generation, Placement, and Epochs, each shard's starting epoch. With
// Replaces (version 6) it replaces the collection at that generation
// instead (a collection snapshot recovered in cluster mode): the new
// generation takes its place in one step, and its creation time stays. A shard
// starts at the epoch its data was written in (at least 1), so that its
// primary's next operation is not older than the operations it holds.
const TypeRestoreCollection = "restore_collection"

// restoreCollection applies a restore_collection: a create_collection in a
// cluster with explicit payload indexes and starting epochs. It checks
// everything before it changes anything.
func (s *State) restoreCollection(cmd *Command) error {
	if cmd.V < RestoreCommandVersion {
		return api.ErrBadInput("%s needs command version %d", cmd.Type, RestoreCommandVersion)
	}
	name := cmd.Collection
	switch {
	case name == "":
		return api.ErrBadInput("collection name must not be empty")
	case cmd.Config == nil:
		return api.ErrBadInput("restore_collection needs a config")
	case cmd.Generation == 0:
		return api.ErrBadInput("restore_collection needs a generation")
	case len(cmd.Epochs) != len(cmd.Placement):
		return api.ErrBadInput("restore_collection names %d epochs for %d shards", len(cmd.Epochs), len(cmd.Placement))
	}
	if cmd.Replaces != 0 && cmd.V < RestoreReplaceCommandVersion {
		return api.ErrBadInput("%s with replaces needs command version %d", cmd.Type, RestoreReplaceCommandVersion)
	}
	old, exists := s.Collections[name]
	switch {
	case exists && cmd.Replaces == 0:
		return api.ErrBadInput("Collection `%s` already exists!", name)
	case cmd.Replaces != 0 && !exists:
		return api.ErrCollectionNotFound(name)
	case cmd.Replaces != 0 && old.Generation != cmd.Replaces:
		return api.ErrBadInput("restore_collection of %s replaces generation %d, the collection is at generation %d", name, cmd.Replaces, old.Generation)
	case exists && cmd.Generation == old.Generation:
		return api.ErrBadInput("restore_collection of %s needs a new generation", name)
	}
	if _, ok := s.Aliases[name]; ok {
		return api.ErrBadInput("Can't create collection with name %s. Alias with the same name already exists", name)
	}
	cfg, err := cloneConfig(*cmd.Config)
	if err != nil {
		return err
	}
	shards, err := s.checkPlacement(cfg.Params.ShardNumber, cmd.Placement)
	if err != nil {
		return err
	}
	for i, e := range cmd.Epochs {
		if e == 0 {
			return api.ErrBadInput("restore_collection: shard %d needs an epoch of at least 1", i)
		}
		shards[i].Epoch = e
	}
	idx := make(map[string]api.PayloadFieldSchema, len(cmd.PayloadIndexes))
	for field, schema := range cmd.PayloadIndexes {
		if field == "" {
			return api.ErrBadInput("field_name must not be empty")
		}
		if !schema.Type.Valid() {
			return api.ErrBadInput("payload index %s: field_schema must be one of keyword, integer, float, geo, text, bool, datetime, uuid", field)
		}
		c, err := cloneSchema(schema)
		if err != nil {
			return err
		}
		idx[field] = c
	}
	created := cmd.CreatedAt.UTC()
	if exists {
		created = old.CreatedAt
	}
	s.Collections[name] = &Collection{Config: cfg, PayloadIndexes: idx, CreatedAt: created, Generation: cmd.Generation, Shards: shards}
	return nil
}

// TypeRestoreShard (version 6) replaces one shard of a collection with data
// staged on each of its new replicas beforehand (a shard snapshot, or the
// newest snapshot holding a shard that lost every replica): Collection,
// Generation (the collection's current one), ShardID, Placement (one entry:
// the shard's new peers, primary first), Epoch (the shard's new epoch,
// above its current one and at least the epoch of the data's last
// operation) and Staged (the staging generation whose replica of the shard
// each peer holds). Every listed replica becomes Active; replicas on other
// peers are dropped.
const TypeRestoreShard = "restore_shard"

// restoreShard applies a restore_shard. It checks everything before it
// changes anything.
func (s *State) restoreShard(cmd *Command) error {
	if cmd.V < RestoreReplaceCommandVersion {
		return api.ErrBadInput("%s needs command version %d", cmd.Type, RestoreReplaceCommandVersion)
	}
	c, ok := s.Collections[cmd.Collection]
	if !ok {
		return api.ErrCollectionNotFound(cmd.Collection)
	}
	switch {
	case cmd.Generation != c.Generation:
		return api.ErrBadInput("collection %s was recreated (generation %d, the command names %d)", cmd.Collection, c.Generation, cmd.Generation)
	case cmd.ShardID < 0 || cmd.ShardID >= len(c.Shards):
		return api.ErrBadInput("Shard %d does not exist in collection %s", cmd.ShardID, cmd.Collection)
	case len(cmd.Placement) != 1:
		return api.ErrBadInput("restore_shard places one shard, the command names %d", len(cmd.Placement))
	case cmd.Staged == 0 || cmd.Staged == c.Generation:
		return api.ErrBadInput("restore_shard needs the staging generation of its replicas")
	case cmd.Epoch <= c.Shards[cmd.ShardID].Epoch:
		return api.ErrBadInput("restore_shard of shard %d of %s needs an epoch above %d, got %d", cmd.ShardID, cmd.Collection, c.Shards[cmd.ShardID].Epoch, cmd.Epoch)
	}
	sps, err := s.checkPlacement(1, cmd.Placement)
	if err != nil {
		return err
	}
	sp := sps[0]
	sp.Epoch = cmd.Epoch
	nc := *c
	nc.Shards = slices.Clone(c.Shards)
	nc.Shards[cmd.ShardID] = sp
	s.Collections[cmd.Collection] = &nc
	return nil
}
