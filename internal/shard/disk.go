package shard

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
)

// DefaultMinFreeDiskBytes is the free space a shard keeps on the file
// system of its directory when Options.MinFreeDiskBytes is 0: writes are
// refused below it. The store needs room beyond the write itself: up to two
// 32 MiB memtables waiting to be flushed into tables of about the same size,
// the write-ahead log of the next memtable, and the manifest; compactions
// and index files use what is left. Store writes that fail half-way on a
// full disk leave the store to be recovered by a reopen, so a write is
// refused while this reserve would not remain afterwards.
const DefaultMinFreeDiskBytes = 128 << 20

// ErrDiskFull is wrapped by the error of a write refused because the disk
// holding the shard is nearly full (its free space would drop below
// Options.MinFreeDiskBytes) or because the store ran out of space. Reads go
// on; writes are accepted again by themselves once space is freed.
var ErrDiskFull = errors.New("shard: no space left on device")

// ErrStoreFailed is wrapped by the errors of a shard whose store failed to
// commit a write: the shard refuses writes until it has reopened its store,
// which the next write attempts (once the disk has room again).
var ErrStoreFailed = errors.New("shard: store failed")

// Free-space readings are cached: a fresh statfs is taken when the last one
// is older than diskRefresh, or when the free space it left, less what the
// shard wrote since, comes within diskWatchMargin of the reserve (other
// shards and processes share the file system, so near the reserve every
// write looks again).
const (
	diskRefresh     = time.Second
	diskWatchMargin = 256 << 20
)

// diskGuard refuses writes that would leave less than min bytes free on the
// file system holding dir. It is used under the shard's writeMu only.
type diskGuard struct {
	dir string
	min uint64 // 0: no guard
	log *slog.Logger

	readAt time.Time
	free   uint64 // free bytes at readAt
	used   uint64 // bytes committed since readAt
	failed bool   // statfs failed once: the guard is off (logged)
}

func newDiskGuard(dir string, minFree int64, log *slog.Logger) diskGuard {
	g := diskGuard{dir: dir, log: log}
	switch {
	case minFree == 0:
		g.min = DefaultMinFreeDiskBytes
	case minFree > 0:
		g.min = uint64(minFree)
	}
	return g
}

// read takes a fresh statfs reading.
func (g *diskGuard) read() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(g.dir, &st); err != nil {
		return err
	}
	g.readAt, g.free, g.used = time.Now(), st.Bavail*uint64(st.Bsize), 0
	return nil
}

// check returns an ErrDiskFull error when writing need more bytes would
// leave less than the reserve free. The batch is counted twice: once in the
// write-ahead log and once in the table its memtable is flushed to.
func (g *diskGuard) check(need uint64) error {
	if g.min == 0 || g.failed {
		return nil
	}
	want := g.min + 2*need
	est := uint64(0)
	if g.free > g.used {
		est = g.free - g.used
	}
	if g.readAt.IsZero() || time.Since(g.readAt) > diskRefresh || est < want+diskWatchMargin {
		if err := g.read(); err != nil {
			g.failed = true
			g.log.Warn("cannot read free disk space; writes are not guarded against a full disk", "dir", g.dir, "err", err)
			return nil
		}
		est = g.free
	}
	if est < want {
		return errDiskFull(est, g.min)
	}
	return nil
}

// spent records n bytes committed since the last reading.
func (g *diskGuard) spent(n uint64) { g.used += 2 * n }

// errDiskFull is the error of a refused write. Qdrant answers a write on a
// nearly full disk with a service error reading "No space left on device:
// ..."; this keeps its status and its words.
func errDiskFull(free, reserve uint64) error {
	return &api.Error{Kind: api.KindInternal, Err: ErrDiskFull, Message: fmt.Sprintf(
		"Service internal error: No space left on device: %s free, writes keep at least %s free; free disk space to resume writes",
		mib(free), mib(reserve))}
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// recoverSlack is the free space reopening a failed store needs beyond
// twice its write-ahead log (new log, manifest and options files).
const recoverSlack = 4 << 20

// walBytes returns the size of the write-ahead log files in the store
// directory dir.
func walBytes(dir string) uint64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n uint64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			if fi, err := e.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
	}
	return n
}

// errStoreClosed is returned by readers of the store while a failed store
// could not be reopened.
var errStoreClosed = &api.Error{Kind: api.KindInternal, Err: ErrStoreFailed,
	Message: "Service internal error: the shard's store is being recovered after a failed write; retry later"}

