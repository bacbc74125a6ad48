// Package archtest enforces the import direction written in
// ARCHITECTURE.md: its package table is ordered from the top (binaries,
// composition root, adapters) to the bottom (data model), and a package may
// import only packages below it. The rule is read from the document itself,
// so the document and the test cannot drift apart.
//
// The package has no production code; its test runs `go list` over the
// module.
package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// Layers maps a package path relative to the module root (for example
// "internal/shard") to its rank: 0 for the first row of the table, growing
// downwards.
type Layers map[string]int

var rowRE = regexp.MustCompile("^\\|\\s*`([^`]+)`\\s*\\|")

// ParseLayers reads the package table of ARCHITECTURE.md: the rows of the
// first Markdown table whose first cell is a back-quoted package path.
func ParseLayers(r io.Reader) (Layers, error) {
	layers := Layers{}
	sc := bufio.NewScanner(r)
	inTable := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		m := rowRE.FindStringSubmatch(line)
		if m == nil {
			if inTable && !strings.HasPrefix(line, "|") {
				break // the table ended
			}
			continue
		}
		inTable = true
		if _, dup := layers[m[1]]; dup {
			return nil, fmt.Errorf("package %s is listed twice", m[1])
		}
		layers[m[1]] = len(layers)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read ARCHITECTURE.md: %w", err)
	}
	if len(layers) == 0 {
		return nil, errors.New("cannot find the package table in ARCHITECTURE.md")
	}
	return layers, nil
}

// Rank returns the rank of pkg (module-relative): the rank of the longest
// listed path that is pkg or a parent of it. Packages outside internal/
// (binaries, examples, end-to-end tests) rank above everything (-1) when not
// listed. ok is false for an unlisted internal package.
func (l Layers) Rank(pkg string) (rank int, ok bool) {
	best := ""
	for p := range l {
		if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	if best != "" {
		return l[best], true
	}
	if !strings.HasPrefix(pkg, "internal/") {
		return -1, true
	}
	return 0, false
}

// Package is the part of `go list -json` the check reads.
type Package struct {
	ImportPath string
	Imports    []string
}

// ListPackages runs `go list -json ./...` in dir and decodes the stream.
func ListPackages(dir string) ([]Package, error) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("cannot run go list: %w: %s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("cannot decode go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// Check returns one message per violation: an import that points up or
// sideways, or an internal package missing from the table. module is the
// module path; only imports inside it are checked.
func Check(module string, layers Layers, pkgs []Package) []string {
	var problems []string
	rel := func(path string) (string, bool) {
		if path == module {
			return ".", true
		}
		r, ok := strings.CutPrefix(path, module+"/")
		return r, ok
	}
	for _, p := range pkgs {
		from, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		fromRank, known := layers.Rank(from)
		if !known {
			problems = append(problems, fmt.Sprintf("%s is not in the package table of ARCHITECTURE.md: add a row saying where it sits", from))
			continue
		}
		for _, imp := range p.Imports {
			to, ok := rel(imp)
			if !ok {
				continue
			}
			toRank, known := layers.Rank(to)
			if !known {
				continue // reported when the package itself is visited
			}
			if strings.HasPrefix(to, "cmd/") || !strings.HasPrefix(to, "internal/") {
				problems = append(problems, fmt.Sprintf("%s imports %s: nothing may import a binary or a top-level package", from, to))
				continue
			}
			if sameLayer(layers, from, to) {
				continue // a package and its own subpackages
			}
			if toRank <= fromRank {
				problems = append(problems, fmt.Sprintf("%s imports %s, which is not below it in ARCHITECTURE.md", from, to))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// sameLayer reports whether a and b resolve to the same listed row (a
// package and its subpackages, such as internal/vecmath and
// internal/vecmath/gen).
func sameLayer(l Layers, a, b string) bool {
	row := func(pkg string) string {
		best := ""
		for p := range l {
			if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
				best = p
			}
		}
		return best
	}
	ra, rb := row(a), row(b)
	return ra != "" && ra == rb
}
