package quant

// Encoded is the code store of one trained quantizer, by dense offset: what
// a quantized space keeps beside its original vectors and what its graph
// searches score. *Codes (scalar), *BinaryCodes and *ProductCodes
// implement it. Set calls are serialised by the caller's writer lock;
// Scorer and the scorers it returns run concurrently with Set under
// index.Store's rules (a read of an offset happens after the Set that
// wrote it).
type Encoded interface {
	// Set encodes vec into offset off.
	Set(off uint32, vec []float32)
	// Bytes returns the memory of the codes.
	Bytes() int64
	// ReleaseChunk frees the codes of chunk i (index.ChunkLen offsets),
	// under index.Store.ReleaseChunk's rules.
	ReleaseChunk(i int)
	// Scorer returns the scorer of one query vector (of the quantizer's
	// dimension) for one search.
	Scorer(query []float32) Scorer
}

// Scorer scores offsets against one query by their codes (hnsw.Scorer):
// Dist returns an approximate internal distance (vecmath.Dist's ordering,
// lower is better), Prefetch hints that Dist(off) follows soon. A Scorer
// belongs to one goroutine.
type Scorer interface {
	Dist(off uint32) float32
	Prefetch(off uint32)
}

var (
	_ Encoded = (*Codes)(nil)
	_ Encoded = (*BinaryCodes)(nil)
	_ Encoded = (*ProductCodes)(nil)
)

// Scorer returns the Searcher of query over c.
func (c *Codes) Scorer(query []float32) Scorer { return c.Searcher(c.q.Query(query)) }
