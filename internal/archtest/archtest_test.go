package archtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/shoal-db/shoal"

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("cannot find the module root from %s: %v", dir, err)
	}
	return dir
}

// TestImportDirection is the real check over this repository.
func TestImportDirection(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	layers, err := ParseLayers(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"cmd/shoal", "internal/server", "internal/service", "internal/shard", "internal/api"} {
		if _, ok := layers[must]; !ok {
			t.Fatalf("ARCHITECTURE.md's table lacks %s; parsed %v", must, layers)
		}
	}
	pkgs, err := ListPackages(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range Check(module, layers, pkgs) {
		t.Error(p)
	}
}

// TestCheckCatchesViolations proves the checker fails on the violations it
// exists for, using a synthetic package graph.
func TestCheckCatchesViolations(t *testing.T) {
	doc := "# x\n\n| package | job |\n|---|---|\n" +
		"| `cmd/shoal` | main |\n| `internal/server` | root |\n| `internal/rest` | http |\n" +
		"| `internal/service` | svc |\n| `internal/shard` | shard |\n| `internal/vecmath` | math |\n| `internal/api` | model |\n\nRules.\n| `internal/late` | not in the table |\n"
	layers, err := ParseLayers(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := layers["internal/late"]; ok {
		t.Fatal("a row after the table ended was parsed")
	}
	m := func(p string) string { return module + "/" + p }
	pkgs := []Package{
		{ImportPath: m("cmd/shoal"), Imports: []string{m("internal/server"), "os"}},
		{ImportPath: m("internal/server"), Imports: []string{m("internal/rest"), m("internal/service")}},
		{ImportPath: m("internal/api"), Imports: []string{m("internal/shard")}},                        // up
		{ImportPath: m("internal/shard"), Imports: []string{m("internal/service"), m("internal/api")}}, // up
		{ImportPath: m("internal/service"), Imports: []string{m("internal/server")}},                   // into the root
		{ImportPath: m("internal/rest"), Imports: []string{m("cmd/shoal")}},                            // a binary
		{ImportPath: m("internal/vecmath/gen"), Imports: []string{m("internal/vecmath")}},              // own subpackage: fine
		{ImportPath: m("internal/vecmath"), Imports: []string{m("internal/api")}},
		{ImportPath: m("internal/mystery"), Imports: nil}, // unlisted
		{ImportPath: m("tests/e2e"), Imports: []string{m("internal/server")}},
	}
	got := strings.Join(Check(module, layers, pkgs), "\n")
	for _, want := range []string{
		"internal/api imports internal/shard",
		"internal/shard imports internal/service",
		"internal/service imports internal/server",
		"internal/rest imports cmd/shoal",
		"internal/mystery is not in the package table",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing violation %q in:\n%s", want, got)
		}
	}
	if n := len(Check(module, layers, pkgs)); n != 5 {
		t.Errorf("want exactly 5 violations, got %d:\n%s", n, got)
	}
}
