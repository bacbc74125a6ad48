package filter

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/shoal-db/shoal/internal/api"
)

// itemKind is the kind of one step of a Path after its first key.
type itemKind uint8

const (
	itemKey      itemKind = iota // .key
	itemIndex                    // [N]
	itemWildcard                 // []
)

// pathItem is one step of a Path.
type pathItem struct {
	kind  itemKind
	key   string
	index int
}

// Path is a parsed Qdrant JSON path: a first object key followed by object
// keys (".key" or `."quoted key"`), array indexes ("[3]") and array
// wildcards ("[]").
type Path struct {
	first string
	rest  []pathItem
}

// ParsePath parses s with Qdrant's JSON path grammar: unquoted keys consist
// of letters, digits, '_' and '-'; any other key is written in double quotes
// (without '"' or '\' inside). It returns a bad-input error in Qdrant's words
// for an invalid path.
func ParsePath(s string) (Path, error) {
	p, ok := parsePath(s)
	if !ok {
		return Path{}, api.ErrBadInput("Invalid json path: '%s'", s)
	}
	return p, nil
}

func isRawKeyRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.No, r) || r == '_' || r == '-'
}

// rawKey returns the longest prefix of s made of raw key characters.
func rawKey(s string) (string, string) {
	i := 0
	for i < len(s) {
		r, n := rune(s[i]), 1
		if r >= 0x80 {
			r, n = decodeRune(s[i:])
		}
		if !isRawKeyRune(r) {
			break
		}
		i += n
	}
	return s[:i], s[i:]
}

func decodeRune(s string) (rune, int) {
	for i, r := range s {
		if i == 0 {
			return r, len(string(r))
		}
	}
	return 0, 0
}

// quotedKey parses `"..."` at the start of s.
func quotedKey(s string) (string, string, bool) {
	if len(s) == 0 || s[0] != '"' {
		return "", s, false
	}
	end := strings.IndexAny(s[1:], "\"\\")
	if end < 0 || s[1+end] != '"' {
		return "", s, false
	}
	return s[1 : 1+end], s[2+end:], true
}

func parseKey(s string) (string, string, bool) {
	if k, rest := rawKey(s); k != "" {
		return k, rest, true
	}
	return quotedKey(s)
}

func parsePath(s string) (Path, bool) {
	var p Path
	first, s, ok := parseKey(s)
	if !ok {
		return Path{}, false
	}
	p.first = first
	for len(s) > 0 {
		switch {
		case s[0] == '.':
			k, rest, ok := parseKey(s[1:])
			if !ok {
				return Path{}, false
			}
			p.rest = append(p.rest, pathItem{kind: itemKey, key: k})
			s = rest
		case strings.HasPrefix(s, "[]"):
			p.rest = append(p.rest, pathItem{kind: itemWildcard})
			s = s[2:]
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 2 {
				return Path{}, false
			}
			digits := s[1:end]
			for _, c := range []byte(digits) {
				if c < '0' || c > '9' {
					return Path{}, false
				}
			}
			n, err := strconv.Atoi(digits)
			if err != nil {
				return Path{}, false
			}
			p.rest = append(p.rest, pathItem{kind: itemIndex, index: n})
			s = s[end+1:]
		default:
			return Path{}, false
		}
	}
	return p, true
}

func keyNeedsQuoting(k string) bool {
	raw, rest := rawKey(k)
	return raw == "" || rest != ""
}

// String returns the canonical form of the path (keys quoted only when
// needed); equal paths have equal strings.
func (p Path) String() string {
	var b strings.Builder
	writeKey := func(k string) {
		if keyNeedsQuoting(k) {
			b.WriteByte('"')
			b.WriteString(k)
			b.WriteByte('"')
		} else {
			b.WriteString(k)
		}
	}
	writeKey(p.first)
	for _, it := range p.rest {
		switch it.kind {
		case itemKey:
			b.WriteByte('.')
			writeKey(it.key)
		case itemIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(it.index))
			b.WriteByte(']')
		case itemWildcard:
			b.WriteString("[]")
		}
	}
	return b.String()
}

// arrayKey returns the path with "[]" appended unless it already ends with
// one (the element path of a nested condition).
func (p Path) arrayKey() Path {
	if n := len(p.rest); n > 0 && p.rest[n-1].kind == itemWildcard {
		return p
	}
	rest := make([]pathItem, len(p.rest), len(p.rest)+1)
	copy(rest, p.rest)
	return Path{first: p.first, rest: append(rest, pathItem{kind: itemWildcard})}
}

