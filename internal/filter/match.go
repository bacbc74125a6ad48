package filter

import (
	"slices"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
)

// Matcher is a compiled filter: paths parsed, match any/except lists turned
// into sets, datetime bounds converted. It is immutable and safe for
// concurrent use. The zero Matcher and a nil *Matcher match everything.
type Matcher struct {
	root *filterNode
	// payload is set when some condition looks at the payload (not only
	// has_id, has_vector or slice).
	payload bool
}

// evalCtx is the state of one evaluation.
type evalCtx struct {
	id        api.PointID
	hasVector func(string) bool
	nested    bool // inside a nested condition: has_id and has_vector are false
}

// node is one compiled condition.
type node interface {
	eval(ctx *evalCtx, p map[string]any) bool
}

// filterNode is a compiled api.Filter.
type filterNode struct {
	must, should, mustNot []node
	minShould             []node
	minCount              int
	hasMinShould          bool
}

// textLookup returns the text index configuration for a canonical path, or
// nil when the path has no text index.
type textLookup func(path string) *textConfig

// Compile validates f and compiles it into a Matcher that evaluates every
// condition from payloads, with full-text conditions using substring
// semantics (Qdrant's behaviour without a text index). A nil filter matches
// everything. Use IndexSet.Compile to get token semantics on text-indexed
// keys.
func Compile(f *api.Filter) (*Matcher, error) {
	return compile(f, nil)
}

func compile(f *api.Filter, texts textLookup) (*Matcher, error) {
	if err := Validate(f); err != nil {
		return nil, err
	}
	if f == nil {
		return &Matcher{}, nil
	}
	c := compiler{texts: texts}
	root := c.filter(f, Path{}, false)
	return &Matcher{root: root, payload: c.payload}, nil
}

// ReadsPayload reports whether m looks at payloads: when it does not (a
// nil filter, or only has_id, has_vector and slice conditions), Match may
// be given a nil payload.
func (m *Matcher) ReadsPayload() bool { return m != nil && m.payload }

// Match compiles f and evaluates it once; an invalid filter matches nothing.
// Prefer Compile for repeated evaluation.
func Match(f *api.Filter, id api.PointID, p api.Payload, hasVector func(name string) bool) bool {
	m, err := Compile(f)
	if err != nil {
		return false
	}
	return m.Match(id, p, hasVector)
}

// Match reports whether the point with id, payload p and the named vectors
// for which hasVector returns true (hasVector may be nil: no vectors)
// satisfies the filter.
func (m *Matcher) Match(id api.PointID, p api.Payload, hasVector func(name string) bool) bool {
	if m == nil || m.root == nil {
		return true
	}
	ctx := evalCtx{id: id, hasVector: hasVector}
	return m.root.eval(&ctx, p)
}

