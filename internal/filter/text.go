package filter

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shoal-db/shoal/internal/api"
)

// Tokenizer kinds of a text index.
const (
	tokWord         = "word"
	tokWhitespace   = "whitespace"
	tokPrefix       = "prefix"
	tokMultilingual = "multilingual"
)

// textConfig is a text index's analyser: how a string becomes tokens, for
// the indexed values and for the query text alike. A word goes through
// lowercasing, ASCII folding, stopword removal and stemming, in that order,
// and then through the token length filters.
type textConfig struct {
	tokenizer      string
	lowercase      bool
	asciiFolding   bool
	phraseMatching bool                // accepted and reported; phrases are always matched
	minLen         int                 // 0: no minimum
	maxLen         int                 // 0: no maximum
	stopwords      map[string]struct{} // lowercase; nil: none
	stem           func(string) string // nil: no stemming
}

func paramInt(params map[string]any, key string) (int, bool, error) {
	v, ok := params[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	switch x := v.(type) {
	case float64:
		if x >= 0 && x == float64(int(x)) {
			return int(x), true, nil
		}
	case json.Number:
		if n, ok := asInt64(x); ok && n >= 0 {
			return int(n), true, nil
		}
	case int:
		if x >= 0 {
			return x, true, nil
		}
	}
	return 0, false, api.ErrBadInput("%s must be a non-negative integer", key)
}

func paramBool(params map[string]any, key string, def bool) (bool, error) {
	v, ok := params[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, api.ErrBadInput("%s must be a bool", key)
	}
	return b, nil
}

func parseTextConfig(params map[string]any) (textConfig, error) {
	c := textConfig{tokenizer: tokWord, lowercase: true}
	if v, ok := params["tokenizer"]; ok && v != nil {
		s, _ := v.(string)
		switch s {
		case tokWord, tokWhitespace, tokPrefix, tokMultilingual:
			c.tokenizer = s
		default:
			return c, api.ErrBadInput("unknown tokenizer %v: expected word, whitespace, prefix or multilingual", v)
		}
	}
	var err error
	if c.lowercase, err = paramBool(params, "lowercase", true); err != nil {
		return c, err
	}
	if c.asciiFolding, err = paramBool(params, "ascii_folding", false); err != nil {
		return c, err
	}
	if c.phraseMatching, err = paramBool(params, "phrase_matching", false); err != nil {
		return c, err
	}
	if c.minLen, _, err = paramInt(params, "min_token_len"); err != nil {
		return c, err
	}
	if c.maxLen, _, err = paramInt(params, "max_token_len"); err != nil {
		return c, err
	}
	if c.stopwords, err = parseStopwords(params["stopwords"]); err != nil {
		return c, err
	}
	if c.stem, err = parseStemmer(params["stemmer"]); err != nil {
		return c, err
	}
	return c, nil
}

// parseStopwords reads Qdrant's StopwordsInterface: a language name or
// {"languages": [...], "custom": [...]}.
func parseStopwords(v any) (map[string]struct{}, error) {
	if v == nil {
		return nil, nil
	}
	set := map[string]struct{}{}
	switch x := v.(type) {
	case string:
		if err := addStopwords(set, x); err != nil {
			return nil, err
		}
		return set, nil
	case map[string]any:
		for k := range x {
			if k != "languages" && k != "custom" {
				return nil, api.ErrBadInput("stopwords: unknown field %q: expected languages or custom", k)
			}
		}
		langs, err := stringList(x["languages"], "stopwords.languages")
		if err != nil {
			return nil, err
		}
		for _, l := range langs {
			if err := addStopwords(set, l); err != nil {
				return nil, err
			}
		}
		custom, err := stringList(x["custom"], "stopwords.custom")
		if err != nil {
			return nil, err
		}
		for _, w := range custom {
			set[strings.ToLower(w)] = struct{}{}
		}
		return set, nil
	}
	return nil, api.ErrBadInput("stopwords must be a language name or an object with languages and custom")
}

// stringList reads a JSON list of strings (null: empty).
func stringList(v any, what string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, api.ErrBadInput("%s must be a list of strings", what)
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, api.ErrBadInput("%s must be a list of strings, got %v", what, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseStemmer reads Qdrant's StemmingAlgorithm: {"type": "snowball",
// "language": ...} or {"type": "none"}.
func parseStemmer(v any) (func(string) string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, api.ErrBadInput(`stemmer must be an object: {"type": "snowball", "language": ...} or {"type": "none"}`)
	}
	switch m["type"] {
	case "none":
		return nil, nil
	case "snowball":
		lang, ok := m["language"].(string)
		if !ok {
			return nil, api.ErrBadInput("stemmer: the snowball stemmer needs a language")
		}
		return newStemmer(lang)
	}
	return nil, api.ErrBadInput("stemmer: unknown type %v: expected snowball or none", m["type"])
}

// analyse turns one word of the tokenizer into its token: lowercased when
// configured, ASCII-folded when configured, dropped when it is a stopword,
// stemmed when configured. ok is false for a dropped word.
func (c textConfig) analyse(w string) (string, bool) {
	if c.lowercase {
		w = strings.ToLower(w)
	}
	if c.asciiFolding {
		w = foldASCII(w)
	}
	if c.stopwords != nil {
		key := w
		if !c.lowercase {
			key = strings.ToLower(w)
		}
		if _, stop := c.stopwords[key]; stop {
			return "", false
		}
	}
	if c.stem != nil {
		w = c.stem(w)
	}
	return w, w != ""
}

// words splits s into the tokenizer's words and analyses each (see
// analyse), without length filtering.
func (c textConfig) words(s string) []string {
	var ws []string
	if c.tokenizer == tokWhitespace {
		ws = strings.Fields(s)
	} else {
		ws = strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	}
	out := ws[:0]
	for _, w := range ws {
		if t, ok := c.analyse(w); ok {
			out = append(out, t)
		}
	}
	return out
}

func (c textConfig) lengthOK(w string) bool {
	n := utf8.RuneCountInString(w)
	return (c.minLen == 0 || n >= c.minLen) && (c.maxLen == 0 || n <= c.maxLen)
}

// docTokens returns the document's words that pass the length filters, in
// order (for the prefix tokenizer: whole words; prefixes are matched by
// tokenMatches).
func (c textConfig) docTokens(s string) []string {
	ws := c.words(s)
	out := ws[:0]
	for _, w := range ws {
		if c.tokenizer == tokPrefix {
			if c.minLen == 0 || utf8.RuneCountInString(w) >= c.minLen {
				out = append(out, w)
			}
			continue
		}
		if c.lengthOK(w) {
			out = append(out, w)
		}
	}
	return out
}

// indexTokens returns the distinct terms stored in the inverted index for s:
// the words, or for the prefix tokenizer every prefix of each word between
// min and max token length.
func (c textConfig) indexTokens(s string) []string {
	seen := map[string]struct{}{}
	var out []string
	add := func(t string) {
		if _, ok := seen[t]; !ok {
			seen[t] = struct{}{}
			out = append(out, t)
		}
	}
	for _, w := range c.docTokens(s) {
		if c.tokenizer != tokPrefix {
			add(w)
			continue
		}
		n := 0
		for i := range w {
			if i > 0 {
				n++
				if (c.minLen == 0 || n >= c.minLen) && (c.maxLen == 0 || n <= c.maxLen) {
					add(w[:i])
				}
			}
		}
		n++
		if (c.minLen == 0 || n >= c.minLen) && (c.maxLen == 0 || n <= c.maxLen) {
			add(w)
		}
	}
	return out
}

// queryTokens returns the query's tokens; for the prefix tokenizer a word
// longer than the maximum token length is cut to it.
func (c textConfig) queryTokens(s string) []string {
	ws := c.words(s)
	out := ws[:0]
	for _, w := range ws {
		if c.tokenizer == tokPrefix {
			if c.maxLen > 0 && utf8.RuneCountInString(w) > c.maxLen {
				w = string([]rune(w)[:c.maxLen])
			}
			if c.minLen == 0 || utf8.RuneCountInString(w) >= c.minLen {
				out = append(out, w)
			}
			continue
		}
		if c.lengthOK(w) {
			out = append(out, w)
		}
	}
	return out
}

// tokenMatches reports whether document word d satisfies query token q.
func (c textConfig) tokenMatches(d, q string) bool {
	if c.tokenizer == tokPrefix {
		return strings.HasPrefix(d, q)
	}
	return d == q
}

// matchText reports whether every query token occurs in the document.
func (c textConfig) matchText(doc []string, query []string) bool {
	for _, q := range query {
		found := false
		for _, d := range doc {
			if c.tokenMatches(d, q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// matchAny reports whether some query token occurs in the document.
func (c textConfig) matchAny(doc []string, query []string) bool {
	for _, q := range query {
		for _, d := range doc {
			if c.tokenMatches(d, q) {
				return true
			}
		}
	}
	return false
}

// matchPhrase reports whether the query tokens occur consecutively.
func (c textConfig) matchPhrase(doc []string, query []string) bool {
	if len(query) == 0 {
		return true
	}
	for i := 0; i+len(query) <= len(doc); i++ {
		ok := true
		for j, q := range query {
			if !c.tokenMatches(doc[i+j], q) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
