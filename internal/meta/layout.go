package meta

import (
	"path/filepath"
	"strconv"
	"strings"
)

// generationPrefix starts the name of a generation directory inside a
// collection's directory. Shard directories are plain numbers, so the two
// never collide.
const generationPrefix = "gen-"

// GenerationEntry returns the name of generation gen's directory inside
// collections/<name>/: "" for generation 0 (whose shards live in
// collections/<name>/ itself), else "gen-<gen>".
func GenerationEntry(gen uint64) string {
	if gen == 0 {
		return ""
	}
	return generationPrefix + strconv.FormatUint(gen, 10)
}

// ParseGenerationEntry reports whether entry (a name inside
// collections/<name>/) is a generation directory, and which.
func ParseGenerationEntry(entry string) (uint64, bool) {
	rest, ok := strings.CutPrefix(entry, generationPrefix)
	if !ok || rest == "" {
		return 0, false
	}
	g, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || g == 0 || strconv.FormatUint(g, 10) != rest {
		return 0, false
	}
	return g, true
}

// GenerationDir returns the directory holding generation gen of the
// collection whose directory is collectionDir (collections/<name>).
func GenerationDir(collectionDir string, gen uint64) string {
	if gen == 0 {
		return collectionDir
	}
	return filepath.Join(collectionDir, GenerationEntry(gen))
}

// BelongsToGeneration reports whether entry, a name inside
// collections/<name>/, is part of generation gen: for gen > 0 only its
// gen-<gen> directory; for generation 0 everything except generation
// directories.
func BelongsToGeneration(entry string, gen uint64) bool {
	g, isGen := ParseGenerationEntry(entry)
	if gen == 0 {
		return !isGen
	}
	return isGen && g == gen
}
