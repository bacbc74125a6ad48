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

// textConfig is a text index's tokenizer configuration.
type textConfig struct {
	tokenizer string
	lowercase bool
	minLen    int // 0: no minimum
	maxLen    int // 0: no maximum
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
	if c.minLen, _, err = paramInt(params, "min_token_len"); err != nil {
		return c, err
	}
	if c.maxLen, _, err = paramInt(params, "max_token_len"); err != nil {
		return c, err
	}
	return c, nil
}

// words splits s into the tokenizer's words, lowercased when configured,
// without length filtering.
func (c textConfig) words(s string) []string {
	var ws []string
	if c.tokenizer == tokWhitespace {
		ws = strings.Fields(s)
	} else {
		ws = strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	}
	if c.lowercase {
		for i, w := range ws {
			ws[i] = strings.ToLower(w)
		}
	}
	return ws
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
