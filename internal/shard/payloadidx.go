package shard

import (
	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
)

// payloadIndexes wraps the shard's payload indexes. Guarded by Shard.mu
// (writes under the exclusive lock, reads under the shared lock), which is
// the concurrency contract of filter.IndexSet.
type payloadIndexes struct {
	set     *filter.IndexSet
	schemas map[string]api.PayloadFieldSchema
}

func newPayloadIndexes(defs map[string]api.PayloadFieldSchema) (*payloadIndexes, error) {
	p := &payloadIndexes{set: filter.NewIndexSet(), schemas: map[string]api.PayloadFieldSchema{}}
	for k, v := range defs {
		if err := p.set.Create(k, v); err != nil {
			return nil, err
		}
		p.schemas[k] = v
	}
	return p, nil
}

func (p *payloadIndexes) add(off uint32, pl api.Payload) {
	if pl != nil {
		p.set.Add(off, pl)
	}
}

func (p *payloadIndexes) remove(off uint32, pl api.Payload) {
	if pl != nil {
		p.set.Remove(off, pl)
	}
}

func (p *payloadIndexes) info() map[string]api.PayloadIndexInfo { return p.set.Info() }

// compile compiles f into a matcher (nil for a nil filter), with the text
// semantics of any text index.
func (p *payloadIndexes) compile(f *api.Filter) (*filter.Matcher, error) {
	if f == nil {
		return nil, nil
	}
	return p.set.Compile(f)
}

// estimate estimates how many of n points match f.
func (p *payloadIndexes) estimate(f *api.Filter, n int) filter.Cardinality {
	return p.set.Estimate(f, n)
}

// with returns a new set holding p's indexes and one on key (replacing any
// on key). The whole set is rebuilt from each (which must visit offsets in
// increasing order, so postings grow by appending): refilling one index in
// place would re-add every payload to the others. p is only read, so with
// may run under Shard.mu held shared, while searches go on.
func (p *payloadIndexes) with(key string, schema api.PayloadFieldSchema, each func(fn func(off uint32, p api.Payload)) error) (*payloadIndexes, error) {
	defs := map[string]api.PayloadFieldSchema{}
	for k, v := range p.schemas {
		defs[k] = v
	}
	defs[key] = schema
	n, err := newPayloadIndexes(defs)
	if err != nil {
		return nil, err
	}
	if err := each(n.add); err != nil {
		return nil, err
	}
	return n, nil
}

// drop removes the index on key (no error when there is none).
func (p *payloadIndexes) drop(key string) {
	p.set.Drop(key)
	delete(p.schemas, key)
}
