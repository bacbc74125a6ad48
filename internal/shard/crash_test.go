package shard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

const crashDirEnv = "SHOAL_SHARD_CRASH_DIR"

func crashOptions(dir string) Options {
	o := indexedOptions(dir, 8, api.DistanceEuclid)
	o.PersistInterval = 150 * time.Millisecond
	o.OpLogRetain = 50
	o.Sparse = api.SparseVectorsConfig{"lex": {}}
	o.Vectors["colbert"] = api.VectorParams{Size: 3, Distance: api.DistanceDot, MultivectorConfig: &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}}
	return o
}

// crashRoundOptions is crashOptions with the dense vector's graph on the
// heap or, with graphOnDisk, in a mapped file (hnsw_config.on_disk).
func crashRoundOptions(dir string, graphOnDisk bool) Options {
	o := crashOptions(dir)
	h := o.Hnsw[""]
	h.OnDisk = &graphOnDisk
	o.Hnsw = map[string]api.HnswConfig{"": h}
	return o
}

// randMulti returns a multi-vector of 1 to 4 vectors of size 3, or nil one
// time in two.
func randMulti(r *rand.Rand) api.MultiVectors {
	if r.IntN(2) == 0 {
		return nil
	}
	vs := make([][]float32, 1+r.IntN(4))
	for i := range vs {
		vs[i] = randVec(r, 3)
	}
	return api.MultiVectors{"colbert": vs}
}

// randSparse returns a sparse vector of up to 8 distinct sorted indices
// below 50, or nil (no sparse vector) one time in three.
func randSparse(r *rand.Rand) api.SparseVectors {
	if r.IntN(3) == 0 {
		return nil
	}
	var sv api.SparseVector
	for i := uint32(r.IntN(5)); i < 50 && len(sv.Indices) < 8; i += 1 + uint32(r.IntN(9)) {
		sv.Indices = append(sv.Indices, i)
		sv.Values = append(sv.Values, float32(r.IntN(100))/10)
	}
	return api.SparseVectors{"lex": sv}
}

