package meta

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

var t0 = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)

func testConfig(size int) *api.CollectionConfig {
	return &api.CollectionConfig{
		Params: api.CollectionParams{
			Vectors:     api.VectorsConfig{"": {Size: size, Distance: api.DistanceCosine}},
			ShardNumber: 2, ReplicationFactor: 1, WriteConsistencyFactor: 1,
		},
		HnswConfig:      api.DefaultHnswConfig(),
		OptimizerConfig: api.DefaultOptimizersConfig(),
		WalConfig:       api.DefaultWalConfig(),
		Metadata:        map[string]any{"owner": "team-a", "n": json.Number("3")},
	}
}

func create(name string, size int) *Command {
	return &Command{V: 1, Type: TypeCreateCollection, Collection: name, Config: testConfig(size), CreatedAt: t0}
}

func aliases(ops ...api.AliasOperation) *Command {
	return &Command{V: 1, Type: TypeChangeAliases, Aliases: ops}
}

func createAlias(alias, coll string) api.AliasOperation {
	return api.AliasOperation{CreateAlias: &api.AliasDescription{AliasName: alias, CollectionName: coll}}
}

func deleteAlias(alias string) api.AliasOperation {
	op := api.AliasOperation{}
	op.DeleteAlias = &struct {
		AliasName string `json:"alias_name"`
	}{alias}
	return op
}

func renameAlias(from, to string) api.AliasOperation {
	op := api.AliasOperation{}
	op.RenameAlias = &struct {
		OldAliasName string `json:"old_alias_name"`
		NewAliasName string `json:"new_alias_name"`
	}{from, to}
	return op
}

func mustApply(t *testing.T, s *State, cmds ...*Command) {
	t.Helper()
	for _, c := range cmds {
		if err := s.Apply(c); err != nil {
			t.Fatalf("apply %s: %v", c.Type, err)
		}
	}
}

// wantErr applies cmd, expects an error of kind with text containing msg,
// and checks that the state did not change.
func wantErr(t *testing.T, s *State, cmd *Command, kind api.Kind, msg string) {
	t.Helper()
	before, _ := json.Marshal(s)
	err := s.Apply(cmd)
	if err == nil {
		t.Fatalf("apply %s: no error, want %q", cmd.Type, msg)
	}
	if api.KindOf(err) != kind || !strings.Contains(err.Error(), msg) {
		t.Fatalf("apply %s: got %v (kind %d), want kind %d containing %q", cmd.Type, err, api.KindOf(err), kind, msg)
	}
	after, _ := json.Marshal(s)
	if string(before) != string(after) {
		t.Fatalf("apply %s failed but changed the state:\n%s\n%s", cmd.Type, before, after)
	}
}

func TestCreateDeleteCollection(t *testing.T) {
	s := NewState()
	mustApply(t, s, create("a", 4), create("b", 8))
	if got := s.CollectionNames(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("names %v", got)
	}
	if !s.Collections["a"].CreatedAt.Equal(t0) {
		t.Fatalf("created at %v", s.Collections["a"].CreatedAt)
	}
	wantErr(t, s, create("a", 4), api.KindBadInput, "Wrong input: Collection `a` already exists!")
	wantErr(t, s, &Command{V: 1, Type: TypeDeleteCollection, Collection: "zz"}, api.KindNotFound, "Collection `zz` doesn't exist!")
	mustApply(t, s, aliases(createAlias("x", "a"), createAlias("y", "b")))
	wantErr(t, s, create("x", 4), api.KindBadInput, "Alias with the same name already exists")
	mustApply(t, s, &Command{V: 1, Type: TypeDeleteCollection, Collection: "a"})
	if _, ok := s.Collections["a"]; ok {
		t.Fatal("a still exists")
	}
	// Deleting a collection removes its aliases and only those.
	if got := s.AliasesOf(""); !reflect.DeepEqual(got, []api.AliasDescription{{AliasName: "y", CollectionName: "b"}}) {
		t.Fatalf("aliases %v", got)
	}
	if s.Applied != 4 {
		t.Fatalf("applied %d, want 4", s.Applied)
	}
}

