// Package meta is Shoal's metadata state machine: the collections (their
// configuration and payload index definitions) and the aliases that point at
// them.
//
// It exists so that metadata changes are deterministic commands applied to a
// State by a pure function. State.Apply does no I/O, starts no goroutines and
// never reads the clock (creation times travel inside the command), so the
// same sequence of commands yields the same State on every node: in step 1 a
// Store persists the State to <storage>/meta.json after each command; in step
// 2 Raft drives the very same Apply.
//
// Commands are JSON envelopes with a version and a type
// ({"v":1,"type":"create_collection",...}); a State refuses versions it does
// not know. Every failed command leaves the State unchanged; errors are
// *api.Error values worded as Qdrant words them.
package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// CommandVersion is the envelope version of every command type that
// exists since version 1; this build writes it for them.
const CommandVersion = 1

// ReplaceCommandVersion is the envelope version of replace_collection, the
// first command of version 2. Builds that apply only version 1 refuse it by
// its version, before looking at its type.
const ReplaceCommandVersion = 2

// MaxCommandVersion is the newest envelope version this build applies.
// Version 5 holds both the healing commands (heal.go) and
// restore_collection (restore.go): they arrived in one release. Version
// 6 likewise holds readmit_peer (readmit.go), a restore_collection that
// replaces an existing collection and restore_shard (restore.go).
const MaxCommandVersion = max(HealCommandVersion, RestoreCommandVersion, RestoreReplaceCommandVersion, ReadmitCommandVersion)

// Command types.
const (
	TypeCreateCollection   = "create_collection"
	TypeUpdateCollection   = "update_collection"
	TypeDeleteCollection   = "delete_collection"
	TypeChangeAliases      = "change_aliases"
	TypeCreatePayloadIndex = "create_payload_index"
	TypeDropPayloadIndex   = "drop_payload_index"
	TypeReplaceCollection  = "replace_collection"
)

// Command is one metadata change in its versioned envelope. Which fields are
// used depends on Type:
//
//   - create_collection: Collection, Config, CreatedAt
//   - update_collection: Collection, Config (the whole new configuration)
//   - delete_collection: Collection
//   - change_aliases: Aliases (applied all or nothing)
//   - create_payload_index: Collection, Field, Schema
//   - drop_payload_index: Collection, Field
//   - replace_collection (version 2): Collection, Config, PayloadIndexes,
//     Generation, CreatedAt. It installs a whole collection in one step:
//     configuration, payload index definitions and the generation (the
//     directory) that holds its data. An existing collection keeps its
//     creation time and aliases, and Generation must be above its current
//     one; a new collection is created with CreatedAt.
type Command struct {
	V          int                     `json:"v"`
	Type       string                  `json:"type"`
	Collection string                  `json:"collection,omitempty"`
	Config     *api.CollectionConfig   `json:"config,omitempty"`
	CreatedAt  time.Time               `json:"created_at,omitzero"`
	Aliases    []api.AliasOperation    `json:"aliases,omitempty"`
	Field      string                  `json:"field,omitempty"`
	Schema     *api.PayloadFieldSchema `json:"schema,omitempty"`
	// PayloadIndexes are the complete payload index definitions of a
	// replace_collection.
	PayloadIndexes map[string]api.PayloadFieldSchema `json:"payload_indexes,omitempty"`
	// Generation is the data generation a replace_collection installs,
	// or (version 3) the one a create_collection in a cluster starts with:
	// a value unique to this incarnation of the name, so that replaying a
	// create and a delete of an earlier collection of the same name never
	// touches the later one's directory.
	Generation uint64 `json:"generation,omitempty"`
	// Placement (version 3, create_collection) lists, per shard, the peers
	// holding its replicas, the primary first.
	Placement [][]uint64 `json:"placement,omitempty"`
	// ClusterID is the cluster an init_cluster names.
	ClusterID string `json:"cluster_id,omitempty"`
	// Peer is the peer of an add_peer or update_peer.
	Peer *Peer `json:"peer,omitempty"`
	// PeerID is the peer a remove_peer removes; Force removes it even while
	// it holds shard replicas.
	PeerID uint64 `json:"peer_id,omitempty"`
	Force  bool   `json:"force,omitempty"`
	// Replaced marks a remove_peer of a dead peer whose replicas the
	// allocator re-created elsewhere (version 6): such a peer may come
	// back (readmit_peer); one removed by an operator may not.
	Replaced bool `json:"replaced,omitempty"`
	// RequestID names one proposal in a cluster: a proposal retried after
	// a lost answer carries the same id, and the Raft state machine
	// applies it once (State.Apply ignores it).
	RequestID string `json:"request_id,omitempty"`
	// ShardID, State, FromState and Epoch are the fields of the
	// replication commands (version 4, replication.go).
	ShardID   int              `json:"shard_id,omitempty"`
	State     api.ReplicaState `json:"state,omitempty"`
	FromState api.ReplicaState `json:"from_state,omitempty"`
	Epoch     uint64           `json:"epoch,omitempty"`
	// MoveFrom and Method describe the transfer an add_replica starts.
	MoveFrom uint64 `json:"move_from,omitempty"`
	Method   string `json:"method,omitempty"`
	// MinActive (version 5) is a precondition of drop_replica: at least
	// this many Active replicas remain after the drop.
	MinActive int `json:"min_active,omitempty"`
	// Drain is what a drain_peer sets (version 5, heal.go).
	Drain bool `json:"drain,omitempty"`
	// Vector is the named vector of create_vector_name and
	// delete_vector_name (vectors.go).
	Vector *VectorChange `json:"vector,omitempty"`
	// Epochs are the starting epochs of a restore_collection's shards
	// (version 5, restore.go).
	Epochs []uint64 `json:"epochs,omitempty"`
	// Replaces is the generation of the existing collection a
	// restore_collection replaces (version 6, restore.go); 0 when the
	// collection is new.
	Replaces uint64 `json:"replaces,omitempty"`
	// Staged is the staging generation holding the replicas a
	// restore_shard installs (version 6, restore.go).
	Staged uint64 `json:"staged,omitempty"`
}

