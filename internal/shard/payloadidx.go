package shard

import (
	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
)

// payloadIndexes wraps the shard's payload indexes. Guarded by Shard.mu
// (writes under the exclusive lock, reads under the shared lock).
type payloadIndexes struct {
	schemas map[string]api.PayloadFieldSchema
}

func newPayloadIndexes(defs map[string]api.PayloadFieldSchema) (*payloadIndexes, error) {
	p := &payloadIndexes{schemas: map[string]api.PayloadFieldSchema{}}
	for k, v := range defs {
		p.schemas[k] = v
	}
	return p, nil
}

func (p *payloadIndexes) add(off uint32, pl api.Payload)    {}
func (p *payloadIndexes) remove(off uint32, pl api.Payload) {}

func (p *payloadIndexes) info() map[string]api.PayloadIndexInfo {
	out := make(map[string]api.PayloadIndexInfo, len(p.schemas))
	for k, v := range p.schemas {
		out[k] = api.PayloadIndexInfo{DataType: v.Type, Params: v.Params}
	}
	return out
}

// compile compiles f into a matcher (nil for a nil filter).
func (p *payloadIndexes) compile(f *api.Filter) (*filter.Matcher, error) {
	if f == nil {
		return nil, nil
	}
	return filter.Compile(f)
}

// estimate is a cardinality estimate of a filter.
type estimate struct{ Min, Exp, Max int }

// estimate estimates how many of n points match f; ok is false when the
// indexes cannot tell.
func (p *payloadIndexes) estimate(f *api.Filter, n int) (estimate, bool) {
	return estimate{}, false
}

// create adds (or replaces) the index on key, filling it from each.
func (p *payloadIndexes) create(key string, schema api.PayloadFieldSchema, each func(fn func(off uint32, p api.Payload))) error {
	if _, err := filter.ParsePath(key); err != nil {
		return err
	}
	if !schema.Type.Valid() {
		return api.ErrBadInput("unknown payload index type %q", schema.Type)
	}
	p.schemas[key] = schema
	return nil
}

// drop removes the index on key (no error when there is none).
func (p *payloadIndexes) drop(key string) { delete(p.schemas, key) }