func TestCommandValidation(t *testing.T) {
	s := NewState()
	wantErr(t, s, &Command{V: MaxCommandVersion + 1, Type: TypeCreateCollection, Collection: "a", Config: testConfig(1)}, api.KindBadInput, "versions 1 to 6")
	wantErr(t, s, &Command{V: 0, Type: TypeCreateCollection, Collection: "a", Config: testConfig(1)}, api.KindBadInput, "version 0")
	wantErr(t, s, &Command{V: 1, Type: "explode"}, api.KindBadInput, "unknown metadata command type")
	wantErr(t, s, &Command{V: 1, Type: TypeCreateCollection, Collection: "a"}, api.KindBadInput, "needs a config")
	wantErr(t, s, &Command{V: 1, Type: TypeCreateCollection, Config: testConfig(1)}, api.KindBadInput, "must not be empty")
	if s.Applied != 0 {
		t.Fatalf("failed commands counted: %d", s.Applied)
	}
}

func TestAliasesAtomic(t *testing.T) {
	s := NewState()
	mustApply(t, s, create("a", 4), create("b", 4))
	mustApply(t, s, aliases(createAlias("prod", "a")))
	// The second action fails: nothing of the request is applied.
	wantErr(t, s, aliases(deleteAlias("prod"), createAlias("prod2", "missing")), api.KindNotFound, "Collection `missing` doesn't exist!")
	if s.Aliases["prod"] != "a" {
		t.Fatal("partial alias change applied")
	}
	// An alias may not take a collection's name.
	wantErr(t, s, aliases(createAlias("b", "a")), api.KindAlreadyExists, "Collection `b` already exists!")
	// Rename of a missing alias is 404.
	wantErr(t, s, aliases(renameAlias("nope", "x")), api.KindNotFound, "Alias nope does not exists!")
	// Swap the alias to another collection in one request (blue/green).
	mustApply(t, s, aliases(deleteAlias("prod"), createAlias("prod", "b")))
	if s.Aliases["prod"] != "b" {
		t.Fatalf("prod -> %q", s.Aliases["prod"])
	}
	// Create replaces an existing alias; delete of a missing alias is a no-op.
	mustApply(t, s, aliases(createAlias("prod", "a"), deleteAlias("ghost")))
	if s.Aliases["prod"] != "a" {
		t.Fatalf("prod -> %q", s.Aliases["prod"])
	}
	// Rename keeps the target and replaces an alias with the new name.
	mustApply(t, s, aliases(createAlias("old", "b"), renameAlias("old", "prod")))
	if s.Aliases["prod"] != "b" || s.Aliases["old"] != "" {
		t.Fatalf("after rename: %v", s.Aliases)
	}
	if got, ok := s.Resolve("prod"); !ok || got != "b" {
		t.Fatalf("resolve prod = %q %v", got, ok)
	}
	if got, ok := s.Resolve("a"); !ok || got != "a" {
		t.Fatalf("resolve a = %q %v", got, ok)
	}
	if _, ok := s.Resolve("nothing"); ok {
		t.Fatal("resolved a missing name")
	}
	wantErr(t, s, aliases(api.AliasOperation{}), api.KindBadInput, "exactly one")
}

