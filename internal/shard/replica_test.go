package shard

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// commitEpoch applies op on a primary in epoch.
func commitEpoch(t *testing.T, s *Shard, epoch uint64, op *api.UpdateOperation) uint64 {
	t.Helper()
	pd, err := s.PrepareEpoch(bg, epoch, op)
	if err != nil {
		t.Fatalf("PrepareEpoch: %v", err)
	}
	seq, err := pd.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return seq
}

// ship applies the primary's operations from seq from onwards on the
// backup, each with the epoch it was written in.
func ship(t *testing.T, primary, backup *Shard, from uint64) {
	t.Helper()
	err := primary.ReadOps(bg, from, func(seq uint64, op *api.UpdateOperation) error {
		return backup.ApplyAt(bg, primary.EpochOf(seq), seq, op)
	})
	if err != nil {
		t.Fatalf("ship from %d: %v", from, err)
	}
}

func digest(t *testing.T, s *Shard) (string, uint64, uint64) {
	t.Helper()
	d, n, seq, err := s.Digest(bg)
	if err != nil {
		t.Fatal(err)
	}
	return d, n, seq
}

// TestApplyAtFollowsPrimary checks that a backup applying its primary's
// operations by sequence number ends with the same points, versions and
// digest, refuses gaps and stale epochs, acknowledges duplicates, and keeps
// its epoch table across a reopen.
func TestApplyAtFollowsPrimary(t *testing.T) {
	p := openShard(t, testOptions(t.TempDir()))
	bdir := t.TempDir()
	b := openShard(t, testOptions(bdir))
	for i := range 20 {
		commitEpoch(t, p, 1, upsert(pt(uint64(i%7), []float32{float32(i), 1, 0, 0}, payload(t, fmt.Sprintf(`{"i":%d}`, i)))))
	}
	commitEpoch(t, p, 1, &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(3)}}})
	ship(t, p, b, 1)
	dp, np, sp := digest(t, p)
	db, nb, sb := digest(t, b)
	if dp != db || np != nb || sp != sb || np != 6 || sp != 21 {
		t.Fatalf("digests differ: primary %s/%d@%d, backup %s/%d@%d", dp, np, sp, db, nb, sb)
	}
	for id := range uint64(7) {
		if id == 3 {
			continue
		}
		if rp, rb := getOne(t, p, id), getOne(t, b, id); jsonOf(t, rp) != jsonOf(t, rb) {
			t.Fatalf("point %d: primary %s, backup %s", id, jsonOf(t, rp), jsonOf(t, rb))
		}
	}
	// A duplicate is acknowledged and changes nothing.
	if err := b.ApplyAt(bg, 1, 5, upsert(pt(100, []float32{1, 1, 1, 1}, nil))); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	// A gap is refused with the last sequence held.
	var gap *GapError
	if err := b.ApplyAt(bg, 1, 23, upsert(pt(100, []float32{1, 1, 1, 1}, nil))); !errors.As(err, &gap) || gap.Have != 21 {
		t.Fatalf("gap: %v, want GapError{21}", err)
	}
	// A new primary in epoch 3 writes; the backup follows it into epoch 3.
	commitEpoch(t, p, 3, upsert(pt(50, []float32{5, 5, 5, 5}, nil)))
	ship(t, p, b, 22)
	// Then a deposed epoch-2 primary's operation is refused.
	if err := b.ApplyAt(bg, 2, 23, upsert(pt(100, []float32{1, 1, 1, 1}, nil))); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("stale epoch: %v, want ErrStaleEpoch", err)
	}
	if _, err := p.PrepareEpoch(bg, 2, upsert(pt(100, []float32{1, 1, 1, 1}, nil))); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("stale epoch on primary: %v, want ErrStaleEpoch", err)
	}
	if e, s := b.Position(); e != 3 || s != 22 {
		t.Fatalf("backup position (%d, %d), want (3, 22)", e, s)
	}
	for _, c := range []struct {
		epoch, end uint64
		ok         bool
	}{{1, 21, true}, {3, 22, true}, {2, 0, false}, {4, 0, false}} {
		if end, ok := b.EpochEnd(c.epoch); end != c.end || ok != c.ok {
			t.Fatalf("EpochEnd(%d) = %d, %v; want %d, %v", c.epoch, end, ok, c.end, c.ok)
		}
	}
	if b.EpochOf(21) != 1 || b.EpochOf(22) != 3 {
		t.Fatalf("EpochOf: %d, %d", b.EpochOf(21), b.EpochOf(22))
	}
	want, _, _ := digest(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := openShard(t, testOptions(bdir))
	if e, s := b2.Position(); e != 3 || s != 22 {
		t.Fatalf("reopened backup position (%d, %d), want (3, 22)", e, s)
	}
	if got, _, _ := digest(t, b2); got != want {
		t.Fatalf("digest after reopen %s, want %s", got, want)
	}
	if end, ok := b2.EpochEnd(1); end != 21 || !ok {
		t.Fatalf("reopened EpochEnd(1) = %d, %v", end, ok)
	}
}

