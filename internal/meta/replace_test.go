package meta

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

func replace(name string, size int, gen uint64, idx map[string]api.PayloadFieldSchema) *Command {
	return &Command{V: ReplaceCommandVersion, Type: TypeReplaceCollection, Collection: name, Config: testConfig(size),
		PayloadIndexes: idx, Generation: gen, CreatedAt: t0.Add(time.Hour)}
}

func TestReplaceCollection(t *testing.T) {
	s := NewState()
	kw := api.PayloadFieldSchema{Type: api.SchemaKeyword}
	geo := api.PayloadFieldSchema{Type: api.SchemaGeo}
	mustApply(t, s, create("a", 4), aliases(createAlias("x", "a")),
		&Command{V: 1, Type: TypeCreatePayloadIndex, Collection: "a", Field: "old", Schema: &kw})

	// Refusals leave the state unchanged.
	wantErr(t, s, &Command{V: 1, Type: TypeReplaceCollection, Collection: "a", Config: testConfig(8), Generation: 1}, api.KindBadInput, "needs command version 2")
	wantErr(t, s, replace("a", 8, 0, nil), api.KindBadInput, "generation above 0")
	wantErr(t, s, replace("x", 8, 1, nil), api.KindBadInput, "Alias with the same name")
	wantErr(t, s, replace("", 8, 1, nil), api.KindBadInput, "must not be empty")
	wantErr(t, s, &Command{V: 2, Type: TypeReplaceCollection, Collection: "a", Generation: 1}, api.KindBadInput, "needs a config")
	wantErr(t, s, replace("a", 8, 1, map[string]api.PayloadFieldSchema{"f": {Type: "blob"}}), api.KindBadInput, "field_schema")

	// One command swaps config, indexes and generation; aliases and the
	// creation time stay.
	mustApply(t, s, replace("a", 8, 1, map[string]api.PayloadFieldSchema{"new": geo}))
	c := s.Collections["a"]
	if c.Config.Params.Vectors[""].Size != 8 || c.Generation != 1 || !c.CreatedAt.Equal(t0) {
		t.Fatalf("replaced collection %+v", c)
	}
	if _, ok := c.PayloadIndexes["old"]; ok || c.PayloadIndexes["new"].Type != api.SchemaGeo || len(c.PayloadIndexes) != 1 {
		t.Fatalf("payload indexes %v", c.PayloadIndexes)
	}
	if s.Aliases["x"] != "a" {
		t.Fatalf("alias lost: %v", s.Aliases)
	}
	wantErr(t, s, replace("a", 8, 1, nil), api.KindBadInput, "generation above 1")

	// Later commands keep the generation.
	mustApply(t, s, &Command{V: 1, Type: TypeUpdateCollection, Collection: "a", Config: testConfig(8)},
		&Command{V: 1, Type: TypeCreatePayloadIndex, Collection: "a", Field: "k", Schema: &kw},
		&Command{V: 1, Type: TypeDropPayloadIndex, Collection: "a", Field: "k"})
	if g := s.Collections["a"].Generation; g != 1 {
		t.Fatalf("generation %d after other commands, want 1", g)
	}

	// A new collection takes the command's creation time.
	mustApply(t, s, replace("b", 3, 0, nil))
	if b := s.Collections["b"]; !b.CreatedAt.Equal(t0.Add(time.Hour)) || b.Generation != 0 || b.PayloadIndexes == nil {
		t.Fatalf("new collection %+v", b)
	}
	// The command round-trips through its envelope.
	enc, err := replace("a", 5, 7, map[string]api.PayloadFieldSchema{"new": geo}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(enc), `"v":2`) || !strings.Contains(string(enc), `"generation":7`) {
		t.Fatalf("envelope %s", enc)
	}
	dec, err := DecodeCommand(enc)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, dec)
	if s.Collections["a"].Generation != 7 {
		t.Fatal("decoded command not applied")
	}
}

func TestGenerationLayout(t *testing.T) {
	if GenerationDir("/c/a", 0) != "/c/a" || GenerationDir("/c/a", 12) != filepath.Join("/c/a", "gen-12") {
		t.Fatal("GenerationDir")
	}
	for entry, want := range map[string]uint64{"gen-1": 1, "gen-18446744073709551615": 1<<64 - 1} {
		if g, ok := ParseGenerationEntry(entry); !ok || g != want {
			t.Fatalf("ParseGenerationEntry(%q) = %d, %v", entry, g, ok)
		}
	}
	for _, entry := range []string{"gen-", "gen-0", "gen-01", "gen-x", "0", "12", "gen-1.restore-tmp-ab", "gen--1"} {
		if _, ok := ParseGenerationEntry(entry); ok {
			t.Fatalf("ParseGenerationEntry(%q) accepted", entry)
		}
	}
	cases := []struct {
		entry string
		gen   uint64
		want  bool
	}{
		{"0", 0, true}, {"3", 0, true}, {"gen-1", 0, false},
		{"gen-2", 2, true}, {"gen-1", 2, false}, {"0", 2, false}, {"gen-20", 2, false},
	}
	for _, c := range cases {
		if got := BelongsToGeneration(c.entry, c.gen); got != c.want {
			t.Fatalf("BelongsToGeneration(%q, %d) = %v", c.entry, c.gen, got)
		}
	}
}

// TestStoreFormatFollowsGenerations checks that meta.json stays format 1
// until a collection has a generation, is written as format 2 from then on,
// reloads, and that a format-1 file claiming a generation is refused.
func TestStoreFormatFollowsGenerations(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	format := func() int {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Format int }
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		return body.Format
	}
	if err := st.Apply(create("a", 4)); err != nil {
		t.Fatal(err)
	}
	if f := format(); f != FileFormat {
		t.Fatalf("format %d without generations, want %d", f, FileFormat)
	}
	if err := st.Apply(replace("a", 4, 3, nil)); err != nil {
		t.Fatal(err)
	}
	if f := format(); f != FileFormatGenerations {
		t.Fatalf("format %d with a generation, want %d", f, FileFormatGenerations)
	}
	st2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g := st2.State().Collections["a"].Generation; g != 3 {
		t.Fatalf("reloaded generation %d", g)
	}
	// Deleting the only collection with a generation returns to format 1.
	if err := st2.Apply(&Command{V: 1, Type: TypeDeleteCollection, Collection: "a"}); err != nil {
		t.Fatal(err)
	}
	if f := format(); f != FileFormat {
		t.Fatalf("format %d after delete, want %d", f, FileFormat)
	}
	bad := `{"format": 1, "state": {"collections": {"a": {"config": {}, "generation": 2}}}}`
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir); err == nil || !strings.Contains(err.Error(), "generation 2 in format 1") {
		t.Fatalf("format-1 file with a generation: %v", err)
	}
}

func TestStoreSaveCreatesFile(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Existed() {
		t.Fatal("new store existed")
	}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	st2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st2.Existed() || len(st2.State().Collections) != 0 {
		t.Fatalf("saved empty store: existed %v, %d collections", st2.Existed(), len(st2.State().Collections))
	}
}
