package filter

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/shoal-db/shoal/internal/api"
)

// mustTextConfig parses index params given as JSON.
func mustTextConfig(t *testing.T, params string) textConfig {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(params), &m); err != nil {
		t.Fatal(err)
	}
	c, err := parseTextConfig(m)
	if err != nil {
		t.Fatalf("params %s: %v", params, err)
	}
	return c
}

func TestAnalyserStopwords(t *testing.T) {
	cases := []struct {
		params, text string
		want         []string
	}{
		{`{}`, "The cat and the hat", []string{"the", "cat", "and", "the", "hat"}},
		{`{"stopwords": "english"}`, "The cat and the hat", []string{"cat", "hat"}},
		{`{"stopwords": "english"}`, "It's what I'm doing", nil},
		{`{"stopwords": "english", "tokenizer": "whitespace"}`, "isn't it over", nil},
		{`{"stopwords": {"languages": ["english"], "custom": ["Hat"]}}`, "The cat and the hat", []string{"cat"}},
		{`{"stopwords": {"custom": ["cat"]}}`, "The CAT and the hat", []string{"the", "and", "the", "hat"}},
		{`{"stopwords": {"languages": ["english", "french"]}}`, "the chat est sur le tapis", []string{"chat", "tapis"}},
		{`{"stopwords": "german"}`, "Der Hund und die Katze", []string{"hund", "katze"}},
		{`{"stopwords": "spanish"}`, "El perro y el gato", []string{"perro", "gato"}},
		// Stopwords are found whatever the case, even without lowercasing.
		{`{"stopwords": "english", "lowercase": false}`, "The Cat AND the hat", []string{"Cat", "hat"}},
		{`{"stopwords": null}`, "the cat", []string{"the", "cat"}},
	}
	for _, c := range cases {
		cfg := mustTextConfig(t, c.params)
		if got := cfg.docTokens(c.text); !slices.Equal(got, c.want) {
			t.Errorf("%s on %q: %q, want %q", c.params, c.text, got, c.want)
		}
	}
	// The English list is the common one, about 170 words and more.
	set := map[string]struct{}{}
	if err := addStopwords(set, "english"); err != nil || len(set) < 170 {
		t.Fatalf("english stopwords: %d words, %v", len(set), err)
	}
	for _, w := range []string{"the", "a", "an", "of", "and", "or", "is", "was", "were", "themselves", "yourselves", "should"} {
		if _, ok := set[w]; !ok {
			t.Errorf("%q is not an English stopword", w)
		}
	}
	for _, w := range []string{"cat", "run", "database", "vector"} {
		if _, ok := set[w]; ok {
			t.Errorf("%q must not be an English stopword", w)
		}
	}
}

func TestAnalyserStemming(t *testing.T) {
	cases := []struct {
		params, text string
		want         []string
	}{
		{`{"stemmer": {"type": "snowball", "language": "english"}}`, "Running cats jumped happily", []string{"run", "cat", "jump", "happili"}},
		{`{"stemmer": {"type": "snowball", "language": "english"}}`, "connection connected connecting", []string{"connect", "connect", "connect"}},
		{`{"stemmer": {"type": "snowball", "language": "french"}}`, "continuellement", []string{"continuel"}},
		{`{"stemmer": {"type": "snowball", "language": "spanish"}}`, "corriendo", []string{"corr"}},
		{`{"stemmer": {"type": "snowball", "language": "russian"}}`, "книгами", []string{"книг"}},
		{`{"stemmer": {"type": "none"}}`, "Running cats", []string{"running", "cats"}},
		// Stopwords are removed before stemming, and length filters apply to
		// the stems.
		{`{"stopwords": "english", "stemmer": {"type": "snowball", "language": "english"}}`, "the cats are running", []string{"cat", "run"}},
		{`{"min_token_len": 4, "stemmer": {"type": "snowball", "language": "english"}}`, "cats connections", []string{"connect"}},
		{`{"max_token_len": 3, "stemmer": {"type": "snowball", "language": "english"}}`, "cats running connection", []string{"cat", "run"}},
		// Without lowercasing, a stem keeps the case of what it keeps.
		{`{"lowercase": false, "stemmer": {"type": "snowball", "language": "english"}}`, "Running CATS", []string{"Run", "CAT"}},
	}
	for _, c := range cases {
		cfg := mustTextConfig(t, c.params)
		if got := cfg.docTokens(c.text); !slices.Equal(got, c.want) {
			t.Errorf("%s on %q: %q, want %q", c.params, c.text, got, c.want)
		}
	}
}

