package shard

import (
	"math"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index/quant"
)

// Quantization of a dense vector (quantization_config scalar int8, product
// or binary one_bit or two_bits).
//
// The codes are derived data: they are trained and encoded from the
// original vectors in memory, never persisted, so an index file or a
// snapshot holds no codes and every shard can rebuild them on open. The
// quantizer is trained when the space starts indexing (the graph is what
// searches traverse by codes; before it exists every search is exact) on a
// sample of the live vectors, and trained again while the space grows to
// quantTrainFull vectors each time it doubles, so that the range follows
// the data of an import; past that the range is fixed and new vectors are
// clamped into it. Product codes follow the same schedule until they were
// trained on a full sample of productSample vectors (k-means centroids;
// retraining on more would hardly move them, and encoding every vector
// against 256 centroids per sub-vector is the expensive part). One-bit
// binary codes need no training: they are encoded once, when indexing
// starts; two-bit binary codes follow the scalar schedule (their
// per-element mean and deviation are trained on the sample). Training and
// encoding run under Shard.mu held exclusively; searches read the codes
// under Shard.mu held shared.

// quantTrainFull is the vector count past which a space stops retraining
// its quantizer.
const quantTrainFull = 1 << 16

// quantSampleValues bounds the element values a quantile is computed over.
const quantSampleValues = 2_000_000

// productSample bounds the vectors product quantization trains on.
const productSample = 2048

// quantState is the quantization of one space. Guarded by Shard.mu.
type quantState struct {
	cfg       *api.QuantizationConfig // nil: not quantized
	codes     quant.Encoded           // nil until trained
	trainedAt int                     // sp.count when trained
}

// setVector stores vec at off (and its codes, once trained). Caller holds
// Shard.mu exclusively.
func (sp *space) setVector(off uint32, vec []float32) {
	sp.store.Set(off, vec)
	if c := sp.quant.codes; c != nil {
		c.Set(off, vec)
	}
}

// setQuantization changes the space's quantization: nil drops the codes, a
// new config trains them afresh (once indexing runs). Caller holds
// Shard.mu exclusively.
func (sp *space) setQuantization(cfg *api.QuantizationConfig, live bitset) {
	sp.quant = quantState{cfg: cfg}
	sp.maybeTrain(live)
}

// maybeTrain trains the quantizer and encodes every live vector when the
// space is quantized and indexing, and has no codes yet or has doubled
// since they were trained (below quantTrainFull). Caller holds Shard.mu
// exclusively.
func (sp *space) maybeTrain(live bitset) {
	qs := &sp.quant
	if qs.cfg == nil || !sp.indexing || sp.count == 0 {
		return
	}
	if qs.codes != nil && ((qs.cfg.Binary != nil && !qs.cfg.Binary.TwoBits()) || qs.trainedAt >= quantTrainFull || sp.count < 2*qs.trainedAt ||
		(qs.cfg.Product != nil && qs.trainedAt >= productSample)) {
		return
	}
	var offs []uint32
	live.each(func(off uint32) bool {
		if sp.has.has(off) {
			offs = append(offs, off)
		}
		return true
	})
	if len(offs) == 0 {
		return
	}
	if b := qs.cfg.Binary; b != nil && !b.TwoBits() {
		codes := quant.NewBinaryCodes(quant.NewBinary(sp.dist, sp.dim, b.QueryBits()))
		for _, off := range offs {
			codes.Set(off, sp.store.Vector(off))
		}
		qs.codes, qs.trainedAt = codes, sp.count
		sp.store.DropResident() // the pass read every vector
		return
	}
	limit := len(offs)
	if qs.cfg.Quantile() < 1 {
		limit = max(1, quantSampleValues/sp.dim)
	}
	if qs.cfg.Product != nil {
		limit = productSample
	}
	limit = min(limit, quantTrainFull)
	step := max(1, (len(offs)+limit-1)/limit)
	sample := make([][]float32, 0, len(offs)/step+1)
	for i := 0; i < len(offs); i += step {
		sample = append(sample, sp.store.Vector(offs[i]))
	}
	var codes quant.Encoded
	if b := qs.cfg.Binary; b != nil {
		codes = quant.NewBinaryCodes(quant.TrainBinary(sp.dist, sp.dim, b.QueryBits(), sample))
	} else if p := qs.cfg.Product; p != nil {
		codes = quant.NewProductCodes(quant.TrainProduct(sp.dist, sp.dim, quant.CompressionSub(p.Compression), sample))
	} else {
		codes = quant.NewCodes(quant.TrainScalar(sp.dist, sp.dim, sample, qs.cfg.Quantile()))
	}
	for _, off := range offs {
		codes.Set(off, sp.store.Vector(off))
	}
	qs.codes, qs.trainedAt = codes, sp.count
	sp.store.DropResident() // the pass read every vector
}

// quantCodesBytes returns the memory of the space's codes.
func (sp *space) quantCodesBytes() int64 {
	if c := sp.quant.codes; c != nil {
		return c.Bytes()
	}
	return 0
}

// quantSearch is how one graph search uses the codes: dist scores an
// offset by codes, k candidates are taken by it, and rescore says whether
// the original vectors re-score them.
type quantSearch struct {
	scorer  quant.Scorer
	dist    func(off uint32) float32
	k       int
	rescore bool
}

// quantPlan returns the quantized search of req, or nil when the graph is
// to be searched by the original vectors: no codes, a custom scorer, an
// exact search or params.quantization.ignore. Caller holds Shard.mu shared.
func (sp *space) quantPlan(req SearchRequest) (*quantSearch, error) {
	qp, err := req.Params.QuantizationParams()
	if err != nil {
		return nil, err
	}
	codes := sp.quant.codes
	if codes == nil || req.Scorer != nil || req.Params.Exact || qp.Ignore || len(req.Vector) != sp.dim {
		return nil, nil
	}
	sc := codes.Scorer(req.Vector)
	k := req.Limit
	if qp.OversamplingFactor() > 1 {
		k = int(math.Ceil(float64(k) * qp.OversamplingFactor()))
	}
	return &quantSearch{
		scorer:  sc,
		dist:    sc.Dist,
		k:       k,
		rescore: qp.RescoreOn(),
	}, nil
}

// SetQuantization changes the quantization of the dense vector name (nil:
// none), as an update of the collection's quantization_config does: the
// codes are dropped and, for a new config, trained afresh from the vectors
// in memory (under the writer lock, so searches wait for the encoding). An
// unknown or non-dense name is ignored.
func (s *Shard) SetQuantization(name string, cfg *api.QuantizationConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.spaces[name]
	if sp == nil || s.closed {
		return
	}
	sp.setQuantization(cfg, s.live)
}

// QuantizedBytes returns the memory of the quantization codes of the dense
// vector name (0 when it has none).
func (s *Shard) QuantizedBytes(name string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sp := s.spaces[name]; sp != nil {
		return sp.quantCodesBytes()
	}
	return 0
}