// TestCrashChild is the writer process of TestCrashRecovery: it applies
// upserts and deletes in a loop and prints each acknowledged operation.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashRecovery")
	}
	s, err := Open(crashRoundOptions(dir, os.Getenv(crashDirEnv+"_GRAPH_ON_DISK") != ""))
	if err != nil {
		fmt.Printf("OPENFAIL %v\n", err)
		os.Exit(3)
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashDirEnv+"_SEED"), 10, 64)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; ; i++ {
		var op *api.UpdateOperation
		if r.IntN(4) == 0 {
			var ids []api.PointID
			for range 1 + r.IntN(3) {
				ids = append(ids, api.NumID(uint64(r.IntN(300))))
			}
			op = &api.UpdateOperation{Delete: &api.PointsSelector{Points: ids}}
		} else {
			var pts []api.PointStruct
			for range 1 + r.IntN(20) {
				id := uint64(r.IntN(300))
				p := pt(id, randVec(r, 8), api.Payload{"round": json.Number(fmt.Sprint(seed)), "i": json.Number(fmt.Sprint(i))})
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

// model is the expected content of the shard: id -> point.
type model map[uint64]api.PointStruct

func (m model) apply(op *api.UpdateOperation) {
	switch {
	case op.Upsert != nil:
		for _, p := range op.Upsert.Points {
			m[p.ID.Num] = p
		}
	case op.Delete != nil:
		for _, id := range op.Delete.Points {
			delete(m, id.Num)
		}
	}
}

// TestCrashRecovery SIGKILLs a writer process at random moments and checks
// after each kill that the shard reopens and holds every acknowledged
// operation (and at most the one operation in flight); every other round
// runs with the graph on_disk.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	if d := os.Getenv("SHOAL_CRASH_KEEP"); d != "" {
		dir = d
	}
	m := model{}
	var lastSeq uint64
	r := rand.New(rand.NewPCG(42, 42))
	rounds := 20
	for round := range rounds {
		// Odd rounds keep the graph on_disk (its lists in a mapped file),
		// in the killed writer and in the reopened shard alike.
		graphOnDisk := round%2 == 1
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s_SEED=%d", crashDirEnv, round+1))
		if graphOnDisk {
			cmd.Env = append(cmd.Env, crashDirEnv+"_GRAPH_ON_DISK=1")
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		type ack struct {
			seq uint64
			op  *api.UpdateOperation
		}
		acks := make(chan ack, 1<<16)
		readDone := make(chan error, 1)
		go func() {
			// An ack is a whole line: the child writes it in one call, but a
			// pipe splits writes longer than PIPE_BUF, so SIGKILL can cut
			// one short. A final fragment with no newline was never
			// acknowledged (its op is the one that may be in flight).
			br := bufio.NewReaderSize(out, 1<<20)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					break
				}
				line = strings.TrimSuffix(line, "\n")
				if !strings.HasPrefix(line, "ACK ") {
					readDone <- fmt.Errorf("child: %s", line)
					return
				}
				parts := strings.SplitN(line, " ", 3)
				seq, _ := strconv.ParseUint(parts[1], 10, 64)
				op := new(api.UpdateOperation)
				if err := json.Unmarshal([]byte(parts[2]), op); err != nil {
					readDone <- fmt.Errorf("bad ack line %q: %v", line, err)
					return
				}
				acks <- ack{seq, op}
			}
			readDone <- nil
		}()
		time.Sleep(time.Duration(100+r.IntN(500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := <-readDone; err != nil {
			t.Fatalf("round %d: %v\nstderr: %s", round, err, stderr.String())
		}
		cmd.Wait()
		close(acks)
		n := 0
		for a := range acks {
			if a.seq != lastSeq+1 {
				t.Fatalf("round %d: acknowledged seq %d after %d", round, a.seq, lastSeq)
			}
			m.apply(a.op)
			lastSeq = a.seq
			n++
		}
		if n == 0 {
			t.Logf("round %d: no acknowledged writes (stderr: %s)", round, stderr.String())
		}
		s, err := Open(crashRoundOptions(dir, graphOnDisk))
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		if on, _ := s.GraphOnDisk(""); on != (graphOnDisk && runtime.GOOS == "linux") {
			t.Fatalf("round %d: graph on disk %v, want %v", round, on, graphOnDisk)
		}
		// At most one operation was in flight: committed, not acknowledged.
		switch got := s.LastSeq(); {
		case got == lastSeq:
		case got == lastSeq+1:
			err := s.ReadOps(bg, got, func(seq uint64, op *api.UpdateOperation) error {
				m.apply(op)
				return nil
			})
			if err != nil {
				t.Fatalf("round %d: reading the in-flight op: %v", round, err)
			}
			lastSeq = got
		default:
			t.Fatalf("round %d: store at seq %d, last acknowledged %d", round, got, lastSeq)
		}
		if os.Getenv("SHOAL_CRASH_KEEP") != "" {
			exec.Command("cp", "-a", dir, dir+fmt.Sprintf(".r%d", round)).Run()
		}
		verifyModel(t, s, m, round)
		checkVectorKeys(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}
		t.Logf("round %d: %d acks, seq %d, %d points", round, n, lastSeq, len(m))
	}
}

func verifyModel(t *testing.T, s *Shard, m model, round int) {
	t.Helper()
	if n, _ := s.Count(bg, nil, true); n != uint64(len(m)) {
		t.Fatalf("round %d: %d points, model has %d", round, n, len(m))
	}
	page, err := s.Scroll(bg, ScrollRequest{Limit: 1000, WithPayload: api.PayloadAll, WithVector: all})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range page {
		want, ok := m[rec.ID.Num]
		if !ok {
			t.Fatalf("round %d: point %d should not exist", round, rec.ID.Num)
		}
		if !slices.Equal(rec.Vector[""], want.Vector[""]) || jsonOf(t, rec.Payload) != jsonOf(t, want.Payload) || jsonOf(t, rec.Sparse) != jsonOf(t, want.Sparse) || jsonOf(t, rec.Multi) != jsonOf(t, want.Multi) {
			t.Fatalf("round %d: point %d is %s, want %s", round, rec.ID.Num, jsonOf(t, rec), jsonOf(t, want))
		}
	}
	// Sparse searches (indexed and exact) agree with the model.
	for qi := range 5 {
		if s.sparse["lex"] == nil {
			break
		}
		q := api.SparseVector{Indices: []uint32{uint32(qi), uint32(qi + 7), uint32(qi + 20)}, Values: []float32{1, 0.5, 2}}
		type scored struct {
			id    uint64
			score float32
		}
		var want []scored
		for id, p := range m {
			sv, ok := p.Sparse["lex"]
			if !ok {
				continue
			}
			var sc float32
			overlap := false
			for i, x := range sv.Indices {
				if j := slices.Index(q.Indices, x); j >= 0 {
					sc += sv.Values[i] * q.Values[j]
					overlap = true
				}
			}
			if overlap {
				want = append(want, scored{id, sc})
			}
		}
		slices.SortFunc(want, func(a, b scored) int {
			if a.score != b.score {
				if a.score > b.score {
					return -1
				}
				return 1
			}
			return int(a.id) - int(b.id)
		})
		want = want[:min(10, len(want))]
		for _, exact := range []bool{false, true} {
			hits, err := s.Search(bg, SearchRequest{Using: "lex", Sparse: &q, Limit: 10, Params: api.SearchParams{Exact: exact}})
			if err != nil || len(hits) != len(want) {
				t.Fatalf("round %d: sparse search (exact %v): %v, %d hits, want %d", round, exact, err, len(hits), len(want))
			}
			for i := range hits {
				if d := hits[i].Score - want[i].score; d > 1e-4 || d < -1e-4 {
					t.Fatalf("round %d: sparse search (exact %v) rank %d score %v, want %v", round, exact, i, hits[i].Score, want[i].score)
				}
			}
		}
	}
	// Every point is found by an exact search at once.
	for id, p := range m {
		hits, err := s.Search(bg, SearchRequest{Vector: p.Vector[""], Limit: 1, Params: api.SearchParams{Exact: true}})
		if err != nil || len(hits) == 0 || hits[0].ID.Num != id || hits[0].Score != 0 {
			t.Fatalf("round %d: point %d not found by its own vector: %v %s", round, id, err, jsonOf(t, hits))
		}
	}
	// Once indexed, every point is reachable through the graph (waitIndexed
	// asserts it: a walk from the entry point visits every live node), so a
	// graph search wider than the graph finds each one; the planner's
	// ordinary search (ef 128) must find at least 99 %, a recall matter.
	waitIndexed(t, s)
	sp := s.spaces[""]
	g := sp.graph.Load()
	if g == nil {
		// Below the indexing threshold (a crash early in the first round
		// leaves few points) there is no graph to check.
		if sp.count >= sp.indexAt {
			t.Fatalf("round %d: no graph with %d vectors (indexing from %d)", round, sp.count, sp.indexAt)
		}
		return
	}
	for id, p := range m {
		off, _ := s.ids.lookup(api.NumID(id))
		if !g.Contains(off) {
			t.Fatalf("round %d: point %d (offset %d) is not in the graph after WaitIndexed", round, id, off)
		}
		if res := g.Search(p.Vector[""], 1, int(s.nextOff)+1, nil); len(res) == 0 || res[0].Off != off || res[0].Dist != 0 {
			t.Fatalf("round %d: point %d (offset %d) not found by an exhaustive graph search: %v (graph len %d, deleted %d)", round, id, off, res, g.Len(), g.Deleted())
		}
	}
	if miss := graphMisses(t, s, m); miss*100 > len(m) {
		t.Fatalf("round %d: %d of %d points not found through the graph with ef 128", round, miss, len(m))
	} else if miss > 0 {
		t.Logf("round %d: %d of %d points not found through the graph with ef 128", round, miss, len(m))
	}
}

// graphMisses counts the points of m that a planner search (graph + tail,
// ef 128) for their own vector does not return first.
func graphMisses(t *testing.T, s *Shard, m model) int {
	t.Helper()
	miss := 0
	for _, p := range m {
		hits, err := s.Search(bg, SearchRequest{Vector: p.Vector[""], Limit: 1, Params: api.SearchParams{HnswEf: ptr(128)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 || hits[0].Score != 0 {
			miss++
		}
	}
	return miss
}