func TestAnalyserASCIIFolding(t *testing.T) {
	for in, want := range map[string]string{
		"ação":           "acao",
		"Straße":         "Strasse",
		"Crème Brûlée":   "Creme Brulee",
		"Œuvre æther":    "OEuvre aether",
		"Łódź Ångström":  "Lodz Angstrom",
		"plain ascii 42": "plain ascii 42",
		"日本語 ñ":          "日本語 n",
		"":               "",
	} {
		if got := foldASCII(in); got != want {
			t.Errorf("foldASCII(%q) = %q, want %q", in, got, want)
		}
	}
	cfg := mustTextConfig(t, `{"ascii_folding": true}`)
	if got := cfg.docTokens("Ação RÁPIDA, café"); !slices.Equal(got, []string{"acao", "rapida", "cafe"}) {
		t.Errorf("folded tokens %q", got)
	}
	cfg = mustTextConfig(t, `{"ascii_folding": false}`)
	if got := cfg.docTokens("Ação"); !slices.Equal(got, []string{"ação"}) {
		t.Errorf("unfolded tokens %q", got)
	}
	// Folding happens before stopword removal and stemming.
	cfg = mustTextConfig(t, `{"ascii_folding": true, "stopwords": {"custom": ["cafe"]}, "stemmer": {"type": "snowball", "language": "english"}}`)
	if got := cfg.docTokens("Café cafés résumés"); !slices.Equal(got, []string{"cafe", "resum"}) {
		t.Errorf("folded, stopped and stemmed tokens %q", got)
	}
}

func TestAnalyserQueryAndDocumentAgree(t *testing.T) {
	cfg := mustTextConfig(t, `{"tokenizer": "prefix", "min_token_len": 2, "max_token_len": 5, "ascii_folding": true,
		"stopwords": "english", "stemmer": {"type": "snowball", "language": "english"}}`)
	idx := cfg.indexTokens("The Connections of Cafés")
	for _, q := range []string{"conn", "connecting", "CAFÉ", "ca"} {
		for _, tok := range cfg.queryTokens(q) {
			if !slices.Contains(idx, tok) {
				t.Errorf("query %q token %q is not among the indexed tokens %q", q, tok, idx)
			}
		}
	}
	if got := cfg.queryTokens("the of"); len(got) != 0 {
		t.Errorf("a query of stopwords has tokens %q", got)
	}
}

func TestStemmerNeverFailsAndIsStable(t *testing.T) {
	langs := supportedSnowballLanguages()
	if !slices.Equal(langs, []string{"english", "french", "hungarian", "norwegian", "russian", "spanish", "swedish"}) {
		t.Fatalf("supported snowball languages: %v", langs)
	}
	rapid.Check(t, func(t *rapid.T) {
		lang := rapid.SampledFrom(langs).Draw(t, "lang")
		stem, err := newStemmer(lang)
		if err != nil {
			t.Fatal(err)
		}
		w := rapid.StringOf(rapid.RuneFrom([]rune("aeiouyäöüéèàçñßøåæœnrstlmkpdgbvcjhxzqwфыва"))).Draw(t, "word")
		if rapid.Bool().Draw(t, "upper") {
			w = strings.ToUpper(w)
		}
		s := stem(w)
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > utf8.RuneCountInString(w)+1 {
			t.Fatalf("%s stem of %q is %q", lang, w, s)
		}
		if stem(w) != s {
			t.Fatalf("%s stem of %q is not deterministic", lang, w)
		}
	})
}

func TestTextIndexParamErrors(t *testing.T) {
	cases := []struct{ params, want string }{
		{`{"stopwords": "klingon"}`, `unknown language "klingon"`},
		{`{"stopwords": "japanese"}`, `"japanese" list is not available`},
		{`{"stopwords": {"languages": ["english", "tajik"]}}`, `"tajik"`},
		{`{"stopwords": {"languages": "english"}}`, "stopwords.languages must be a list"},
		{`{"stopwords": {"custom": [1]}}`, "stopwords.custom must be a list of strings"},
		{`{"stopwords": {"lang": ["english"]}}`, `unknown field "lang"`},
		{`{"stopwords": 3}`, "stopwords must be a language name"},
		{`{"stemmer": {"type": "snowball", "language": "german"}}`, `snowball stemming for "german" is not available`},
		{`{"stemmer": {"type": "snowball", "language": "elvish"}}`, `unknown snowball language "elvish"`},
		{`{"stemmer": {"type": "snowball"}}`, "needs a language"},
		{`{"stemmer": {"type": "porter", "language": "english"}}`, "unknown type porter"},
		{`{"stemmer": "english"}`, "stemmer must be an object"},
		{`{"ascii_folding": "yes"}`, "ascii_folding must be a bool"},
		{`{"phrase_matching": 1}`, "phrase_matching must be a bool"},
	}
	for _, c := range cases {
		var m map[string]any
		if err := json.Unmarshal([]byte(c.params), &m); err != nil {
			t.Fatal(err)
		}
		err := NewIndexSet().Create("d", api.PayloadFieldSchema{Type: api.SchemaText, Params: m})
		if api.KindOf(err) != api.KindBadInput || !strings.Contains(api.Message(err), c.want) {
			t.Errorf("%s: want a bad-input error containing %q, got %v", c.params, c.want, err)
		}
	}
	// The error for a language without a list says which lists there are.
	err := NewIndexSet().Create("d", api.PayloadFieldSchema{Type: api.SchemaText, Params: map[string]any{"stopwords": "danish"}})
	if !strings.Contains(api.Message(err), "english") {
		t.Errorf("error does not list the available languages: %v", err)
	}
	// Every language of Qdrant's enums is known (a clear "not available",
	// never "unknown").
	for _, l := range []string{"arabic", "azerbaijani", "basque", "bengali", "catalan", "chinese", "danish", "dutch", "english", "finnish", "french", "german", "greek", "hebrew", "hinglish", "hungarian", "indonesian", "italian", "japanese", "kazakh", "nepali", "norwegian", "portuguese", "romanian", "russian", "slovene", "spanish", "swedish", "tajik", "turkish"} {
		if _, ok := stopwordLanguages[l]; !ok {
			t.Errorf("stopword language %s unknown", l)
		}
	}
	for _, l := range []string{"arabic", "armenian", "danish", "dutch", "english", "finnish", "french", "german", "greek", "hungarian", "italian", "norwegian", "portuguese", "romanian", "russian", "spanish", "swedish", "tamil", "turkish"} {
		if _, ok := snowballLanguages[l]; !ok {
			t.Errorf("snowball language %s unknown", l)
		}
	}
}

