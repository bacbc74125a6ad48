package loadtool

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoal-db/shoal/internal/texmex"
)

// Dataset is a TEXMEX data set: base vectors, queries and the ids of each
// query's exact nearest neighbours (nearest first).
type Dataset struct {
	Name        string
	Base        [][]float32
	Queries     [][]float32
	GroundTruth [][]int32
}

// LoadDataset reads base.fvecs, query.fvecs and groundtruth.ivecs (each
// optionally gzip-compressed with a .gz suffix) from dir.
func LoadDataset(dir string) (*Dataset, error) {
	ds := &Dataset{Name: filepath.Base(dir)}
	var err error
	if ds.Base, err = texmex.ReadFvecs(findFile(dir, "base.fvecs"), 0); err != nil {
		return nil, err
	}
	if ds.Queries, err = texmex.ReadFvecs(findFile(dir, "query.fvecs"), 0); err != nil {
		return nil, err
	}
	if ds.GroundTruth, err = texmex.ReadIvecs(findFile(dir, "groundtruth.ivecs"), 0); err != nil {
		return nil, err
	}
	if len(ds.GroundTruth) != len(ds.Queries) {
		return nil, fmt.Errorf("cannot use %s: %d queries but %d ground-truth rows", dir, len(ds.Queries), len(ds.GroundTruth))
	}
	return ds, nil
}

func findFile(dir, name string) string {
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return p + ".gz"
}

// RecallAt returns |got ∩ truth[:k]| / k.
func RecallAt(got []uint64, truth []int32, k int) float64 {
	if k > len(truth) {
		k = len(truth)
	}
	want := make(map[uint64]struct{}, k)
	for _, t := range truth[:k] {
		want[uint64(t)] = struct{}{}
	}
	hit := 0
	for i, g := range got {
		if i >= k {
			break
		}
		if _, ok := want[g]; ok {
			hit++
		}
	}
	return float64(hit) / float64(k)
}
