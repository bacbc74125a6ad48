package collection

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
)

func TestRouterGolden(t *testing.T) {
	// These values pin the routing function: changing them would strand
	// existing points in the wrong shard. Never update them.
	r := NewRouter(3)
	cases := []struct {
		id    api.PointID
		hash  uint64
		shard int
	}{
		{api.NumID(0), 0xf51ec3dabc2c4015, 2},
		{api.NumID(1), 0x50a66b222f4b771f, 0},
		{api.NumID(2), 0xb54df4d8b8005c60, 2},
		{api.NumID(42), 0xb8c090d405a892e7, 0},
		{api.NumID(1000), 0x1a93b5ebc10bbcb8, 1},
		{api.NumID(1 << 40), 0x246354cc1a9a57bb, 2},
		{api.UUIDID(uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")), 0xbe040633f67dd4ba, 2},
	}
	for _, c := range cases {
		if h := PointHash(c.id); h != c.hash {
			t.Errorf("PointHash(%s) = %#x, want %#x", c.id, h, c.hash)
		}
		if s := r.ShardOf(c.id); s != c.shard {
			t.Errorf("ShardOf(%s) = %d, want %d", c.id, s, c.shard)
		}
	}
	if NewRouter(1).ShardOf(api.NumID(12345)) != 0 {
		t.Fatal("one shard must own everything")
	}
}

func TestRouterDistribution(t *testing.T) {
	const n = 100_000
	for _, shards := range []int{2, 4, 7} {
		r := NewRouter(shards)
		counts := make([]int, shards)
		for i := range n {
			counts[r.ShardOf(api.NumID(uint64(i)))]++
		}
		ideal := float64(n) / float64(shards)
		for s, c := range counts {
			if dev := math.Abs(float64(c)-ideal) / ideal; dev > 0.25 {
				t.Errorf("%d shards: shard %d holds %d points, %.0f%% off the ideal %.0f", shards, s, c, dev*100, ideal)
			}
		}
	}
}

func TestRouterStability(t *testing.T) {
	// Growing the ring from 4 to 5 shards moves only points that go to
	// the new shard, about a fifth of them.
	const n = 50_000
	r4, r5 := NewRouter(4), NewRouter(5)
	moved := 0
	for i := range n {
		id := api.NumID(uint64(i) * 7919)
		a, b := r4.ShardOf(id), r5.ShardOf(id)
		if a != b {
			if b != 4 {
				t.Fatalf("point %s moved from shard %d to old shard %d", id, a, b)
			}
			moved++
		}
	}
	frac := float64(moved) / n
	if frac < 0.12 || frac > 0.28 {
		t.Fatalf("%.3f of the points moved, want about 0.2", frac)
	}
}

func ids(hits []api.ScoredPoint) []uint64 {
	out := make([]uint64, len(hits))
	for i, h := range hits {
		out[i] = h.ID.Num
	}
	return out
}

func sp(id uint64, score float32) api.ScoredPoint {
	return api.ScoredPoint{ID: api.NumID(id), Score: score}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

func TestFuseRRF(t *testing.T) {
	lists := [][]api.ScoredPoint{
		{sp(2, 0.9), sp(1, 0.8)},
		{sp(1, 0.7), sp(2, 0.6), sp(3, 0.5)},
		{sp(5, 0.9), sp(3, 0.5), sp(1, 0.4)},
	}
	got, err := FuseRRF(lists, DefaultRRFK, nil)
	if err != nil {
		t.Fatal(err)
	}
	// k=2: 1/(pos+2). Point 1: 1/3+1/2+1/4; 2: 1/2+1/3; 3: 1/4+1/3; 5: 1/2.
	want := []struct {
		id    uint64
		score float32
	}{{1, 13.0 / 12}, {2, 5.0 / 6}, {3, 7.0 / 12}, {5, 0.5}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, w := range want {
		if got[i].ID.Num != w.id || !near(got[i].Score, w.score) {
			t.Fatalf("rank %d: got %s %v, want %d %v", i, got[i].ID, got[i].Score, w.id, w.score)
		}
	}
}

func TestFuseRRFWeighted(t *testing.T) {
	lists := [][]api.ScoredPoint{{sp(1, 0), sp(2, 0)}, {sp(2, 0), sp(1, 0)}}
	// Weight w: 1/((pos+1)/w + k - 1). Point 1: 1/(1/3+1) + 1/(2+1) = 0.75+0.3333;
	// point 2: 1/(2/3+1) + 1/(1+1) = 0.6+0.5.
	got, err := FuseRRF(lists, 2, []float32{3, 1})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].ID.Num != 2 || !near(got[0].Score, 1.1) || got[1].ID.Num != 1 || !near(got[1].Score, 0.75+1.0/3) {
		t.Fatalf("got %v", got)
	}
	// A zero weight contributes nothing; k changes the curve.
	got, _ = FuseRRF([][]api.ScoredPoint{{sp(1, 0)}, {sp(2, 0)}}, 5, []float32{1, 0})
	if got[0].ID.Num != 1 || !near(got[0].Score, 0.2) || got[1].Score != 0 {
		t.Fatalf("got %v", got)
	}
	if _, err := FuseRRF(lists, 2, []float32{1}); api.KindOf(err) != api.KindBadInput {
		t.Fatalf("weights/prefetch mismatch: %v", err)
	}
	if _, err := FuseRRF(lists, 0, nil); api.KindOf(err) != api.KindBadInput {
		t.Fatalf("k=0: %v", err)
	}
}

func TestFuseDBSF(t *testing.T) {
	// List 1 scores 1,2,3: mean 2, sample std 1, extremes -1 and 5, so the
	// normalised scores are 1/3, 1/2, 2/3. List 2 has one point: 0.5.
	lists := [][]api.ScoredPoint{{sp(1, 1), sp(2, 2), sp(3, 3)}, {sp(3, 10)}}
	got := FuseDBSF(lists)
	want := map[uint64]float32{3: 2.0/3 + 0.5, 2: 0.5, 1: 1.0 / 3}
	if len(got) != 3 || got[0].ID.Num != 3 || got[1].ID.Num != 2 || got[2].ID.Num != 1 {
		t.Fatalf("order %v", ids(got))
	}
	for _, h := range got {
		if !near(h.Score, want[h.ID.Num]) {
			t.Fatalf("point %s: %v, want %v", h.ID, h.Score, want[h.ID.Num])
		}
	}
	// Equal scores normalise to 0.5.
	got = FuseDBSF([][]api.ScoredPoint{{sp(1, 4), sp(2, 4)}})
	if !near(got[0].Score, 0.5) || !near(got[1].Score, 0.5) {
		t.Fatalf("equal scores: %v", got)
	}
}

func vecEq(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !near(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestAverageVector(t *testing.T) {
	v, err := AverageVector([][]float32{{2, 0}, {0, 2}}, nil)
	if err != nil || !vecEq(v, []float32{1, 1}) {
		t.Fatalf("no negatives: %v %v", v, err)
	}
	// avg(pos) + avg(pos) - avg(neg) = (1,1)*2 - (0,1).
	v, _ = AverageVector([][]float32{{2, 0}, {0, 2}}, [][]float32{{0, 1}})
	if !vecEq(v, []float32{2, 1}) {
		t.Fatalf("with negatives: %v", v)
	}
	v, _ = AverageVector([][]float32{{1, 0}, {0, 1}}, [][]float32{{1, 1}, {1, 1}})
	if !vecEq(v, []float32{0, 0}) {
		t.Fatalf("cancelling: %v", v)
	}
	if _, err := AverageVector(nil, [][]float32{{1, 1}}); api.KindOf(err) != api.KindBadInput {
		t.Fatalf("no positives: %v", err)
	}
}

func TestRecommendScorers(t *testing.T) {
	pos, neg := [][]float32{{1, 0}}, [][]float32{{0, 1}}
	best := BestScore(api.DistanceDot, pos, neg)
	// v=(2,1): s+=2 > s-=1 -> 0.5*(2/3+1).
	if s := best([]float32{2, 1}); !near(s, 5.0/6) {
		t.Fatalf("best_score positive side: %v", s)
	}
	// v=(1,3): s+=1 < s-=3 -> -0.5*(3/4+1).
	if s := best([]float32{1, 3}); !near(s, -0.875) {
		t.Fatalf("best_score negative side: %v", s)
	}
	// Only negatives: every point is on the negative side.
	if s := BestScore(api.DistanceDot, nil, neg)([]float32{5, 0}); !near(s, -0.5) {
		t.Fatalf("best_score without positives: %v", s)
	}
	if s := SumScores(api.DistanceDot, pos, neg)([]float32{2, 1}); !near(s, 1) {
		t.Fatalf("sum_scores dot: %v", s)
	}
	// Euclid similarity is the negated squared distance: -1 - (-4) = 3.
	if s := SumScores(api.DistanceEuclid, [][]float32{{0, 0}}, [][]float32{{3, 0}})([]float32{1, 0}); !near(s, 3) {
		t.Fatalf("sum_scores euclid: %v", s)
	}
}

func TestDiscoverAndContextScorers(t *testing.T) {
	pairs := []Pair{{Pos: []float32{0, 1}, Neg: []float32{0, -1}}}
	d := DiscoverScore(api.DistanceDot, []float32{1, 0}, pairs)
	// Pair satisfied (+1) plus sigmoid(2) = 0.8333.
	if s := d([]float32{2, 1}); !near(s, 1+5.0/6) {
		t.Fatalf("discover inside: %v", s)
	}
	// Pair violated (-1) plus sigmoid(2).
	if s := d([]float32{2, -1}); !near(s, -1+5.0/6) {
		t.Fatalf("discover outside: %v", s)
	}
	c := ContextScore(api.DistanceDot, pairs)
	if s := c([]float32{0, 2}); s != 0 {
		t.Fatalf("context inside: %v", s)
	}
	// diff = -1 - 1 - eps -> fastSigmoid(-2) = -2/3.
	if s := c([]float32{0, -1}); !near(s, -2.0/3) {
		t.Fatalf("context outside: %v", s)
	}
	// Ties count as violated, with the margin.
	if s := c([]float32{1, 0}); s >= 0 {
		t.Fatalf("context tie: %v", s)
	}
}

func TestSimilarityAndReportedScore(t *testing.T) {
	a, b := []float32{1, 2}, []float32{4, 6}
	if s := ReportedScore(api.DistanceEuclid, a, b); !near(s, 5) {
		t.Fatalf("euclid %v", s)
	}
	if s := ReportedScore(api.DistanceManhattan, a, b); !near(s, 7) {
		t.Fatalf("manhattan %v", s)
	}
	if s := ReportedScore(api.DistanceDot, a, b); !near(s, 16) {
		t.Fatalf("dot %v", s)
	}
	if s := Similarity(api.DistanceEuclid, a, b); !near(s, -25) {
		t.Fatalf("euclid similarity %v", s)
	}
}

func TestGroupHits(t *testing.T) {
	hit := func(id uint64, g any) api.ScoredPoint {
		return api.ScoredPoint{ID: api.NumID(id), Score: float32(10 - id), Payload: api.Payload{"g": g}}
	}
	hits := []api.ScoredPoint{
		hit(1, "a"),
		hit(2, json.Number("1")),
		hit(3, []any{"a", "b"}),
		hit(4, json.Number("1.5")), // not a group value
		hit(5, "a"),                // group a is full
		hit(6, json.Number("1")),
		hit(7, "c"), // third group: over the limit
	}
	groups := GroupHits(hits, "g", 2, 2)
	if len(groups) != 2 {
		t.Fatalf("got %d groups", len(groups))
	}
	if groups[0].ID != "a" || len(groups[0].Hits) != 2 || groups[0].Hits[0].ID.Num != 1 || groups[0].Hits[1].ID.Num != 3 {
		t.Fatalf("group a: %+v", groups[0])
	}
	if groups[1].ID != json.Number("1") || len(groups[1].Hits) != 2 || groups[1].Hits[1].ID.Num != 6 {
		t.Fatalf("group 1: %+v", groups[1])
	}
	if !groupsFull(groups, 2, 2) || groupsFull(groups, 3, 2) {
		t.Fatal("groupsFull")
	}
}

func TestMergeFacets(t *testing.T) {
	lists := [][]api.FacetHit{
		{{Value: "a", Count: 3}, {Value: "b", Count: 2}},
		{{Value: "b", Count: 2}, {Value: "c", Count: 1}, {Value: "d", Count: 1}},
	}
	got := MergeFacets(lists, 3)
	want := []api.FacetHit{{Value: "b", Count: 4}, {Value: "a", Count: 3}, {Value: "c", Count: 1}}
	if len(got) != 3 {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// Numbers merge by value, whatever their spelling.
	got = MergeFacets([][]api.FacetHit{{{Value: json.Number("2"), Count: 1}}, {{Value: json.Number("2.0"), Count: 2}}}, 10)
	if len(got) != 1 || got[0].Count != 3 {
		t.Fatalf("numbers: %v", got)
	}
}

func TestMatrixRows(t *testing.T) {
	vecs := [][]float32{{0, 0}, {1, 0}, {3, 0}}
	rows := MatrixRows(api.DistanceEuclid, vecs, 1)
	if rows[0].Neighbours[0] != 1 || !near(rows[0].Scores[0], 1) {
		t.Fatalf("row 0: %+v", rows[0])
	}
	if rows[2].Neighbours[0] != 1 || !near(rows[2].Scores[0], 2) {
		t.Fatalf("row 2: %+v", rows[2])
	}
	rows = MatrixRows(api.DistanceDot, vecs, 5)
	if len(rows[1].Neighbours) != 2 || rows[1].Neighbours[0] != 2 || !near(rows[1].Scores[0], 3) {
		t.Fatalf("dot row 1: %+v", rows[1])
	}
	m := &Matrix{IDs: []api.PointID{api.NumID(10), api.NumID(11), api.NumID(12)}, Rows: MatrixRows(api.DistanceEuclid, vecs, 1)}
	p := m.Pairs()
	if len(p.Pairs) != 3 || p.Pairs[0].A.Num != 10 || p.Pairs[0].B.Num != 11 {
		t.Fatalf("pairs %+v", p)
	}
	o := m.Offsets()
	if len(o.Scores) != 3 || o.OffsetsRow[2] != 2 || o.OffsetsCol[2] != 1 || len(o.IDs) != 3 {
		t.Fatalf("offsets %+v", o)
	}
}

func TestAndFilters(t *testing.T) {
	key := func(k string) api.Condition {
		return api.Condition{Field: &api.FieldCondition{Key: k, Match: &api.Match{Value: "x"}}}
	}
	a := &api.Filter{Must: []api.Condition{key("a")}, Should: []api.Condition{key("s1")}}
	b := &api.Filter{MustNot: []api.Condition{key("b")}}
	got := andFilters(a, b)
	if len(got.Must) != 1 || len(got.MustNot) != 1 || len(got.Should) != 1 {
		t.Fatalf("flat merge: %+v", got)
	}
	if len(a.MustNot) != 0 {
		t.Fatal("input mutated")
	}
	// Both with should: nested, so both should clauses keep their meaning.
	c := &api.Filter{Should: []api.Condition{key("s2")}}
	got = andFilters(a, c)
	if len(got.Must) != 2 || got.Must[0].Filter != a || got.Must[1].Filter != c {
		t.Fatalf("nested merge: %+v", got)
	}
	got = andFilters(b, c) // b has no should: c's should survives
	if len(got.Should) != 1 || len(got.MustNot) != 1 {
		t.Fatalf("swap merge: %+v", got)
	}
	if andFilters(nil, b) != b || andFilters(a, nil) != a {
		t.Fatal("nil handling")
	}
}