// get appends the raw values at the path to out, as Qdrant's value_get does:
// no implicit flattening, "[]" expands an array, "[N]" picks one element, and
// a step that does not fit the value's type yields nothing.
func (p Path) get(m map[string]any, out []any) []any {
	v, ok := m[p.first]
	if !ok {
		return out
	}
	return getRest(p.rest, v, out)
}

func getRest(rest []pathItem, v any, out []any) []any {
	for i, it := range rest {
		switch it.kind {
		case itemKey:
			o, ok := v.(map[string]any)
			if !ok {
				return out
			}
			if v, ok = o[it.key]; !ok {
				return out
			}
		case itemIndex:
			a, ok := v.([]any)
			if !ok || it.index >= len(a) {
				return out
			}
			v = a[it.index]
		case itemWildcard:
			a, ok := v.([]any)
			if !ok {
				return out
			}
			for _, e := range a {
				out = getRest(rest[i+1:], e, out)
			}
			return out
		}
	}
	return append(out, v)
}

// RawValues returns the values at path in p without flattening leaf arrays
// (Qdrant's value_get). An invalid path yields nil.
func RawValues(p api.Payload, path string) []any {
	pp, ok := parsePath(path)
	if !ok {
		return nil
	}
	return pp.get(p, nil)
}

// Values returns the values at path in p as conditions see them: the raw
// values, with arrays at the leaf flattened one level. An invalid path
// yields nil.
func Values(p api.Payload, path string) []any {
	pp, ok := parsePath(path)
	if !ok {
		return nil
	}
	return flatten(pp.get(p, nil))
}

func flatten(raw []any) []any {
	var out []any
	for _, v := range raw {
		if a, ok := v.([]any); ok {
			out = append(out, a...)
		} else {
			out = append(out, v)
		}
	}
	return out
}

// SetAt implements set_payload: with an empty path it merges value into the
// top level of p; otherwise it merges value into the object at path, creating
// objects along the way and replacing values of the wrong type, as Qdrant's
// value_set does ("[N]" past the end of an array changes nothing; "[]" applies
// to every element). A null in value deletes that key, as in Qdrant's merge.
// p is not modified: the result shares unchanged subtrees with it.
func SetAt(p api.Payload, path string, value api.Payload) (api.Payload, error) {
	out := make(api.Payload, len(p)+len(value))
	for k, v := range p {
		out[k] = v
	}
	if path == "" {
		mergeInto(out, value)
		return out, nil
	}
	pp, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	old, ok := p[pp.first]
	if !ok {
		old = nil
	}
	out[pp.first] = setRest(pp.rest, old, value)
	return out, nil
}