func (n *filterNode) eval(ctx *evalCtx, p map[string]any) bool {
	for _, c := range n.must {
		if !c.eval(ctx, p) {
			return false
		}
	}
	for _, c := range n.mustNot {
		if c.eval(ctx, p) {
			return false
		}
	}
	if len(n.should) > 0 {
		hit := false
		for _, c := range n.should {
			if c.eval(ctx, p) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if n.hasMinShould && n.minCount > 0 {
		k := 0
		for _, c := range n.minShould {
			if c.eval(ctx, p) {
				k++
				if k >= n.minCount {
					break
				}
			}
		}
		if k < n.minCount {
			return false
		}
	}
	return true
}

// compiler carries the compile-time context.
type compiler struct {
	texts textLookup
	// payload is set once a condition that reads payloads is compiled.
	payload bool
}

// filter compiles f; prefix is the element path of the enclosing nested
// conditions (used only to look up text indexes).
func (c *compiler) filter(f *api.Filter, prefix Path, nested bool) *filterNode {
	n := &filterNode{}
	list := func(cs []api.Condition) []node {
		out := make([]node, 0, len(cs))
		for i := range cs {
			out = append(out, c.condition(&cs[i], prefix, nested))
		}
		return out
	}
	n.must = list(f.Must)
	n.should = list(f.Should)
	n.mustNot = list(f.MustNot)
	if f.MinShould != nil {
		n.hasMinShould = true
		n.minCount = f.MinShould.MinCount
		n.minShould = list(f.MinShould.Conditions)
	}
	return n
}

// join returns prefix + "." + p when prefix is set.
func join(prefix, p Path) Path {
	if prefix.first == "" {
		return p
	}
	rest := make([]pathItem, 0, len(prefix.rest)+1+len(p.rest))
	rest = append(rest, prefix.rest...)
	rest = append(rest, pathItem{kind: itemKey, key: p.first})
	rest = append(rest, p.rest...)
	return Path{first: prefix.first, rest: rest}
}

func mustPath(s string) Path {
	p, _ := parsePath(s) // validated before compiling
	return p
}

func (c *compiler) condition(cond *api.Condition, prefix Path, nested bool) node {
	switch {
	case cond.Field != nil:
		c.payload = true
		return c.field(cond.Field, prefix)
	case cond.IsEmpty != nil:
		c.payload = true
		return isEmptyNode{path: mustPath(cond.IsEmpty.Key)}
	case cond.IsNull != nil:
		c.payload = true
		return isNullNode{path: mustPath(cond.IsNull.Key)}
	case cond.HasID != nil:
		set := make(map[api.PointID]struct{}, len(cond.HasID))
		for _, id := range cond.HasID {
			set[id] = struct{}{}
		}
		return hasIDNode{set: set}
	case cond.HasVector != nil:
		return hasVectorNode{name: *cond.HasVector}
	case cond.Slice != nil:
		return sliceNode{total: cond.Slice.Total, index: cond.Slice.Index}
	case cond.Nested != nil:
		c.payload = true
		p := mustPath(cond.Nested.Key).arrayKey()
		return nestedNode{path: p, inner: c.filter(&cond.Nested.Filter, join(prefix, p), true)}
	case cond.Filter != nil:
		return c.filter(cond.Filter, prefix, nested)
	}
	return &filterNode{}
}

// isEmptyNode is the {"is_empty": {"key"}} condition: every raw value is
// null or an empty array (true when the key is missing).
type isEmptyNode struct{ path Path }

func (n isEmptyNode) eval(_ *evalCtx, p map[string]any) bool {
	var buf [4]any
	for _, v := range n.path.get(p, buf[:0]) {
		if !isEmptyValue(v) {
			return false
		}
	}
	return true
}

func isEmptyValue(v any) bool {
	if v == nil {
		return true
	}
	a, ok := v.([]any)
	return ok && len(a) == 0
}

// isNullNode is the {"is_null": {"key"}} condition: some raw value is an
// explicit null or an array holding one, as the field condition
// {"key", "is_null": true} (Qdrant issue 10096).
type isNullNode struct{ path Path }

func (n isNullNode) eval(_ *evalCtx, p map[string]any) bool {
	var buf [4]any
	for _, v := range n.path.get(p, buf[:0]) {
		switch x := v.(type) {
		case nil:
			return true
		case []any:
			if slices.Contains(x, nil) {
				return true
			}
		}
	}
	return false
}

type hasIDNode struct{ set map[api.PointID]struct{} }

func (n hasIDNode) eval(ctx *evalCtx, _ map[string]any) bool {
	if ctx.nested {
		return false
	}
	_, ok := n.set[ctx.id]
	return ok
}

type hasVectorNode struct{ name string }

func (n hasVectorNode) eval(ctx *evalCtx, _ map[string]any) bool {
	return !ctx.nested && ctx.hasVector != nil && ctx.hasVector(n.name)
}

// nestedNode holds when some object element of the array at path satisfies
// the inner filter, with keys relative to the element.
type nestedNode struct {
	path  Path
	inner *filterNode
}

func (n nestedNode) eval(ctx *evalCtx, p map[string]any) bool {
	inner := evalCtx{id: ctx.id, nested: true}
	var buf [8]any
	for _, v := range n.path.get(p, buf[:0]) {
		if o, ok := v.(map[string]any); ok && n.inner.eval(&inner, o) {
			return true
		}
	}
	return false
}

// valueTest is one field test applied to a single value (Qdrant's
// check_match); arrays are expanded by the field node first, so a value seen
// here that is itself an array is an array nested in an array.
type valueTest interface {
	test(v any) bool
}

// fieldNode is a compiled api.FieldCondition.
type fieldNode struct {
	path        Path
	tests       []valueTest // ORed, each applied to every element
	textIndexed bool        // tests are whole-value text tests (no array expansion)
	count       *api.ValuesCount
	isEmpty     *bool
	isNull      *bool
}

func (c *compiler) field(fc *api.FieldCondition, prefix Path) node {
	n := &fieldNode{path: mustPath(fc.Key), count: fc.ValuesCount, isEmpty: fc.IsEmpty, isNull: fc.IsNull}
	var text *textConfig
	if c.texts != nil && fc.Match != nil && isTextMatch(fc.Match.Kind) {
		text = c.texts(join(prefix, n.path).String())
	}
	if m := fc.Match; m != nil {
		n.tests = append(n.tests, compileMatch(m, text))
		n.textIndexed = text != nil
	}
	if r := fc.Range; r != nil {
		n.tests = append(n.tests, rangeTest{rangeBounds(r)})
	}
	if r := fc.DatetimeRange; r != nil {
		n.tests = append(n.tests, datetimeTest{datetimeBounds(r)})
	}
	if b := fc.GeoBoundingBox; b != nil {
		n.tests = append(n.tests, geoTest{func(p api.GeoPoint) bool { return inBox(b, p) }})
	}
	if r := fc.GeoRadius; r != nil {
		n.tests = append(n.tests, geoTest{func(p api.GeoPoint) bool { return inRadius(r, p) }})
	}
	if g := fc.GeoPolygon; g != nil {
		n.tests = append(n.tests, geoTest{func(p api.GeoPoint) bool { return inPolygon(g, p) }})
	}
	return n
}

func (n *fieldNode) eval(_ *evalCtx, p map[string]any) bool {
	var buf [4]any
	vals := n.path.get(p, buf[:0])
	if len(vals) == 0 {
		switch {
		case n.count != nil:
			// A missing field has no values (Qdrant issue 9586).
			return countOK(n.count, 0)
		case n.isEmpty != nil:
			return *n.isEmpty
		case n.isNull != nil:
			return !*n.isNull
		}
		return false
	}
	for _, v := range vals {
		if n.checkValue(v) {
			return true
		}
	}
	return false
}

// checkValue is Qdrant's FieldCondition::check for one raw value.
func (n *fieldNode) checkValue(v any) bool {
	switch {
	case n.count != nil:
		c := 1
		if v == nil {
			c = 0
		} else if a, ok := v.([]any); ok {
			c = len(a)
		}
		return countOK(n.count, c)
	case n.isEmpty != nil:
		switch x := v.(type) {
		case nil:
			return *n.isEmpty
		case []any:
			return (len(x) == 0) == *n.isEmpty
		}
		return !*n.isEmpty
	case n.isNull != nil:
		switch x := v.(type) {
		case nil:
			return *n.isNull
		case []any:
			hasNull := false
			for _, e := range x {
				if e == nil {
					hasNull = true
					break
				}
			}
			return hasNull == *n.isNull
		}
		return !*n.isNull
	}
	if n.textIndexed {
		// A text index checks the value itself (a string or an array of
		// strings); it never falls back to substring semantics.
		return n.tests[0].test(v)
	}
	if a, ok := v.([]any); ok {
		for _, e := range a {
			for _, t := range n.tests {
				if t.test(e) {
					return true
				}
			}
		}
		return false
	}
	for _, t := range n.tests {
		if t.test(v) {
			return true
		}
	}
	return false
}

func countOK(vc *api.ValuesCount, c int) bool {
	return (vc.Lt == nil || c < *vc.Lt) && (vc.Gt == nil || c > *vc.Gt) &&
		(vc.Lte == nil || c <= *vc.Lte) && (vc.Gte == nil || c >= *vc.Gte)
}

func compileMatch(m *api.Match, text *textConfig) valueTest {
	switch m.Kind {
	case api.MatchValue:
		switch x := m.Value.(type) {
		case string:
			return keywordTest(x)
		case bool:
			return boolTest(x)
		default:
			n, _ := asInt64(x)
			return intTest(n)
		}
	case api.MatchText, api.MatchPhrase, api.MatchTextAny:
		if text != nil {
			return indexedTextTest{cfg: text, query: text.queryTokens(m.Text), kind: m.Kind}
		}
		if m.Kind == api.MatchTextAny {
			return substringAnyTest(strings.Fields(m.Text))
		}
		return substringTest(m.Text)
	case api.MatchPrefixKind:
		return prefixTest(m.Text)
	case api.MatchAny, api.MatchExcept:
		s := newAnySet(m.Values)
		if m.Kind == api.MatchAny {
			return anyTest{s}
		}
		return exceptTest{s}
	}
	return neverTest{}
}

type neverTest struct{}

func (neverTest) test(any) bool { return false }

type keywordTest string

func (t keywordTest) test(v any) bool {
	s, ok := v.(string)
	return ok && s == string(t)
}

// prefixTest is match prefix: a string value starting with the prefix,
// byte-wise and case-sensitive, as keyword equality is.
type prefixTest string

func (t prefixTest) test(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, string(t))
}

type boolTest bool

func (t boolTest) test(v any) bool {
	b, ok := v.(bool)
	return ok && b == bool(t)
}

type intTest int64

func (t intTest) test(v any) bool {
	n, ok := asInt64(v)
	return ok && n == int64(t)
}

type substringTest string

func (t substringTest) test(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, string(t))
}

