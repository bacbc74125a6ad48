package shard

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
)

// Replication support: a shard replica applies its primary's operations
// under the primary's sequence numbers, and records in which epoch (term of
// one primary) each operation was written, so that a returning replica can
// tell whether its op log is a prefix of the primary's (see EpochEnd and
// docs/format/shard.md, keyspace 0x05).

// prefixEpoch keys the epoch table: big-endian epoch -> little-endian first
// sequence number written in that epoch.
const prefixEpoch byte = 0x05

// ErrStaleEpoch refuses an operation of an epoch older than the newest one
// this replica has applied: it comes from a deposed primary.
var ErrStaleEpoch = errors.New("shard: operation of a stale epoch")

// GapError refuses an operation that does not follow the last applied one.
type GapError struct {
	// Have is the sequence number of the last applied operation.
	Have uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("shard: operation out of order: this replica holds operations up to %d", e.Have)
}

// epochStart is one entry of the epoch table.
type epochStart struct {
	Epoch uint64
	Seq   uint64
}

func epochKey(epoch uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixEpoch
	binary.BigEndian.PutUint64(k[1:], epoch)
	return k
}

// loadEpochs reads the epoch table.
func (s *Shard) loadEpochs() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEpoch}, UpperBound: []byte{prefixEpoch + 1}})
	if err != nil {
		return fmt.Errorf("cannot read epoch table: %w", err)
	}
	defer it.Close()
	s.epochs = nil
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != 9 || len(v) != 8 {
			return fmt.Errorf("cannot read epoch table: %w", errCorrupt)
		}
		s.epochs = append(s.epochs, epochStart{Epoch: binary.BigEndian.Uint64(k[1:]), Seq: binary.LittleEndian.Uint64(v)})
	}
	return it.Error()
}

// lastEpochLocked is the epoch of the last applied operation (0 when none
// was written in an epoch). Caller holds writeMu or mu.
func (s *Shard) lastEpochLocked() uint64 {
	if len(s.epochs) == 0 {
		return 0
	}
	return s.epochs[len(s.epochs)-1].Epoch
}

// Position returns the epoch and sequence number of the last applied
// operation.
func (s *Shard) Position() (epoch, seq uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastEpochLocked(), s.lastSeq
}

// EpochOf returns the epoch in which operation seq was written (0 for an
// operation written outside any epoch, as on a standalone node).
func (s *Shard) EpochOf(seq uint64) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var e uint64
	for _, es := range s.epochs {
		if es.Seq > seq {
			break
		}
		e = es.Epoch
	}
	return e
}

// EpochEnd returns the sequence number of the last operation this replica
// holds from epoch (the operation before the first one of a later epoch,
// or the last one), and false when it holds no operation of that epoch. A
// replica whose last operation is (epoch, n) holds a prefix of this
// replica's log when n <= EpochEnd(epoch): within an epoch one primary
// writes, and every replica checked its prefix against that primary before
// accepting its operations.
func (s *Shard) EpochEnd(epoch uint64) (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := sort.Search(len(s.epochs), func(i int) bool { return s.epochs[i].Epoch >= epoch })
	if i == len(s.epochs) || s.epochs[i].Epoch != epoch {
		return 0, false
	}
	if i+1 < len(s.epochs) {
		return s.epochs[i+1].Seq - 1, true
	}
	return s.lastSeq, true
}

// LogStart returns the first sequence number the op log still holds (the
// next one when the log is empty): ReadOps can start anywhere from it.
func (s *Shard) LogStart() uint64 {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.logFirst == 0 {
		return s.lastSeq + 1
	}
	return s.logFirst
}

// PrepareEpoch is Prepare for a primary replica in epoch: the operation
// gets the next sequence number and is recorded as written in epoch. It
// fails with ErrStaleEpoch when the replica has applied operations of a
// later epoch.
func (s *Shard) PrepareEpoch(ctx context.Context, epoch uint64, op *api.UpdateOperation) (*Pending, error) {
	return s.prepareAt(ctx, epoch, 0, op)
}

// ApplyAt applies op as operation seq of epoch, as a backup replica does
// with its primary's operations. An operation this replica already holds
// (seq at or below its last) is acknowledged again without change; one
// that does not follow the last fails with *GapError; one of an epoch
// older than the replica's newest fails with ErrStaleEpoch.
func (s *Shard) ApplyAt(ctx context.Context, epoch, seq uint64, op *api.UpdateOperation) error {
	pd, err := s.prepareAt(ctx, epoch, seq, op)
	if err != nil || pd == nil {
		return err
	}
	_, err = pd.Commit()
	return err
}