// TestDigestSeesEveryField checks that the digest changes with a payload,
// a vector or a version, so equal digests mean equal contents.
func TestDigestSeesEveryField(t *testing.T) {
	a := openShard(t, testOptions(t.TempDir()))
	apply(t, a, upsert(pt(1, []float32{1, 2, 3, 4}, payload(t, `{"a":1}`))))
	d0, _, _ := digest(t, a)
	apply(t, a, &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: payload(t, `{"a":2}`), Points: []api.PointID{api.NumID(1)}}})
	d1, _, _ := digest(t, a)
	apply(t, a, upsert(pt(1, []float32{1, 2, 3, 5}, payload(t, `{"a":2}`))))
	d2, _, _ := digest(t, a)
	apply(t, a, upsert(pt(1, []float32{1, 2, 3, 5}, payload(t, `{"a":2}`))))
	d3, _, _ := digest(t, a)
	if d0 == d1 || d1 == d2 || d2 == d3 {
		t.Fatalf("digest did not change: %s %s %s %s", d0, d1, d2, d3)
	}
}

// TestCompactionKeepsEpochs checks that a compaction keeps the epoch
// table: across it and a reopen, the epochs and their ends are the same.
func TestCompactionKeepsEpochs(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, testOptions(dir))
	for i := range 30 {
		commitEpoch(t, s, 1+uint64(i/10)*2, upsert(pt(uint64(i%5), []float32{float32(i), 1, 0, 0}, nil)))
	}
	if err := s.Compact(bg); err != nil {
		t.Fatal(err)
	}
	commitEpoch(t, s, 7, upsert(pt(9, []float32{1, 1, 1, 1}, nil)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openShard(t, testOptions(dir))
	for _, c := range []struct{ epoch, end uint64 }{{1, 10}, {3, 20}, {5, 30}, {7, 31}} {
		if end, ok := s2.EpochEnd(c.epoch); !ok || end != c.end {
			t.Fatalf("EpochEnd(%d) = %d, %v; want %d", c.epoch, end, ok, c.end)
		}
	}
}

// TestLastEpochIn reads the epoch of a closed shard's last operation from
// its directory: 0 for a shard written outside epochs, else the newest
// epoch of its table (read without opening the shard).
func TestLastEpochIn(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, testOptions(dir))
	if _, err := s.Apply(bg, upsert(pt(1, []float32{1, 0, 0, 0}, nil))); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if e, err := LastEpochIn(dir); err != nil || e != 0 {
		t.Fatalf("LastEpochIn of a shard without epochs: %d, %v", e, err)
	}
	s = openShard(t, testOptions(dir))
	commitEpoch(t, s, 2, upsert(pt(2, []float32{0, 1, 0, 0}, nil)))
	commitEpoch(t, s, 7, upsert(pt(3, []float32{0, 0, 1, 0}, nil)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if e, err := LastEpochIn(dir); err != nil || e != 7 {
		t.Fatalf("LastEpochIn: %d, %v; want 7", e, err)
	}
	if _, err := LastEpochIn(t.TempDir()); err == nil {
		t.Fatal("LastEpochIn of a directory without a store: no error")
	}
}
