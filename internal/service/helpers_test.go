package service

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

var bg = context.Background()

func newService(t *testing.T, dir string) *Service {
	t.Helper()
	s, err := New(Options{StorageDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func payload(t *testing.T, s string) api.Payload {
	t.Helper()
	p, err := api.DecodePayload([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func filterJSON(t *testing.T, s string) *api.Filter {
	t.Helper()
	var f api.Filter
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks err's kind and that its message contains msg.
func wantErr(t *testing.T, err error, kind api.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", msg)
	}
	if api.KindOf(err) != kind || !strings.Contains(api.Message(err), msg) {
		t.Fatalf("got %q (kind %d), want kind %d containing %q", api.Message(err), api.KindOf(err), kind, msg)
	}
}

// dataset is a set of points kept in memory as the oracle.
type dataset struct {
	dist api.Distance
	dim  int
	vecs map[uint64][]float32
	pays map[uint64]api.Payload
}

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func makeDataset(seed uint64, n, dim int, dist api.Distance) *dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &dataset{dist: dist, dim: dim, vecs: map[uint64][]float32{}, pays: map[uint64]api.Payload{}}
	colors := []string{"red", "green", "blue"}
	for i := range n {
		id := uint64(i + 1)
		d.vecs[id] = randVec(r, dim)
		d.pays[id] = api.Payload{
			"color": colors[i%3],
			"n":     json.Number(fmt.Sprint(i)),
			"group": json.Number(fmt.Sprint(i % 7)),
		}
	}
	return d
}

func (d *dataset) points(name string) []api.PointStruct {
	out := make([]api.PointStruct, 0, len(d.vecs))
	for id := uint64(1); id <= uint64(len(d.vecs)); id++ {
		out = append(out, api.PointStruct{ID: api.NumID(id), Vector: api.Vectors{name: d.vecs[id]}, Payload: d.pays[id]})
	}
	return out
}

func unit(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / math.Sqrt(s))
	}
	return out
}

// score is Qdrant's reported score of q against a stored vector.
func (d *dataset) score(q, v []float32) float32 {
	switch d.dist {
	case api.DistanceCosine:
		q, v = unit(q), unit(v)
		fallthrough
	case api.DistanceDot:
		var s float32
		for i := range q {
			s += q[i] * v[i]
		}
		return s
	case api.DistanceEuclid:
		var s float64
		for i := range q {
			x := float64(q[i] - v[i])
			s += x * x
		}
		return float32(math.Sqrt(s))
	}
	var s float32
	for i := range q {
		s += float32(math.Abs(float64(q[i] - v[i])))
	}
	return s
}

// bruteTop returns the ids of the k best points for q among those keep
// accepts, best first (ties by id).
func (d *dataset) bruteTop(q []float32, k int, keep func(id uint64) bool) []uint64 {
	type c struct {
		id uint64
		s  float32
	}
	var all []c
	for id, v := range d.vecs {
		if keep == nil || keep(id) {
			all = append(all, c{id, d.score(q, v)})
		}
	}
	higher := d.dist.HigherIsBetter()
	sort.Slice(all, func(i, j int) bool {
		if all[i].s != all[j].s {
			if higher {
				return all[i].s > all[j].s
			}
			return all[i].s < all[j].s
		}
		return all[i].id < all[j].id
	})
	if len(all) > k {
		all = all[:k]
	}
	out := make([]uint64, len(all))
	for i, x := range all {
		out[i] = x.id
	}
	return out
}

func hitIDs(hits []api.ScoredPoint) []uint64 {
	out := make([]uint64, len(hits))
	for i, h := range hits {
		out[i] = h.ID.Num
	}
	return out
}

func sameIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// createUnnamed creates a collection with one unnamed vector.
func createUnnamed(t *testing.T, s *Service, name string, dim int, dist api.Distance, shards int) {
	t.Helper()
	mustNil(t, s.CreateCollection(bg, name, &api.CreateCollection{
		Vectors:     api.VectorsConfig{"": {Size: dim, Distance: dist}},
		ShardNumber: &shards,
	}))
}

func upsert(t *testing.T, s *Service, coll string, pts []api.PointStruct) {
	t.Helper()
	res, err := s.Upsert(bg, coll, &api.UpsertPoints{Points: pts}, api.WriteParams{Wait: true})
	mustNil(t, err)
	if res.Status != api.UpdateCompleted || res.OperationID == nil {
		t.Fatalf("upsert result %+v", res)
	}
}

func query(t *testing.T, s *Service, coll string, req *api.QueryRequest) []api.ScoredPoint {
	t.Helper()
	res, err := s.Query(bg, coll, req, api.ReadParams{})
	mustNil(t, err)
	return res.Points
}
