package loadtool

import "slices"

// BruteForceGroundTruth returns, per query, the ids of the k nearest base
// vectors by Euclidean distance (ties by smaller id), as TEXMEX does.
func BruteForceGroundTruth(base, queries [][]float32, k int) [][]int32 {
	out := make([][]int32, len(queries))
	type cand struct {
		id int32
		d  float32
	}
	for qi, q := range queries {
		cs := make([]cand, len(base))
		for i, b := range base {
			var d float32
			for j := range q {
				x := q[j] - b[j]
				d += x * x
			}
			cs[i] = cand{int32(i), d}
		}
		slices.SortFunc(cs, func(a, b cand) int {
			if a.d != b.d {
				if a.d < b.d {
					return -1
				}
				return 1
			}
			return int(a.id - b.id)
		})
		row := make([]int32, min(k, len(cs)))
		for i := range row {
			row[i] = cs[i].id
		}
		out[qi] = row
	}
	return out
}
