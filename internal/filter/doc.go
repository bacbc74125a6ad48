// Package filter evaluates Qdrant filters (api.Filter) against point
// payloads and maintains payload indexes.
//
// It exists so that every place that needs "does this point match" — the
// shard's scroll, count, search planner, facets and payload updates — uses one
// implementation of Qdrant's semantics: JSON payload paths ("a.b[].c",
// "a[0]", quoted keys), the flattening of arrays, must/should/must_not/
// min_should, every field condition (match value/any/except/text/text_any/phrase,
// numeric and datetime ranges, geo box/radius/polygon, values_count,
// is_empty, is_null), has_id, has_vector and nested filters.
//
// Evaluation: Validate checks a filter the way Qdrant's request validation
// does; Compile turns it into a Matcher whose paths are parsed once and whose
// match any/except lists are hash sets. A Matcher is immutable and safe for
// concurrent use. A condition on a key without an index is valid: it is
// evaluated from payloads; only the full-text conditions change meaning with
// a text index (token semantics instead of substring semantics), which is
// why IndexSet.Compile exists next to Compile.
//
// Full text: without a text index, text and phrase test that the query is a
// substring of the value and text_any that some whitespace-separated word of
// the query is. A text index analyses values and queries alike (text.go):
// the tokenizer splits words, which are lowercased, ASCII-folded
// (ascii_folding), dropped when stopwords (stopwords.go: lists written for
// Shoal, english, french, german and spanish; Qdrant's other languages are
// refused with a bad-input error naming them), stemmed by the snowball
// stemmer (stem.go, github.com/kljensen/snowball; languages it lacks are
// refused the same way), and filtered by token length. text needs every
// query token, text_any one of them, phrase all of them adjacent and in
// order; phrase_matching is accepted and reported, and phrases match
// whatever its value.
//
// Indexes: an IndexSet holds the payload indexes of one shard (keyword,
// integer, float, bool, geo, datetime, uuid, text). It answers cardinality
// estimates (Estimate), candidate sets (Candidates), facets (Facet) and
// ordered iteration for scroll order_by (Ordered).
//
// Concurrency contract: an IndexSet is not safe for concurrent mutation. The
// owning shard serialises all writes (Create, Drop, Add, Remove) under its
// write lock and holds a read lock around every read (Has, Info, Estimate,
// Candidates, Facet, Ordered, Compile); reads may run concurrently with each
// other. Payload maps passed in are never mutated: SetAt and DeleteAt copy
// the parts they change, because payloads may be shared with readers.
package filter