func TestPayloadIndexes(t *testing.T) {
	s := NewState()
	mustApply(t, s, create("a", 4))
	before := s.Collections["a"]
	mustApply(t, s, &Command{V: 1, Type: TypeCreatePayloadIndex, Collection: "a", Field: "city",
		Schema: &api.PayloadFieldSchema{Type: api.SchemaKeyword}})
	mustApply(t, s, &Command{V: 1, Type: TypeCreatePayloadIndex, Collection: "a", Field: "text",
		Schema: &api.PayloadFieldSchema{Type: api.SchemaText, Params: map[string]any{"tokenizer": "word"}}})
	if len(before.PayloadIndexes) != 0 {
		t.Fatal("a published Collection value was mutated")
	}
	idx := s.Collections["a"].PayloadIndexes
	if idx["city"].Type != api.SchemaKeyword || idx["text"].Params["tokenizer"] != "word" {
		t.Fatalf("indexes %+v", idx)
	}
	wantErr(t, s, &Command{V: 1, Type: TypeCreatePayloadIndex, Collection: "zz", Field: "x",
		Schema: &api.PayloadFieldSchema{Type: api.SchemaKeyword}}, api.KindNotFound, "doesn't exist")
	wantErr(t, s, &Command{V: 1, Type: TypeCreatePayloadIndex, Collection: "a", Field: "x"}, api.KindBadInput, "field_schema")
	mustApply(t, s, &Command{V: 1, Type: TypeDropPayloadIndex, Collection: "a", Field: "city"},
		&Command{V: 1, Type: TypeDropPayloadIndex, Collection: "a", Field: "never"})
	if _, ok := s.Collections["a"].PayloadIndexes["city"]; ok {
		t.Fatal("city index not dropped")
	}
	// Updating the config keeps indexes and creation time.
	cfg := testConfig(4)
	cfg.HnswConfig.M = 32
	mustApply(t, s, &Command{V: 1, Type: TypeUpdateCollection, Collection: "a", Config: cfg})
	c := s.Collections["a"]
	if c.Config.HnswConfig.M != 32 || len(c.PayloadIndexes) != 1 || !c.CreatedAt.Equal(t0) {
		t.Fatalf("after update: %+v", c)
	}
}

func TestApplyIsDeterministic(t *testing.T) {
	cmds := []*Command{
		create("a", 4), create("b", 3),
		aliases(createAlias("x", "a"), createAlias("y", "b")),
		{V: 1, Type: TypeCreatePayloadIndex, Collection: "b", Field: "n", Schema: &api.PayloadFieldSchema{Type: api.SchemaInteger}},
		aliases(renameAlias("x", "z")),
		{V: 1, Type: TypeDeleteCollection, Collection: "a"},
	}
	run := func() []byte {
		s := NewState()
		for _, c := range cmds {
			// Commands travel encoded (as through Raft).
			b, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			dc, err := DecodeCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			s.Apply(dc)
		}
		b, _ := json.Marshal(s)
		return b
	}
	a, b := run(), run()
	if string(a) != string(b) {
		t.Fatalf("two runs differ:\n%s\n%s", a, b)
	}
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.State().Collections) != 0 {
		t.Fatal("new store not empty")
	}
	cmds := []*Command{
		create("a", 4), create("b", 3),
		aliases(createAlias("x", "a")),
		{V: 1, Type: TypeCreatePayloadIndex, Collection: "b", Field: "geo", Schema: &api.PayloadFieldSchema{Type: api.SchemaGeo}},
	}
	for _, c := range cmds {
		if err := st.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	held := st.State()
	// A refused command changes neither memory nor disk.
	if err := st.Apply(create("a", 4)); err == nil {
		t.Fatal("duplicate create accepted")
	}
	if st.State() != held {
		t.Fatal("refused command replaced the state")
	}
	st2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.State(), st2.State()) {
		a, _ := json.Marshal(st.State())
		b, _ := json.Marshal(st2.State())
		t.Fatalf("reloaded state differs:\n%s\n%s", a, b)
	}
	if got := st2.State().Collections["a"].Config.Metadata["n"]; got != json.Number("3") {
		t.Fatalf("metadata number %#v", got)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != FileName {
		t.Fatalf("dir holds %v", entries)
	}
}

func TestStoreRejectsUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"format": 99, "state": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir); err == nil || !strings.Contains(err.Error(), "format 99") {
		t.Fatalf("got %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"format": 1, "state": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir); err == nil {
		t.Fatal("truncated meta.json accepted")
	}
}

func TestStoreFailedWriteKeepsState(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(create("a", 4)); err != nil {
		t.Fatal(err)
	}
	// Make the rename over meta.json impossible: a non-empty directory
	// takes its place (this fails for root too).
	path := filepath.Join(dir, FileName)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(create("b", 4)); err == nil {
		t.Fatal("write over a directory succeeded")
	}
	if _, ok := st.State().Collections["b"]; ok {
		t.Fatal("state published although it was not persisted")
	}
	if _, ok := st.State().Collections["a"]; !ok {
		t.Fatal("earlier state lost")
	}
}