// substringAnyTest is text_any without a text index (Qdrant's behaviour):
// some whitespace-separated word of the query is a substring of the value.
// An empty query matches nothing.
type substringAnyTest []string

func (t substringAnyTest) test(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	for _, w := range t {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// isTextMatch reports whether k is a full-text match kind, whose meaning
// changes with a text index.
func isTextMatch(k api.MatchKind) bool {
	return k == api.MatchText || k == api.MatchPhrase || k == api.MatchTextAny
}

// indexedTextTest is a full-text condition on a text-indexed key: the value
// (or any string in an array value) is analysed like the index does, and so
// is the query.
type indexedTextTest struct {
	cfg   *textConfig
	query []string
	kind  api.MatchKind // MatchText, MatchPhrase or MatchTextAny
}

func (t indexedTextTest) test(v any) bool {
	switch x := v.(type) {
	case string:
		return t.one(x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && t.one(s) {
				return true
			}
		}
	}
	return false
}

func (t indexedTextTest) one(s string) bool {
	doc := t.cfg.docTokens(s)
	switch t.kind {
	case api.MatchPhrase:
		return t.cfg.matchPhrase(doc, t.query)
	case api.MatchTextAny:
		return t.cfg.matchAny(doc, t.query)
	}
	return t.cfg.matchText(doc, t.query)
}

// anySet is a match any/except list: strings or integers.
type anySet struct {
	ints    bool
	strs    map[string]struct{}
	numbers map[int64]struct{}
}

func newAnySet(values []any) anySet {
	s := anySet{}
	if len(values) > 0 {
		_, isString := values[0].(string)
		s.ints = !isString
	}
	if s.ints {
		s.numbers = make(map[int64]struct{}, len(values))
		for _, v := range values {
			if n, ok := asInt64(v); ok {
				s.numbers[n] = struct{}{}
			}
		}
	} else {
		s.strs = make(map[string]struct{}, len(values))
		for _, v := range values {
			if x, ok := v.(string); ok {
				s.strs[x] = struct{}{}
			}
		}
	}
	return s
}

type anyTest struct{ s anySet }

func (t anyTest) test(v any) bool {
	if t.s.ints {
		n, ok := asInt64(v)
		if !ok {
			return false
		}
		_, ok = t.s.numbers[n]
		return ok
	}
	x, ok := v.(string)
	if !ok {
		return false
	}
	_, ok = t.s.strs[x]
	return ok
}

// exceptTest follows Qdrant: a value of the list's type matches when it is
// not listed; a non-integer number against an integer list, a value of
// another type, an object or a nested array match; null does not.
type exceptTest struct{ s anySet }

func (t exceptTest) test(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		if t.s.ints {
			return true
		}
		_, ok := t.s.strs[x]
		return !ok
	}
	if t.s.ints {
		if n, ok := asInt64(v); ok {
			_, ok = t.s.numbers[n]
			return !ok
		}
	}
	return true
}

type rangeTest struct{ b bounds }

func (t rangeTest) test(v any) bool {
	f, ok := asFloat(v)
	return ok && t.b.contains(f)
}

type datetimeTest struct{ b bounds }

func (t datetimeTest) test(v any) bool {
	us, ok := asDatetime(v)
	return ok && t.b.contains(float64(us))
}

type geoTest struct{ in func(api.GeoPoint) bool }

func (t geoTest) test(v any) bool {
	p, ok := asGeo(v)
	return ok && t.in(p)
}