// failedOp is an operation whose store commit failed: the store may or may
// not hold it, which reopening the store tells.
type failedOp struct {
	p   *plan
	seq uint64
	enc int
}

// storeFailed records that committing pd failed with err: the shard
// refuses writes (and op-log truncation) from now on, because the store's
// state is unknown (its memtable may hold the batch its log could not
// keep), until recoverStore has reopened it. Caller holds writeMu.
func (s *Shard) storeFailed(pd *Pending, err error) error {
	s.failed = &failedOp{p: pd.p, seq: pd.seq, enc: pd.enc}
	s.storeErr = err
	s.storeBroken.Store(true)
	s.log.Error("store write failed; writes are refused until the store is reopened", "seq", pd.seq, "err", err)
	return s.storeFailure()
}

// storeFailure is the error writes get while the store is failed.
func (s *Shard) storeFailure() error {
	if errors.Is(s.storeErr, syscall.ENOSPC) {
		return &api.Error{Kind: api.KindInternal, Err: errors.Join(ErrDiskFull, ErrStoreFailed, s.storeErr),
			Message: "Service internal error: No space left on device: the shard's store could not write; free disk space to resume writes"}
	}
	return &api.Error{Kind: api.KindInternal, Err: errors.Join(ErrStoreFailed, s.storeErr),
		Message: fmt.Sprintf("Service internal error: cannot write shard %d: %v", s.opts.ID, s.storeErr)}
}

// recoverStore reopens a failed store, once the disk has room again, and
// brings the in-memory state in line with it: the failed operation is
// published if the reopened store holds it, and forgotten otherwise.
// Nothing else can differ, since no write reached the store after the
// failure. It returns nil when the store is (again) usable. Caller holds
// writeMu.
func (s *Shard) recoverStore() error {
	if s.storeErr == nil {
		return nil
	}
	// Opening the store replays its write-ahead log and flushes it into a
	// table, which waits as long as the flush fails: reopen only once the
	// disk has room for that (and the reserve).
	need := s.disk.min + 2*walBytes(filepath.Join(s.opts.Dir, "store")) + recoverSlack
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.opts.Dir, &st); err == nil {
		if free := st.Bavail * uint64(st.Bsize); free < need {
			return &api.Error{Kind: api.KindInternal, Err: errors.Join(ErrDiskFull, ErrStoreFailed, s.storeErr), Message: fmt.Sprintf(
				"Service internal error: No space left on device: the shard's store could not write and needs %s free to recover, %s are free; free disk space to resume writes",
				mib(need), mib(free))}
		}
	}
	// Readers of the store hold closeMu (ReadOps) or mu (scrolls) shared.
	s.closeMu.Lock()
	s.mu.Lock()
	s.closeView() // readers of on-disk payloads fail until the store is back
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			s.log.Warn("closing the failed store", "err", err)
		}
	}
	// Until a reopen succeeds, s.db is nil and readers of the store (scroll,
	// ReadOps, checkpoints) fail with errStoreClosed.
	s.db = nil
	db, err := pebble.Open(filepath.Join(s.opts.Dir, "store"), s.pebbleOptions())
	if err == nil {
		s.db = db
	}
	s.mu.Unlock()
	s.closeMu.Unlock()
	if err != nil {
		// The store stays closed; the next write tries again.
		s.storeErr = fmt.Errorf("cannot reopen store: %w", err)
		return s.storeFailure()
	}
	m, err := s.readMeta()
	if err != nil {
		s.storeErr = err
		return s.storeFailure()
	}
	f := s.failed
	switch {
	case m.LastSeq == s.lastSeq:
		s.log.Info("store reopened after a failed write; the write was not applied", "seq", s.lastSeq+1)
		s.mu.Lock()
		s.renewView()
		s.mu.Unlock()
	case f != nil && m.LastSeq == f.seq && f.seq == s.lastSeq+1:
		s.log.Info("store reopened after a failed write; the store holds the write, which is published", "seq", f.seq)
		s.committed(&Pending{s: s, p: f.p, seq: f.seq, enc: f.enc}) // renews the payload view
	default:
		s.storeErr = fmt.Errorf("store reopened at sequence %d, shard at %d: %w", m.LastSeq, s.lastSeq, errCorrupt)
		return s.storeFailure()
	}
	// An op-log truncation may have failed instead, or made it: count the
	// log again from the store.
	if err := s.loadLog(s.nextOff); err != nil {
		s.storeErr = err
		return s.storeFailure()
	}
	s.storeErr, s.failed = nil, nil
	s.storeBroken.Store(false)
	return nil
}