// prepareAt prepares op in epoch at seq (0: the next). It returns nil and
// no error for a duplicate.
func (s *Shard) prepareAt(ctx context.Context, epoch, seq uint64, op *api.UpdateOperation) (*Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if op == nil || countOps(op) != 1 {
		return nil, api.ErrBadInput("an update operation must have exactly one action")
	}
	s.writes.Begin()
	s.writeMu.Lock()
	fail := func(err error) (*Pending, error) {
		s.writeMu.Unlock()
		s.writes.End()
		return nil, err
	}
	if s.closed {
		return fail(ErrClosed)
	}
	if epoch < s.lastEpochLocked() {
		return fail(fmt.Errorf("%w: epoch %d, this replica has applied epoch %d", ErrStaleEpoch, epoch, s.lastEpochLocked()))
	}
	if seq != 0 {
		if seq <= s.lastSeq {
			return fail(nil)
		}
		if seq != s.lastSeq+1 {
			return fail(&GapError{Have: s.lastSeq})
		}
	}
	pd, err := s.prepareLocked(ctx, op)
	if err != nil {
		return fail(err)
	}
	if epoch > s.lastEpochLocked() {
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], pd.seq)
		if err := pd.b.Set(epochKey(epoch), v[:], nil); err != nil {
			pd.b.Close()
			return fail(fmt.Errorf("cannot record epoch: %w", err))
		}
		pd.epoch = epoch
	}
	return pd, nil
}

// Digest returns an order-independent digest of the shard's points (their
// ids, versions, payloads and vectors; offsets left out), the number of
// points and the sequence number they are at, all at one consistent point:
// replicas at the same sequence number hold the same points exactly when
// their digests are equal.
func (s *Shard) Digest(ctx context.Context) (digest string, points, seq uint64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return "", 0, 0, ErrClosed
	}
	var sum [sha256.Size]byte
	all := &api.PayloadSelector{Enable: true}
	vecs := &api.VectorSelector{Enable: true}
	pr := s.payloadReader()
	s.live.each(func(off uint32) bool {
		if points%1024 == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		r := s.record(pr, off, all, vecs)
		if err = pr.err; err != nil {
			return false
		}
		var h [sha256.Size]byte
		if h, err = recordHash(&r, s.version[off]); err != nil {
			return false
		}
		for j := range sum {
			sum[j] ^= h[j] // xor: order-independent
		}
		points++
		return true
	})
	if err != nil {
		return "", 0, 0, err
	}
	if points != uint64(s.nLive) {
		return "", 0, 0, fmt.Errorf("the live set holds %d points, the count is %d: %w", points, s.nLive, errCorrupt)
	}
	return fmt.Sprintf("%x", sum[:16]), points, s.lastSeq, nil
}

// recordHash hashes one record canonically (JSON of sorted maps; floats
// by their bits).
func recordHash(r *api.Record, version uint64) ([sha256.Size]byte, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|", r.ID.String(), version)
	pl, err := json.Marshal(r.Payload) // encoding/json sorts map keys
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h.Write(pl)
	names := make([]string, 0, len(r.Vector))
	for name := range r.Vector {
		names = append(names, name)
	}
	slices.Sort(names)
	var b [4]byte
	for _, name := range names {
		fmt.Fprintf(h, "|%s:", name)
		for _, f := range r.Vector[name] {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(f))
			h.Write(b[:])
		}
	}
	rest, err := json.Marshal([]any{r.Sparse, r.Multi})
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h.Write(rest)
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// Dir returns the shard's directory.
func (s *Shard) Dir() string { return s.opts.Dir }

// AppendOperation appends op to b in the op log's binary layout
// (docs/format/shard.md) with every vector inline: the form in which
// replicas pass operations to each other.
func AppendOperation(b []byte, op *api.UpdateOperation) ([]byte, error) {
	if op == nil || countOps(op) != 1 {
		return nil, api.ErrBadInput("an update operation must have exactly one action")
	}
	return appendOp(b, op, 0, nil)
}

// OperationSize estimates the length of AppendOperation's encoding of op:
// exact for its vectors, which are most of a large operation's bytes,
// short of its payloads and filter.
func OperationSize(op *api.UpdateOperation) int {
	if op == nil {
		return 0
	}
	return opSize(op)
}

// DecodeOperation decodes what AppendOperation wrote. The result shares
// no memory with b: b may be reused once it returns.
func DecodeOperation(b []byte) (*api.UpdateOperation, error) {
	return decodeOp(b, nil)
}

// LastEpochIn returns the epoch of the last operation of the closed shard
// in dir (0 when it holds none written in an epoch, as a standalone
// node's), reading only its epoch table: a restore in cluster mode starts
// the shard's metadata epoch there, so that its primary's next operation
// is not older than the operations it holds. The store is opened read-only
// and left as it was.
func LastEpochIn(dir string) (uint64, error) {
	db, err := pebble.Open(filepath.Join(dir, "store"), &pebble.Options{ReadOnly: true, Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		return 0, fmt.Errorf("cannot open shard store %s: %w", dir, err)
	}
	defer db.Close()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEpoch}, UpperBound: []byte{prefixEpoch + 1}})
	if err != nil {
		return 0, fmt.Errorf("cannot read epoch table: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	if k := it.Key(); len(k) == 9 {
		return binary.BigEndian.Uint64(k[1:]), nil
	}
	return 0, fmt.Errorf("cannot read epoch table: %w", errCorrupt)
}