// Encode returns the command's JSON envelope.
func (c *Command) Encode() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("cannot encode metadata command: %w", err)
	}
	return b, nil
}

// DecodeCommand reads a JSON envelope written by Encode.
func DecodeCommand(b []byte) (*Command, error) {
	var c Command
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("cannot decode metadata command: %w", err)
	}
	return &c, nil
}

// Collection is one collection's metadata. A State never mutates a
// Collection it has published: every change builds a new value, so callers
// may keep and read the values a State hands out.
type Collection struct {
	Config         api.CollectionConfig              `json:"config"`
	PayloadIndexes map[string]api.PayloadFieldSchema `json:"payload_indexes"`
	CreatedAt      time.Time                         `json:"created_at"`
	// Generation names the directory that holds the collection's data:
	// 0 is collections/<name>/ itself, g > 0 is collections/<name>/gen-<g>/
	// (see GenerationDir). Only replace_collection changes it.
	Generation uint64 `json:"generation,omitempty"`
	// Shards is the placement of the collection's shards in a cluster
	// (nil on a standalone node, whose shards are all local).
	Shards []ShardPlacement `json:"shards,omitempty"`
}

// State is the whole metadata. The zero value is not usable; call NewState.
type State struct {
	// Collections by name.
	Collections map[string]*Collection `json:"collections"`
	// Aliases maps an alias to the collection it names.
	Aliases map[string]string `json:"aliases"`
	// Applied counts the commands applied so far.
	Applied uint64 `json:"applied"`
	// ClusterID names the cluster (set once by init_cluster; "" on a
	// standalone node).
	ClusterID string `json:"cluster_id,omitempty"`
	// Peers are the cluster's members by id (empty on a standalone node).
	Peers map[uint64]*Peer `json:"peers,omitempty"`
	// Removed holds the ids of removed peers: add_peer refuses them; a
	// node that comes back under such an id is taken back by readmit_peer
	// (readmit.go), and one given an empty storage joins under a new id.
	Removed map[uint64]bool `json:"removed,omitempty"`
	// Replaced holds the removed peers that the cluster replaced while
	// they were dead (remove_peer with replaced): only they are readmitted.
	Replaced map[uint64]bool `json:"replaced,omitempty"`
	// Draining holds the ids of peers being drained (drain_peer, heal.go):
	// their replicas move away, then they are removed.
	Draining map[uint64]bool `json:"draining,omitempty"`
}

