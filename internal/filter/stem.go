package filter

import (
	"sort"
	"strings"

	"github.com/kljensen/snowball/english"
	"github.com/kljensen/snowball/french"
	"github.com/kljensen/snowball/hungarian"
	"github.com/kljensen/snowball/norwegian"
	"github.com/kljensen/snowball/russian"
	"github.com/kljensen/snowball/spanish"
	"github.com/kljensen/snowball/swedish"

	"github.com/shoal-db/shoal/internal/api"
)

// snowballLanguages lists every language Qdrant's snowball stemmer accepts
// (the OpenAPI SnowballLanguage enum) with the stemmer Shoal has for it
// (github.com/kljensen/snowball), nil where it has none.
var snowballLanguages = map[string]func(word string, stemStopWords bool) string{
	"arabic": nil, "armenian": nil, "danish": nil, "dutch": nil,
	"english": english.Stem, "finnish": nil, "french": french.Stem, "german": nil,
	"greek": nil, "hungarian": hungarian.Stem, "italian": nil,
	"norwegian": norwegian.Stem, "portuguese": nil, "romanian": nil,
	"russian": russian.Stem, "spanish": spanish.Stem, "swedish": swedish.Stem,
	"tamil": nil, "turkish": nil,
}

// supportedSnowballLanguages returns the languages Shoal can stem, sorted.
func supportedSnowballLanguages() []string {
	var out []string
	for lang, fn := range snowballLanguages {
		if fn != nil {
			out = append(out, lang)
		}
	}
	sort.Strings(out)
	return out
}

// newStemmer returns the snowball stemmer for lang, or a bad-input error
// naming the language when lang is unknown or has no stemmer here.
func newStemmer(lang string) (func(string) string, error) {
	fn, known := snowballLanguages[lang]
	if !known {
		return nil, api.ErrBadInput("stemmer: unknown snowball language %q", lang)
	}
	if fn == nil {
		return nil, api.ErrBadInput("stemmer: snowball stemming for %q is not available on this server (available: %s)",
			lang, strings.Join(supportedSnowballLanguages(), ", "))
	}
	return func(w string) string { return stemWord(fn, w) }, nil
}

// stemWord stems w. The snowball stemmers work on lowercase words; when w
// has uppercase letters (an index with lowercase disabled), the stem keeps
// the letters of w for the prefix it shares with the lowercased word, so
// that stemming never changes the case of what it keeps.
func stemWord(fn func(string, bool) string, w string) (out string) {
	defer func() {
		// A stemmer must never take the index down: a word it cannot
		// handle is kept as it is.
		if recover() != nil {
			out = w
		}
	}()
	lw := strings.ToLower(w)
	s := fn(lw, true)
	if lw == w || s == "" {
		return s
	}
	orig, low, st := []rune(w), []rune(lw), []rune(s)
	if len(orig) != len(low) {
		return s
	}
	k := 0
	for k < len(st) && k < len(low) && st[k] == low[k] {
		k++
	}
	return string(orig[:k]) + string(st[k:])
}
