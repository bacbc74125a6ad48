package meta

import "github.com/shoal-db/shoal/internal/api"

// RestoreCommandVersion is the envelope version of restore_collection.
// Builds that apply only versions up to 4 refuse it by its version, so a
// mixed cluster never diverges on it.
const RestoreCommandVersion = 5

// TypeRestoreCollection creates a collection whose replicas already hold
// data (a cluster snapshot's shards, staged on every placed peer before the
// command is proposed): Collection, Config, PayloadIndexes, CreatedAt,
// Generation, Placement, and Epochs, each shard's starting epoch. A shard
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
	if _, ok := s.Collections[name]; ok {
		return api.ErrBadInput("Collection `%s` already exists!", name)
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
	s.Collections[name] = &Collection{Config: cfg, PayloadIndexes: idx, CreatedAt: cmd.CreatedAt.UTC(), Generation: cmd.Generation, Shards: shards}
	return nil
}