// NewState returns an empty State.
func NewState() *State {
	return &State{Collections: map[string]*Collection{}, Aliases: map[string]string{}, Peers: map[uint64]*Peer{}}
}

// Clone returns a copy of s that shares the (immutable) Collection values.
func (s *State) Clone() *State {
	c := &State{
		Collections: make(map[string]*Collection, len(s.Collections)),
		Aliases:     make(map[string]string, len(s.Aliases)),
		Applied:     s.Applied,
		ClusterID:   s.ClusterID,
		Peers:       make(map[uint64]*Peer, len(s.Peers)),
	}
	for k, v := range s.Peers {
		c.Peers[k] = v
	}
	if len(s.Removed) > 0 {
		c.Removed = make(map[uint64]bool, len(s.Removed))
		for k := range s.Removed {
			c.Removed[k] = true
		}
	}
	if len(s.Replaced) > 0 {
		c.Replaced = make(map[uint64]bool, len(s.Replaced))
		for k := range s.Replaced {
			c.Replaced[k] = true
		}
	}
	if len(s.Draining) > 0 {
		c.Draining = make(map[uint64]bool, len(s.Draining))
		for k := range s.Draining {
			c.Draining[k] = true
		}
	}
	for k, v := range s.Collections {
		c.Collections[k] = v
	}
	for k, v := range s.Aliases {
		c.Aliases[k] = v
	}
	return c
}

// Resolve returns the collection name that name denotes: name itself when it
// is a collection, else the target of the alias name. ok is false when it is
// neither.
func (s *State) Resolve(name string) (collection string, ok bool) {
	if _, exists := s.Collections[name]; exists {
		return name, true
	}
	if target, exists := s.Aliases[name]; exists {
		if _, live := s.Collections[target]; live {
			return target, true
		}
	}
	return "", false
}