func mergeInto(dst map[string]any, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// setRest returns a copy of v with value merged at rest.
func setRest(rest []pathItem, v any, value map[string]any) any {
	if len(rest) == 0 {
		o, _ := v.(map[string]any)
		n := make(map[string]any, len(o)+len(value))
		for k, e := range o {
			n[k] = e
		}
		mergeInto(n, value)
		return n
	}
	it := rest[0]
	switch it.kind {
	case itemKey:
		o, _ := v.(map[string]any)
		n := make(map[string]any, len(o)+1)
		for k, e := range o {
			n[k] = e
		}
		n[it.key] = setRest(rest[1:], o[it.key], value)
		return n
	case itemIndex:
		a, ok := v.([]any)
		if !ok {
			return []any{}
		}
		if it.index >= len(a) {
			return a
		}
		n := append([]any(nil), a...)
		n[it.index] = setRest(rest[1:], a[it.index], value)
		return n
	default: // wildcard
		a, ok := v.([]any)
		if !ok {
			return []any{}
		}
		n := make([]any, len(a))
		for i, e := range a {
			n[i] = setRest(rest[1:], e, value)
		}
		return n
	}
}

// DeleteAt implements delete_payload for one key, which may be a path: the
// value at path is removed (for a path ending in "[]" the array is emptied;
// a path ending in "[N]" removes nothing, as in Qdrant). p is not modified;
// the result shares unchanged subtrees with it. An invalid path removes
// nothing.
func DeleteAt(p api.Payload, path string) api.Payload {
	pp, ok := parsePath(path)
	if !ok {
		return p
	}
	v, ok := p[pp.first]
	if !ok {
		return p
	}
	out := make(api.Payload, len(p))
	for k, e := range p {
		out[k] = e
	}
	if len(pp.rest) == 0 {
		delete(out, pp.first)
		return out
	}
	out[pp.first] = deleteRest(pp.rest, v)
	return out
}

// deleteRest returns v with the value at rest removed (copying what changes).
func deleteRest(rest []pathItem, v any) any {
	it := rest[0]
	last := len(rest) == 1
	switch it.kind {
	case itemKey:
		o, ok := v.(map[string]any)
		if !ok {
			return v
		}
		e, ok := o[it.key]
		if !ok {
			return v
		}
		n := make(map[string]any, len(o))
		for k, x := range o {
			n[k] = x
		}
		if last {
			delete(n, it.key)
		} else {
			n[it.key] = deleteRest(rest[1:], e)
		}
		return n
	case itemIndex:
		a, ok := v.([]any)
		if !ok || last || it.index >= len(a) {
			return v
		}
		n := append([]any(nil), a...)
		n[it.index] = deleteRest(rest[1:], a[it.index])
		return n
	default:
		a, ok := v.([]any)
		if !ok {
			return v
		}
		if last {
			return []any{}
		}
		n := make([]any, len(a))
		for i, e := range a {
			n[i] = deleteRest(rest[1:], e)
		}
		return n
	}
}

// Select applies a with_payload selector: nil or {Enable: false} gives nil;
// Include keeps the subtrees on or above the given paths; Exclude drops the
// subtrees at the given paths. Paths are compared step by step, with array
// elements seen as "[]" (as Qdrant does); invalid paths select nothing. The
// result shares unchanged subtrees with p.
func Select(p api.Payload, sel *api.PayloadSelector) api.Payload {
	if sel == nil || !sel.Enable {
		return nil
	}
	if p == nil {
		return api.Payload{}
	}
	switch {
	case sel.Include != nil:
		pats := parsePaths(sel.Include)
		return selectWalk(p, func(path []pathItem, first string) bool {
			for _, pt := range pats {
				if includeMatch(first, path, pt) {
					return true
				}
			}
			return false
		})
	case sel.Exclude != nil:
		pats := parsePaths(sel.Exclude)
		return selectWalk(p, func(path []pathItem, first string) bool {
			for _, pt := range pats {
				if excludeMatch(first, path, pt) {
					return false
				}
			}
			return true
		})
	}
	return p
}

func parsePaths(ss []string) []Path {
	out := make([]Path, 0, len(ss))
	for _, s := range ss {
		if p, ok := parsePath(s); ok {
			out = append(out, p)
		}
	}
	return out
}

func itemEqual(a, b pathItem) bool {
	return a.kind == b.kind && a.key == b.key && a.index == b.index
}

// includeMatch reports whether the node at (first, path) lies on or under a
// pattern, or above it: one is a prefix of the other.
func includeMatch(first string, path []pathItem, pat Path) bool {
	if first != pat.first {
		return false
	}
	for i := 0; i < len(path) && i < len(pat.rest); i++ {
		if !itemEqual(path[i], pat.rest[i]) {
			return false
		}
	}
	return true
}

// excludeMatch reports whether the node at (first, path) lies on or under
// the pattern.
func excludeMatch(first string, path []pathItem, pat Path) bool {
	if first != pat.first || len(path) < len(pat.rest) {
		return false
	}
	for i := range pat.rest {
		if !itemEqual(path[i], pat.rest[i]) {
			return false
		}
	}
	return true
}

func selectWalk(p api.Payload, keep func(path []pathItem, first string) bool) api.Payload {
	out := api.Payload{}
	var path []pathItem
	var walk func(first string, v any) any
	walk = func(first string, v any) any {
		switch x := v.(type) {
		case map[string]any:
			n := make(map[string]any, len(x))
			for k, e := range x {
				path = append(path, pathItem{kind: itemKey, key: k})
				if keep(path, first) {
					n[k] = walk(first, e)
				}
				path = path[:len(path)-1]
			}
			return n
		case []any:
			n := make([]any, 0, len(x))
			path = append(path, pathItem{kind: itemWildcard})
			for _, e := range x {
				if keep(path, first) {
					n = append(n, walk(first, e))
				}
			}
			path = path[:len(path)-1]
			return n
		}
		return v
	}
	for k, v := range p {
		path = path[:0]
		if keep(nil, k) {
			out[k] = walk(k, v)
		}
	}
	return out
}
