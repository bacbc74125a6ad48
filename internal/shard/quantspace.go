package shard

import (
	"math"
	"slices"

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
// against 256 centroids per sub-vector is the expensive part). Product
// training that a write or SetQuantization starts runs off the writer
// lock (productJob): the sample is copied under it, the centroids are
// trained on the copy without any lock, the live vectors are encoded into
// the new codes a chunk at a time under Shard.mu held shared (searches go
// on; writers wait at most one chunk), and only the vectors written
// meanwhile are encoded under the writer lock before the codes are
// swapped in; until then searches use the previous codes, or the
// original vectors. Open and compaction train inline. One-bit
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
	training  bool                    // a productJob of this state runs
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
// new config trains them afresh (once indexing runs); a product training
// is returned for the caller to run off the lock. Caller holds Shard.mu
// exclusively.
func (sp *space) setQuantization(cfg *api.QuantizationConfig, live bitset) *productJob {
	sp.quant = quantState{cfg: cfg}
	sp.quantGen++
	return sp.maybeTrain(live, true)
}

// maybeTrain trains the quantizer and encodes every live vector when the
// space is quantized and indexing, and has no codes yet or has doubled
// since they were trained (below quantTrainFull). With async, a product
// training is not run but returned (productJob), its sample copied.
// Caller holds Shard.mu exclusively.
func (sp *space) maybeTrain(live bitset, async bool) *productJob {
	qs := &sp.quant
	if qs.cfg == nil || !sp.indexing || sp.count == 0 || qs.training {
		return nil
	}
	if qs.codes != nil && ((qs.cfg.Binary != nil && !qs.cfg.Binary.TwoBits()) || qs.trainedAt >= quantTrainFull || sp.count < 2*qs.trainedAt ||
		(qs.cfg.Product != nil && qs.trainedAt >= productSample)) {
		return nil
	}
	var offs []uint32
	live.each(func(off uint32) bool {
		if sp.has.has(off) {
			offs = append(offs, off)
		}
		return true
	})
	if len(offs) == 0 {
		return nil
	}
	if b := qs.cfg.Binary; b != nil && !b.TwoBits() {
		codes := quant.NewBinaryCodes(quant.NewBinary(sp.dist, sp.dim, b.QueryBits()))
		for _, off := range offs {
			codes.Set(off, sp.store.Vector(off))
		}
		qs.codes, qs.trainedAt = codes, sp.count
		sp.store.DropResident() // the pass read every vector
		return nil
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
	if p := qs.cfg.Product; p != nil && async {
		for i, v := range sample {
			sample[i] = slices.Clone(v) // trained on without the lock
		}
		qs.training = true
		return &productJob{sp: sp, gen: sp.quantGen, cfg: p, sample: sample, offs: offs, count: sp.count}
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
	return nil
}

// productJob is a product quantizer's training taken off the writer lock:
// the sample copied under it, the live offsets then, and the space's
// quantGen, which must still be the same when the codes are swapped in (a
// new configuration or a compaction meanwhile drops the job's work).
type productJob struct {
	sp     *space
	gen    uint64
	cfg    *api.ProductQuantization
	sample [][]float32
	offs   []uint32 // live offsets at the snapshot, ascending
	count  int      // sp.count at the snapshot
}

// productTrainHook, when set (by tests only), runs at the start of every
// background product training, before any lock is taken.
var productTrainHook func()

// encodeChunk is the number of vectors a product training encodes per
// hold of Shard.mu (shared).
const encodeChunk = 256

// trainInBackground runs j on a background goroutine of the shard.
func (s *Shard) trainInBackground(j *productJob) {
	s.trainsRunning.Add(1)
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		defer s.trainsRunning.Add(-1)
		s.runProductJob(j)
	}()
}

// runProductJob trains j's quantizer on its sample without any lock,
// encodes the snapshot's offsets a chunk at a time under Shard.mu held
// shared, then under the writer lock encodes the live offsets written
// since and swaps the codes in. It gives up (clearing the training mark
// only if the job is still current) when the shard closes or the space's
// quantization changes meanwhile.
func (s *Shard) runProductJob(j *productJob) {
	sp := j.sp
	current := func() bool { return !s.closed && sp.quantGen == j.gen }
	abandon := func() {
		s.mu.Lock()
		if sp.quantGen == j.gen {
			sp.quant.training = false
		}
		s.mu.Unlock()
	}
	if productTrainHook != nil {
		productTrainHook()
	}
	if s.bgCtx.Err() != nil {
		abandon()
		return
	}
	codes := quant.NewProductCodes(quant.TrainProduct(sp.dist, sp.dim, quant.CompressionSub(j.cfg.Compression), j.sample))
	var done bitset
	for i := 0; i < len(j.offs); i += encodeChunk {
		if s.bgCtx.Err() != nil {
			abandon()
			return
		}
		s.mu.RLock()
		if !current() {
			s.mu.RUnlock()
			abandon()
			return
		}
		for _, off := range j.offs[i:min(i+encodeChunk, len(j.offs))] {
			if s.live.has(off) && sp.has.has(off) {
				codes.Set(off, sp.store.Vector(off))
				done.set(off)
			}
		}
		s.mu.RUnlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !current() {
		if sp.quantGen == j.gen {
			sp.quant.training = false
		}
		return
	}
	s.live.each(func(off uint32) bool {
		if sp.has.has(off) && !done.has(off) {
			codes.Set(off, sp.store.Vector(off))
		}
		return true
	})
	sp.quant.codes, sp.quant.trainedAt, sp.quant.training = codes, j.count, false
	sp.store.DropResident() // the pass read every vector
	// The space may have doubled while this ran.
	if next := sp.maybeTrain(s.live, true); next != nil {
		s.trainInBackground(next)
	}
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
// in memory (scalar and binary under the writer lock, so searches wait for
// the encoding; product in the background, searches using the original
// vectors until its codes are in: WaitIndexed waits for them). An unknown
// or non-dense name is ignored.
func (s *Shard) SetQuantization(name string, cfg *api.QuantizationConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.spaces[name]
	if sp == nil || s.closed {
		return
	}
	if j := sp.setQuantization(cfg, s.live); j != nil {
		s.trainInBackground(j)
	}
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