func TestTextAnyWithoutIndex(t *testing.T) {
	cases := []struct {
		filter, payload string
		want            bool
	}{
		{`{"must":[{"key":"d","match":{"text_any":"cheap fast"}}]}`, `{"d":"very good cheap car"}`, true},
		{`{"must":[{"key":"d","match":{"text_any":"fast cheap"}}]}`, `{"d":"very good cheap car"}`, true},
		{`{"must":[{"key":"d","match":{"text_any":"fast slow"}}]}`, `{"d":"very good cheap car"}`, false},
		{`{"must":[{"key":"d","match":{"text_any":"hea xyz"}}]}`, `{"d":"cheap"}`, true}, // substrings
		{`{"must":[{"key":"d","match":{"text_any":"Cheap"}}]}`, `{"d":"cheap"}`, false},  // case sensitive
		{`{"must":[{"key":"d","match":{"text_any":"  "}}]}`, `{"d":"cheap"}`, false},     // no word: nothing
		{`{"must":[{"key":"d","match":{"text_any":"ab zz"}}]}`, `{"d":["x","cab"]}`, true},
		{`{"must":[{"key":"d","match":{"text_any":"1"}}]}`, `{"d":1}`, false},
		{`{"must_not":[{"key":"d","match":{"text_any":"car"}}]}`, `{"d":"boat"}`, true},
	}
	for _, c := range cases {
		if got := matchJSON(t, nil, c.filter, c.payload); got != c.want {
			t.Errorf("%s on %s: %v, want %v", c.filter, c.payload, got, c.want)
		}
	}
}