// CollectionNames returns the collection names in sorted order.
func (s *State) CollectionNames() []string {
	out := make([]string, 0, len(s.Collections))
	for name := range s.Collections {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// AliasesOf returns the aliases of collection (all aliases when collection
// is ""), sorted by alias name.
func (s *State) AliasesOf(collection string) []api.AliasDescription {
	out := []api.AliasDescription{}
	for alias, target := range s.Aliases {
		if collection == "" || target == collection {
			out = append(out, api.AliasDescription{AliasName: alias, CollectionName: target})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AliasName < out[j].AliasName })
	return out
}

// Apply applies cmd to s. It is deterministic and pure: no I/O, no clock, no
// goroutines. On error s is unchanged.
func (s *State) Apply(cmd *Command) error {
	if cmd == nil {
		return api.ErrBadInput("empty metadata command")
	}
	if cmd.V < CommandVersion || cmd.V > MaxCommandVersion {
		return api.ErrBadInput("unsupported metadata command version %d (this build applies versions %d to %d)", cmd.V, CommandVersion, MaxCommandVersion)
	}
	var err error
	switch cmd.Type {
	case TypeCreateCollection:
		err = s.createCollection(cmd)
	case TypeUpdateCollection:
		err = s.updateCollection(cmd)
	case TypeDeleteCollection:
		err = s.deleteCollection(cmd)
	case TypeChangeAliases:
		err = s.changeAliases(cmd.Aliases)
	case TypeCreatePayloadIndex:
		err = s.createPayloadIndex(cmd)
	case TypeDropPayloadIndex:
		err = s.dropPayloadIndex(cmd)
	case TypeReplaceCollection:
		err = s.replaceCollection(cmd)
	case TypeCreateVector, TypeDeleteVector: // vectors.go
		err = s.applyVector(cmd)
	case TypeRestoreCollection: // restore.go
		err = s.restoreCollection(cmd)
	case TypeReadmitPeer: // readmit.go
		err = s.readmitPeer(cmd)
	case TypeRestoreShard: // restore.go
		err = s.restoreShard(cmd)
	case TypeInitCluster, TypeAddPeer, TypeUpdatePeer, TypeRemovePeer:
		if cmd.V < ClusterCommandVersion {
			return api.ErrBadInput("%s needs command version %d", cmd.Type, ClusterCommandVersion)
		}
		switch cmd.Type {
		case TypeInitCluster:
			err = s.initCluster(cmd)
		case TypeAddPeer:
			err = s.addPeer(cmd)
		case TypeUpdatePeer:
			err = s.updatePeer(cmd)
		case TypeRemovePeer:
			err = s.removePeer(cmd)
		}
	case TypeDrainPeer: // heal.go
		err = s.drainPeer(cmd)
	case TypeSetReplicaState, TypeSetPrimary, TypeAddReplica, TypeDropReplica:
		if cmd.V < ReplicationCommandVersion {
			return api.ErrBadInput("%s needs command version %d", cmd.Type, ReplicationCommandVersion)
		}
		err = s.applyReplication(cmd)
	default:
		err = api.ErrBadInput("unknown metadata command type %q", cmd.Type)
	}
	if err == nil {
		s.Applied++
	}
	return err
}

func (s *State) createCollection(cmd *Command) error {
	name := cmd.Collection
	if name == "" {
		return api.ErrBadInput("collection name must not be empty")
	}
	if cmd.Config == nil {
		return api.ErrBadInput("create_collection needs a config")
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
	c := &Collection{Config: cfg, PayloadIndexes: map[string]api.PayloadFieldSchema{}, CreatedAt: cmd.CreatedAt.UTC()}
	if cmd.Placement != nil || cmd.Generation != 0 {
		if cmd.V < ClusterCommandVersion {
			return api.ErrBadInput("create_collection with a placement needs command version %d", ClusterCommandVersion)
		}
		shards, err := s.checkPlacement(cfg.Params.ShardNumber, cmd.Placement)
		if err != nil {
			return err
		}
		c.Shards, c.Generation = shards, cmd.Generation
	}
	s.Collections[name] = c
	return nil
}

func (s *State) updateCollection(cmd *Command) error {
	old, ok := s.Collections[cmd.Collection]
	if !ok {
		return api.ErrCollectionNotFound(cmd.Collection)
	}
	if cmd.Config == nil {
		return api.ErrBadInput("update_collection needs a config")
	}
	cfg, err := cloneConfig(*cmd.Config)
	if err != nil {
		return err
	}
	s.Collections[cmd.Collection] = &Collection{Config: cfg, PayloadIndexes: old.PayloadIndexes, CreatedAt: old.CreatedAt, Generation: old.Generation, Shards: old.Shards}
	return nil
}

func (s *State) deleteCollection(cmd *Command) error {
	if _, ok := s.Collections[cmd.Collection]; !ok {
		return api.ErrCollectionNotFound(cmd.Collection)
	}
	delete(s.Collections, cmd.Collection)
	for alias, target := range s.Aliases {
		if target == cmd.Collection {
			delete(s.Aliases, alias)
		}
	}
	return nil
}

// replaceCollection installs a whole collection (see Command). It checks
// everything before it changes anything.
func (s *State) replaceCollection(cmd *Command) error {
	name := cmd.Collection
	if cmd.V < ReplaceCommandVersion {
		return api.ErrBadInput("replace_collection needs command version %d", ReplaceCommandVersion)
	}
	if name == "" {
		return api.ErrBadInput("collection name must not be empty")
	}
	if cmd.Config == nil {
		return api.ErrBadInput("replace_collection needs a config")
	}
	if _, ok := s.Aliases[name]; ok {
		return api.ErrBadInput("Can't create collection with name %s. Alias with the same name already exists", name)
	}
	created := cmd.CreatedAt.UTC()
	if old, ok := s.Collections[name]; ok {
		if cmd.Generation <= old.Generation {
			return api.ErrBadInput("replace_collection of %s needs a generation above %d, got %d", name, old.Generation, cmd.Generation)
		}
		created = old.CreatedAt
	}
	cfg, err := cloneConfig(*cmd.Config)
	if err != nil {
		return err
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
	s.Collections[name] = &Collection{Config: cfg, PayloadIndexes: idx, CreatedAt: created, Generation: cmd.Generation}
	return nil
}

// changeAliases applies the actions in order to a copy of the alias map and
// publishes it only if every action succeeds, as Qdrant applies one request:
// create_alias needs an existing collection (404) and a name that is not a
// collection (400) and replaces an alias of the same name; delete_alias of a
// missing alias is a no-op; rename_alias needs the old alias (404) and
// replaces any alias with the new name.
func (s *State) changeAliases(actions []api.AliasOperation) error {
	next := make(map[string]string, len(s.Aliases))
	for k, v := range s.Aliases {
		next[k] = v
	}
	for i, a := range actions {
		set := 0
		if a.CreateAlias != nil {
			set++
		}
		if a.DeleteAlias != nil {
			set++
		}
		if a.RenameAlias != nil {
			set++
		}
		if set != 1 {
			return api.ErrBadInput("alias action %d must have exactly one of create_alias, delete_alias, rename_alias", i)
		}
		switch {
		case a.CreateAlias != nil:
			alias, target := a.CreateAlias.AliasName, a.CreateAlias.CollectionName
			if alias == "" {
				return api.ErrBadInput("alias name must not be empty")
			}
			if _, ok := s.Collections[target]; !ok {
				return api.ErrCollectionNotFound(target)
			}
			if _, ok := s.Collections[alias]; ok {
				return api.ErrAlreadyExists("Collection `%s` already exists!", alias) // 409, as Qdrant
			}
			next[alias] = target
		case a.DeleteAlias != nil:
			delete(next, a.DeleteAlias.AliasName)
		case a.RenameAlias != nil:
			from, to := a.RenameAlias.OldAliasName, a.RenameAlias.NewAliasName
			target, ok := next[from]
			if !ok {
				return api.ErrNotFound("Alias %s does not exists!", from)
			}
			if to == "" {
				return api.ErrBadInput("alias name must not be empty")
			}
			if _, ok := s.Collections[to]; ok {
				return api.ErrAlreadyExists("Collection `%s` already exists!", to)
			}
			delete(next, from)
			next[to] = target
		}
	}
	s.Aliases = next
	return nil
}

func (s *State) createPayloadIndex(cmd *Command) error {
	old, ok := s.Collections[cmd.Collection]
	if !ok {
		return api.ErrCollectionNotFound(cmd.Collection)
	}
	if cmd.Field == "" {
		return api.ErrBadInput("field_name must not be empty")
	}
	if cmd.Schema == nil || !cmd.Schema.Type.Valid() {
		return api.ErrBadInput("field_schema is required: one of keyword, integer, float, geo, text, bool, datetime, uuid")
	}
	idx := make(map[string]api.PayloadFieldSchema, len(old.PayloadIndexes)+1)
	for k, v := range old.PayloadIndexes {
		idx[k] = v
	}
	schema, err := cloneSchema(*cmd.Schema)
	if err != nil {
		return err
	}
	idx[cmd.Field] = schema
	s.Collections[cmd.Collection] = &Collection{Config: old.Config, PayloadIndexes: idx, CreatedAt: old.CreatedAt, Generation: old.Generation, Shards: old.Shards}
	return nil
}

func (s *State) dropPayloadIndex(cmd *Command) error {
	old, ok := s.Collections[cmd.Collection]
	if !ok {
		return api.ErrCollectionNotFound(cmd.Collection)
	}
	if _, ok := old.PayloadIndexes[cmd.Field]; !ok {
		// Qdrant treats dropping a missing index as done.
		return nil
	}
	idx := make(map[string]api.PayloadFieldSchema, len(old.PayloadIndexes))
	for k, v := range old.PayloadIndexes {
		if k != cmd.Field {
			idx[k] = v
		}
	}
	s.Collections[cmd.Collection] = &Collection{Config: old.Config, PayloadIndexes: idx, CreatedAt: old.CreatedAt, Generation: old.Generation, Shards: old.Shards}
	return nil
}

// cloneConfig deep-copies a configuration through its JSON form so that the
// State shares no maps with the command.
func cloneConfig(c api.CollectionConfig) (api.CollectionConfig, error) {
	var out api.CollectionConfig
	if err := jsonClone(c, &out); err != nil {
		return out, fmt.Errorf("cannot copy collection config: %w", err)
	}
	return out, nil
}

func cloneSchema(s api.PayloadFieldSchema) (api.PayloadFieldSchema, error) {
	var out api.PayloadFieldSchema
	if err := jsonClone(s, &out); err != nil {
		return out, fmt.Errorf("cannot copy field schema: %w", err)
	}
	return out, nil
}

func jsonClone(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(out)
}
