// Package filter evaluates Qdrant filters (api.Filter) against point
// payloads and maintains payload indexes.
//
// It exists so that every place that needs "does this point match" — the
// shard's scroll, count, search planner, facets and payload updates — uses one
// implementation of Qdrant's semantics: JSON payload paths ("a.b[].c",
// "a[0]", quoted keys), the flattening of arrays, must/should/must_not/
// min_should, every field condition (match value/any/except/text/phrase,
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