func TestTextAnyWithIndex(t *testing.T) {
	s := NewIndexSet()
	if err := s.Create("d", api.PayloadFieldSchema{Type: api.SchemaText, Params: map[string]any{
		"stopwords": "english", "ascii_folding": true,
		"stemmer": map[string]any{"type": "snowball", "language": "english"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create("p", api.PayloadFieldSchema{Type: api.SchemaText, Params: map[string]any{"tokenizer": "prefix", "min_token_len": float64(2), "max_token_len": float64(4)}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		filter, payload string
		want            bool
	}{
		{`{"must":[{"key":"d","match":{"text_any":"boats cars"}}]}`, `{"d":"A red Car"}`, true},
		{`{"must":[{"key":"d","match":{"text_any":"boats planes"}}]}`, `{"d":"A red Car"}`, false},
		{`{"must":[{"key":"d","match":{"text_any":"ca"}}]}`, `{"d":"cheap car"}`, false}, // whole tokens
		{`{"must":[{"key":"d","match":{"text_any":"running"}}]}`, `{"d":"she runs"}`, true},
		{`{"must":[{"key":"d","match":{"text_any":"CAFÉ"}}]}`, `{"d":"the cafe"}`, true},
		{`{"must":[{"key":"d","match":{"text_any":"the and"}}]}`, `{"d":"the and of"}`, false}, // stopwords only
		{`{"must":[{"key":"d","match":{"text_any":"boat car"}}]}`, `{"d":["a boat","x"]}`, true},
		{`{"must":[{"key":"d","match":{"text":"boat car"}}]}`, `{"d":"a boat"}`, false},
		{`{"must":[{"key":"d","match":{"phrase":"running cars"}}]}`, `{"d":"the run of the car"}`, true}, // stopwords removed from both
		{`{"must":[{"key":"d","match":{"phrase":"cars running"}}]}`, `{"d":"the run of the car"}`, false},
		{`{"must":[{"key":"p","match":{"text_any":"vec xyz"}}]}`, `{"p":"Vector search"}`, true},
		{`{"must":[{"key":"p","match":{"text_any":"vectors"}}]}`, `{"p":"Vector search"}`, true}, // cut to max_token_len
		{`{"must":[{"key":"p","match":{"text_any":"ector"}}]}`, `{"p":"Vector search"}`, false},
		{`{"must":[{"key":"other","match":{"text_any":"hea x"}}]}`, `{"other":"cheap"}`, true}, // not indexed
	}
	for i, c := range cases {
		var p api.Payload
		if err := json.Unmarshal([]byte(c.payload), &p); err != nil {
			t.Fatal(err)
		}
		if got := matchJSON(t, s, c.filter, c.payload); got != c.want {
			t.Errorf("%s on %s: %v, want %v", c.filter, c.payload, got, c.want)
		}
		// The index answers the same for this one point.
		var f api.Filter
		if err := json.Unmarshal([]byte(c.filter), &f); err != nil {
			t.Fatal(err)
		}
		s.Add(uint32(i), p)
		if offs, _, ok := s.Candidates(&f, i+1); ok && strings.Contains(c.filter, "text_any") {
			_, in := slices.BinarySearch(offs, uint32(i))
			if in != c.want {
				t.Errorf("%s on %s: candidates %v", c.filter, c.payload, offs)
			}
		}
		s.Remove(uint32(i), p)
	}
}

func TestTextAnyIndexPlanning(t *testing.T) {
	s := NewIndexSet()
	if err := s.Create("d", api.PayloadFieldSchema{Type: api.SchemaText, Params: map[string]any{"stopwords": "english"}}); err != nil {
		t.Fatal(err)
	}
	docs := []string{"red car", "blue boat", "red boat", "green plane", "the car"}
	for i, d := range docs {
		s.Add(uint32(i), api.Payload{"d": d})
	}
	est := func(q string) (Cardinality, []uint32, bool) {
		f := &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "d", Match: &api.Match{Kind: api.MatchTextAny, Text: q}}}}}
		offs, _, ok := s.Candidates(f, len(docs))
		return s.Estimate(f, len(docs)), offs, ok
	}
	cases := []struct {
		q    string
		want []uint32
	}{
		{"car boat", []uint32{0, 1, 2, 4}},
		{"red", []uint32{0, 2}},
		{"plane unknown", []uint32{3}},
		{"unknown", nil},
		{"the of", nil}, // stopwords only
	}
	for _, c := range cases {
		e, offs, ok := est(c.q)
		if !ok || !slices.Equal(offs, c.want) && !(len(offs) == 0 && len(c.want) == 0) {
			t.Errorf("%q: candidates %v %v, want %v", c.q, offs, ok, c.want)
		}
		if n := len(c.want); e.Min != n || e.Exp != n || e.Max != n {
			t.Errorf("%q: estimate %+v, want exactly %d", c.q, e, n)
		}
	}
}

// matchJSON evaluates a JSON filter on a JSON payload, with the text
// semantics of s when s is not nil.
func matchJSON(t *testing.T, s *IndexSet, filter, payload string) bool {
	t.Helper()
	var f api.Filter
	if err := json.Unmarshal([]byte(filter), &f); err != nil {
		t.Fatalf("%s: %v", filter, err)
	}
	var p api.Payload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.Fatalf("%s: %v", payload, err)
	}
	var m *Matcher
	var err error
	if s != nil {
		m, err = s.Compile(&f)
	} else {
		m, err = Compile(&f)
	}
	if err != nil {
		t.Fatalf("%s: %v", filter, err)
	}
	return m.Match(api.NumID(1), p, nil)
}

// TestAnalysedMatchingConcurrently evaluates one compiled matcher of an
// analysed text index from several goroutines (run with -race).
func TestAnalysedMatchingConcurrently(t *testing.T) {
	s := NewIndexSet()
	if err := s.Create("d", api.PayloadFieldSchema{Type: api.SchemaText, Params: map[string]any{
		"stopwords": "english", "ascii_folding": true,
		"stemmer": map[string]any{"type": "snowball", "language": "hungarian"}}}); err != nil {
		t.Fatal(err)
	}
	f := &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "d", Match: &api.Match{Kind: api.MatchTextAny, Text: "házakban kertekben"}}}}}
	m, err := s.Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	p := api.Payload{"d": "a házak és a kertek"}
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 200 {
				ok = ok && m.Match(api.NumID(1), p, nil)
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Fatal("an inflected form did not match its stem")
		}
	}
}
