package shard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// dirSize is the size of the files under dir.
func dirSize(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestCompactionBoundsGrowth updates every point of a shard 20 times over
// (dense, sparse and multi-vectors and payloads) and checks that the
// offset counter, the in-memory structures, the Go heap and the shard's
// disk usage stay within a fixed factor of the live data, while searches
// stay correct throughout: a reader checks a point that never changes
// through every compaction, and after each round graph searches keep
// their recall against an exact oracle.
func TestCompactionBoundsGrowth(t *testing.T) {
	const dim, rounds, batch = 8, 20, 100
	n := 1000
	if raceEnabled {
		n = 300
	}
	dir := t.TempDir()
	opts := crashOptions(dir)
	opts.CompactMinDead = 256
	opts.PersistInterval = 200 * time.Millisecond
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(3, 3))
	m := model{}
	vecs := map[uint64][]float32{}
	anchor := pt(1_000_000, randVec(r, dim), api.Payload{"anchor": true})
	apply(t, s, upsert(anchor))
	update := func(round int) {
		for lo := 0; lo < n; lo += batch {
			var pts []api.PointStruct
			for id := lo; id < min(lo+batch, n); id++ {
				p := pt(uint64(id), randVec(r, dim), api.Payload{"round": json.Number(strconv.Itoa(round))})
				p.Sparse = randSparse(r)
				p.Multi = randMulti(r)
				pts = append(pts, p)
				vecs[uint64(id)] = p.Vector[""]
			}
			op := upsert(pts...)
			apply(t, s, op)
			m.apply(op)
		}
	}
	update(0)
	waitIndexed(t, s)
	if err := s.persist(bg, dir, true); err != nil {
		t.Fatal(err)
	}
	baseHeap := heapBytes()
	baseDisk := dirSize(t, dir)
	baseGraph := s.spaces[""].graph.Load().MemoryBytes()

	// The reader: the anchor point is found, with its payload and vector,
	// and the point count is right, at every moment.
	stop := make(chan struct{})
	var reads, graphMiss atomic.Int64
	var readErr atomic.Pointer[string]
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fail := func(f string, a ...any) { msg := fmt.Sprintf(f, a...); readErr.CompareAndSwap(nil, &msg) }
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, exact := range []bool{true, false} {
				hits, err := s.Search(bg, SearchRequest{Vector: anchor.Vector[""], Limit: 1, Params: api.SearchParams{Exact: exact}, WithPayload: api.PayloadAll})
				if !exact && err == nil && len(hits) == 1 && hits[0].ID.Num != 1_000_000 {
					graphMiss.Add(1) // a recall matter, counted below
					continue
				}
				if err != nil || len(hits) != 1 || hits[0].ID.Num != 1_000_000 || hits[0].Score != 0 || hits[0].Payload["anchor"] != true {
					s.mu.RLock()
					off, _ := s.ids.lookup(api.NumID(1_000_000))
					sp := s.spaces[""]
					g := sp.graph.Load()
					inG := g != nil && g.Contains(off)
					inTail := slices.Contains(sp.tail(), off)
					var un []uint32
					var wide, narrow any
					if g != nil {
						un = g.Unreachable()
						wide = g.Search(anchor.Vector[""], 1, 5000, nil)
						narrow = g.Search(anchor.Vector[""], 1, 64, nil)
					}
					s.mu.RUnlock()
					fail("anchor search (exact %v): %v %s (offset %d, in graph %v, in tail %v, unreachable %v, graph search ef 5000: %v, ef 64: %v, compactions %d)", exact, err, jsonOf(t, hits), off, inG, inTail, un, wide, narrow, s.Compactions())
				}
			}
			recs, err := s.Get(bg, []api.PointID{api.NumID(1_000_000)}, api.PayloadAll, all)
			if err != nil || len(recs) != 1 || !slices.Equal(recs[0].Vector[""], anchor.Vector[""]) {
				fail("anchor get: %v %s", err, jsonOf(t, recs))
			}
			if c, err := s.Count(bg, nil, true); err != nil || c != uint64(n+1) {
				fail("count %d, %v", c, err)
			}
			reads.Add(1)
			time.Sleep(time.Millisecond) // leave the writer a core
		}
	}()

	dist := vecmath.Dist(api.DistanceEuclid)
	ratio := DefaultCompactRatio // what Open made of opts.CompactRatio 0
	maxOff := uint32(0)
	for round := 1; round <= rounds; round++ {
		update(round)
		s.mu.RLock()
		maxOff = max(maxOff, s.nextOff)
		s.mu.RUnlock()
		// Also what the maintenance loop does every second.
		s.maybeCompact(bg)
		// Recall of graph searches (with whatever is indexed by now, the
		// rest scanned exactly) against the exact oracle.
		hit, total := 0, 0
		for range 10 {
			q := randVec(r, dim)
			want := bruteForce(vecs, q, 10, dist, nil)
			got, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: api.SearchParams{HnswEf: ptr(64)}})
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]uint64, 0, len(got))
			for _, h := range got {
				if h.ID.Num != 1_000_000 {
					ids = append(ids, h.ID.Num)
				}
			}
			for _, id := range want {
				total++
				if slices.Contains(ids, id) {
					hit++
				}
			}
		}
		if rec := float64(hit) / float64(total); rec < 0.9 {
			t.Fatalf("round %d: recall %.3f", round, rec)
		}
		if e := readErr.Load(); e != nil {
			t.Fatalf("round %d: reader: %s", round, *e)
		}
	}
	close(stop)
	wg.Wait()
	if e := readErr.Load(); e != nil {
		t.Fatalf("reader: %s", *e)
	}
	m[1_000_000] = anchor
	waitIndexed(t, s)
	verifyModel(t, s, m, rounds)
	checkVectorKeys(t, s)
	if err := s.persist(bg, dir, false); err != nil {
		t.Fatal(err)
	}

	live := uint32(n + 1)
	s.mu.RLock()
	next, arrays, storeCap := s.nextOff, s.ids.capacity(), s.spaces[""].store.Cap()
	s.mu.RUnlock()
	g := s.spaces[""].graph.Load()
	heap, disk := heapBytes(), dirSize(t, dir)
	t.Logf("%d compactions, %d reads (%d graph misses); highest offset seen %d, now %d for %d points; arrays %d, store capacity %d; graph %d nodes (%d deleted), %d → %d bytes; heap %d → %d; disk %d → %d",
		s.Compactions(), reads.Load(), graphMiss.Load(), maxOff, next, live, arrays, storeCap, g.Len(), g.Deleted(), baseGraph, g.MemoryBytes(), baseHeap, heap, baseDisk, disk)
	if graphMiss.Load()*100 > reads.Load() {
		t.Errorf("graph searches missed the anchor in %d of %d reads", graphMiss.Load(), reads.Load())
	}
	if s.Compactions() < 5 {
		t.Errorf("%d compactions, want at least 5", s.Compactions())
	}
	// Without compaction: 21 × n offsets and everything sized by them.
	limit := uint32(float64(live)*(1+ratio)) + uint32(opts.CompactMinDead) + uint32(n)
	if maxOff > limit {
		t.Errorf("offset counter reached %d, want at most %d", maxOff, limit)
	}
	if next > live+uint32(opts.CompactMinDead)+uint32(float64(live)*ratio) {
		t.Errorf("offset counter %d for %d points", next, live)
	}
	if arrays > 3*int(live) || storeCap > 3*int(live)+2048 {
		t.Errorf("per-offset arrays %d, vector store capacity %d, for %d points", arrays, storeCap, live)
	}
	if g.Len() != int(live) || g.MemoryBytes() > 3*baseGraph {
		t.Errorf("graph of %d nodes, %d bytes (%d after the first load)", g.Len(), g.MemoryBytes(), baseGraph)
	}
	if heap > 3*baseHeap+32<<20 {
		t.Errorf("heap %d bytes, %d after the first load", heap, baseHeap)
	}
	if disk > 4*baseDisk+8<<20 {
		t.Errorf("disk %d bytes, %d after the first load", disk, baseDisk)
	}
	// And it reopens as it was.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openShard(t, opts)
	verifyModel(t, s2, m, rounds+1)
}

// TestCompactionKeepsOpLog: the op log reads the same operations after a
// compaction (vectors it referred to by offset are written inline), and
// writes, truncation and reopening go on normally afterwards.
func TestCompactionKeepsOpLog(t *testing.T) {
	opts := crashOptions(t.TempDir())
	opts.OpLogRetain = 1000
	opts.CompactRatio = -1 // only when asked
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 40 {
		var pts []api.PointStruct
		for range 10 {
			p := pt(uint64(r.IntN(50)), randVec(r, 8), api.Payload{"i": json.Number(strconv.Itoa(i))})
			p.Sparse = randSparse(r)
			p.Multi = randMulti(r)
			pts = append(pts, p)
		}
		apply(t, s, upsert(pts...))
		if i%10 == 9 {
			apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(uint64(r.IntN(50)))}}})
		}
	}
	// A payload index created after Open survives the compaction.
	if err := s.CreatePayloadIndex(bg, "i", api.PayloadFieldSchema{Type: api.SchemaInteger}); err != nil {
		t.Fatal(err)
	}
	rangeFilter := &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "i", Range: &api.Range{Gte: ptr(10.0), Lt: ptr(30.0)}}}}}
	inRange, err := s.Count(bg, rangeFilter, true)
	if err != nil || inRange == 0 {
		t.Fatalf("count in range: %d, %v", inRange, err)
	}
	readAll := func() []string {
		var out []string
		err := s.ReadOps(bg, 1, func(seq uint64, op *api.UpdateOperation) error {
			out = append(out, fmt.Sprintf("%d %s", seq, jsonOf(t, op)))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := readAll()
	points, _ := s.Scroll(bg, ScrollRequest{Limit: 1000, WithPayload: api.PayloadAll, WithVector: all})
	if err := s.Compact(bg); err != nil {
		t.Fatal(err)
	}
	if s.nextOff != uint32(s.nLive) {
		t.Fatalf("offset counter %d after compaction, %d points", s.nextOff, s.nLive)
	}
	if after := readAll(); !slices.Equal(before, after) {
		t.Fatalf("op log changed by compaction:\n%s\n----\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	if got, _ := s.Scroll(bg, ScrollRequest{Limit: 1000, WithPayload: api.PayloadAll, WithVector: all}); jsonOf(t, got) != jsonOf(t, points) {
		t.Fatal("points changed by compaction")
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, compactDirName)); !os.IsNotExist(err) {
		t.Fatalf("%s left behind: %v", compactDirName, err)
	}
	checkVectorKeys(t, s)
	if _, ok := s.pidx.schemas["i"]; !ok {
		t.Fatal("payload index lost by compaction")
	}
	if got, err := s.Count(bg, rangeFilter, true); err != nil || got != inRange {
		t.Fatalf("count in range %d after compaction, %d before (%v)", got, inRange, err)
	}
	if est := s.pidx.estimate(rangeFilter, s.nLive); est.Max < int(inRange) || est.Max >= s.nLive {
		t.Fatalf("payload index estimate %+v for %d matching of %d", est, inRange, s.nLive)
	}
	// Writes after it log vectors by offset again; truncation frees them.
	for i := range 5 {
		apply(t, s, upsert(pt(uint64(i), randVec(r, 8), nil)))
	}
	checkVectorKeys(t, s)
	if err := s.truncateLog(); err != nil {
		t.Fatal(err)
	}
	checkVectorKeys(t, s)
	if got := readAll(); !slices.Equal(got[:len(before)], before) {
		t.Fatal("op log changed by later writes")
	}
	// A checkpoint taken before a compaction finishes without index
	// files of the new offsets (checked by Open reconciling it).
	cp := filepath.Join(t.TempDir(), "cp")
	if _, err := s.Checkpoint(bg, cp); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openShard(t, opts)
	if got := readAll2(t, s2); !slices.Equal(got[:len(before)], before) {
		t.Fatal("op log changed by reopening")
	}
}

func readAll2(t *testing.T, s *Shard) []string {
	var out []string
	err := s.ReadOps(bg, 1, func(seq uint64, op *api.UpdateOperation) error {
		out = append(out, fmt.Sprintf("%d %s", seq, jsonOf(t, op)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const compactCrashEnv = "SHOAL_SHARD_COMPACT_CRASH"

// TestCompactionCrashChild is the process of TestCompactionCrash: it
// applies operations, prints each acknowledged one, then compacts and is
// killed (SIGKILL, by itself) at the step named in the environment.
func TestCompactionCrashChild(t *testing.T) {
	dir := os.Getenv(compactCrashEnv)
	if dir == "" {
		t.Skip("run by TestCompactionCrash")
	}
	step := os.Getenv(compactCrashEnv + "_STEP")
	opts := crashOptions(dir)
	opts.CompactRatio = -1
	var s *Shard
	var ops func(n int)
	opts.compactStep = func(st string) {
		if st == compactStepBuilt {
			ops(10) // writes while the store is copied: replayed
		}
		if st == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	s, err := Open(opts)
	if err != nil {
		fmt.Printf("OPENFAIL %v\n", err)
		os.Exit(3)
	}
	seed, _ := strconv.ParseUint(os.Getenv(compactCrashEnv+"_SEED"), 10, 64)
	r := rand.New(rand.NewPCG(seed, 2))
	i := 0
	ops = func(n int) {
		for range n {
			i++
			applyRandom(s, r, seed, i)
		}
	}
	ops(60)
	// Index files of the old offsets exist, so that a crash that kept them
	// would show.
	if err := s.persist(bg, dir, true); err != nil {
		fmt.Printf("PERSISTFAIL %v\n", err)
		os.Exit(5)
	}
	if err := s.Compact(bg); err != nil {
		fmt.Printf("COMPACTFAIL %v\n", err)
		os.Exit(6)
	}
	fmt.Println("DONE")
	s.Close()
	os.Exit(0)
}

// applyRandom applies the i-th random operation of the crash child and
// prints its acknowledgement.
func applyRandom(s *Shard, r *rand.Rand, seed uint64, i int) {
	{
		var op *api.UpdateOperation
		if r.IntN(5) == 0 {
			op = &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(uint64(r.IntN(200)))}}}
		} else {
			var pts []api.PointStruct
			for range 1 + r.IntN(20) {
				p := pt(uint64(r.IntN(200)), randVec(r, 8), api.Payload{"seed": json.Number(fmt.Sprint(seed)), "i": json.Number(fmt.Sprint(i))})
				p.Sparse = randSparse(r)
				p.Multi = randMulti(r)
				pts = append(pts, p)
			}
			op = upsert(pts...)
		}
		seq, err := s.Apply(bg, op)
		if err != nil {
			fmt.Printf("APPLYFAIL %v\n", err)
			os.Exit(4)
		}
		js, _ := json.Marshal(op)
		os.Stdout.Write([]byte("ACK " + strconv.FormatUint(seq, 10) + " " + string(js) + "\n"))
	}
}

// TestCompactionCrash kills a process at every step of a compaction (and
// lets one finish), reopens the shard after each and checks that it holds
// every acknowledged operation, whole and searchable, with no store or
// index file of the other numbering left in use.
func TestCompactionCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	m := model{}
	var lastSeq uint64
	steps := []string{compactStepBuilt, compactStepLoaded, compactStepReplayed, compactStepUncached, compactStepExchanged, compactStepPublished, compactStepDone, "none"}
	for round, step := range steps {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCompactionCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), compactCrashEnv+"="+dir, compactCrashEnv+"_STEP="+step, fmt.Sprintf("%s_SEED=%d", compactCrashEnv, round+1))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		done := false
		// The child may kill itself in the middle of writing an ack line (a
		// pipe splits long writes); a fragment with no newline was never
		// acknowledged.
		out = out[:bytes.LastIndexByte(out, '\n')+1]
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "DONE" {
				done = true
				continue
			}
			if !strings.HasPrefix(line, "ACK ") {
				if strings.HasPrefix(line, "PASS") || strings.HasPrefix(line, "ok") || line == "" {
					continue
				}
				t.Fatalf("step %s: child: %s\nstderr: %s", step, line, stderr.String())
			}
			parts := strings.SplitN(line, " ", 3)
			seq, _ := strconv.ParseUint(parts[1], 10, 64)
			op := new(api.UpdateOperation)
			if err := json.Unmarshal([]byte(parts[2]), op); err != nil {
				t.Fatal(err)
			}
			if seq != lastSeq+1 {
				t.Fatalf("step %s: acknowledged seq %d after %d", step, seq, lastSeq)
			}
			m.apply(op)
			lastSeq = seq
		}
		if done != (step == "none") {
			t.Fatalf("step %s: child finished %v (err %v)\nstderr: %s", step, done, err, stderr.String())
		}
		s, err := Open(crashOptions(dir))
		if err != nil {
			t.Fatalf("step %s: reopen: %v", step, err)
		}
		if got := s.LastSeq(); got != lastSeq {
			t.Fatalf("step %s: store at seq %d, last acknowledged %d", step, got, lastSeq)
		}
		if _, err := os.Stat(filepath.Join(dir, compactDirName)); !os.IsNotExist(err) {
			t.Fatalf("step %s: %s left after Open: %v", step, compactDirName, err)
		}
		t.Logf("step %s: %d points, offset counter %d, %d vectors read from the store", step, s.nLive, s.nextOff, s.loadedFromStore)
		verifyModel(t, s, m, round)
		checkVectorKeys(t, s)
		nOps := 0
		if err := s.ReadOps(bg, lastSeq, func(uint64, *api.UpdateOperation) error { nOps++; return nil }); err != nil || nOps != 1 {
			t.Fatalf("step %s: reading the last operation: %v (%d)", step, err, nOps)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompactionPause measures how long writes wait for a compaction of a
// larger shard (SHOAL_BENCH_COMPACT=1; docs/benchmarks.md): 20,000 points
// of 128 dimensions, each updated once, so that half the offsets are dead.
// Phase 1 (the store copied, writes going on) and phase 2 (replay and
// switch, writes waiting) are timed through the step hook; a writer
// upserts one point in a loop meanwhile, and its slowest write is
// reported.
func TestCompactionPause(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_COMPACT") == "" {
		t.Skip("set SHOAL_BENCH_COMPACT=1")
	}
	const n, dim = 20000, 128
	opts := indexedOptions(t.TempDir(), dim, api.DistanceCosine)
	opts.CompactRatio = -1
	var steps sync.Map
	opts.compactStep = func(st string) { steps.Store(st, time.Now()) }
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(9, 9))
	for round := range 2 {
		for lo := 0; lo < n; lo += 500 {
			var pts []api.PointStruct
			for id := lo; id < lo+500; id++ {
				pts = append(pts, pt(uint64(id), randVec(r, dim), api.Payload{"round": round}))
			}
			apply(t, s, upsert(pts...))
		}
	}
	waitIndexed(t, s)
	stop := make(chan struct{})
	var slowest time.Duration
	var writes int
	done := make(chan struct{})
	go func() {
		defer close(done)
		wr := rand.New(rand.NewPCG(10, 10))
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			apply(t, s, upsert(pt(uint64(n+wr.IntN(100)), randVec(wr, dim), nil)))
			slowest = max(slowest, time.Since(t0))
			writes++
		}
	}()
	start := time.Now()
	if err := s.Compact(bg); err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	close(stop)
	<-done
	at := func(st string) time.Time { v, _ := steps.Load(st); return v.(time.Time) }
	t.Logf("compaction of %d points (%d offsets dead): %v in all; phase 1 (copy, writes go on) %v, phase 2 (replay and switch, writes wait) %v, of which remapping the graphs and the switch %v; %d writes meanwhile, the slowest %v",
		n, n, total, at(compactStepLoaded).Sub(start), at(compactStepPublished).Sub(at(compactStepLoaded)), at(compactStepPublished).Sub(at(compactStepUncached)), writes, slowest)
	waitIndexed(t, s)
}
