package snapshot

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Retention is a grandfather-father-son policy. A snapshot survives if any
// rule keeps it: it is among the KeepLast newest, or it is the newest
// snapshot of one of the Hourly most recent hours that have snapshots (and
// likewise for days, ISO weeks and months, all in UTC). A zero Retention
// keeps everything.
type Retention struct {
	KeepLast int `json:"keep_last" yaml:"keep_last" koanf:"keep_last"`
	Hourly   int `json:"hourly" yaml:"hourly" koanf:"hourly"`
	Daily    int `json:"daily" yaml:"daily" koanf:"daily"`
	Weekly   int `json:"weekly" yaml:"weekly" koanf:"weekly"`
	Monthly  int `json:"monthly" yaml:"monthly" koanf:"monthly"`
}

// IsZero reports whether r keeps everything.
func (r Retention) IsZero() bool { return r == Retention{} }

// Validate refuses negative counts.
func (r Retention) Validate() error {
	if r.KeepLast < 0 || r.Hourly < 0 || r.Daily < 0 || r.Weekly < 0 || r.Monthly < 0 {
		return fmt.Errorf("retention counts must not be negative: %+v", r)
	}
	return nil
}

// Keep returns, for each time in times (any order), whether r keeps it.
func (r Retention) Keep(times []time.Time) []bool {
	keep := make([]bool, len(times))
	if r.IsZero() {
		for i := range keep {
			keep[i] = true
		}
		return keep
	}
	order := make([]int, len(times))
	for i := range order {
		order[i] = i
	}
	// Newest first; ties keep input order.
	sort.SliceStable(order, func(a, b int) bool { return times[order[a]].After(times[order[b]]) })
	for i := 0; i < r.KeepLast && i < len(order); i++ {
		keep[order[i]] = true
	}
	bucket := func(n int, key func(t time.Time) [3]int) {
		if n == 0 {
			return
		}
		seen := make(map[[3]int]bool, n)
		for _, i := range order {
			k := key(times[i].UTC())
			if seen[k] {
				continue
			}
			if len(seen) == n {
				return
			}
			seen[k] = true
			keep[i] = true
		}
	}
	bucket(r.Hourly, func(t time.Time) [3]int { return [3]int{t.Year(), t.YearDay(), t.Hour()} })
	bucket(r.Daily, func(t time.Time) [3]int { return [3]int{t.Year(), t.YearDay(), 0} })
	bucket(r.Weekly, func(t time.Time) [3]int { y, w := t.ISOWeek(); return [3]int{y, w, 0} })
	bucket(r.Monthly, func(t time.Time) [3]int { return [3]int{t.Year(), int(t.Month()), 0} })
	return keep
}

// Prune deletes the snapshots in dir of st that r does not keep, with their
// sidecars, and removes sidecars whose archive is gone. Only archives whose
// names carry a timestamp and that match (when match is set) are
// considered; others are never deleted. It returns the deleted names.
func Prune(ctx context.Context, st Store, dir string, r Retention, match func(name string) bool) ([]string, error) {
	if r.IsZero() {
		return nil, removeOrphanSidecars(ctx, st, dir)
	}
	objs, err := st.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	var names []string
	var times []time.Time
	for _, o := range objs {
		if !strings.HasSuffix(o.Name, Ext) {
			continue
		}
		t, ok := NameTime(o.Name)
		if !ok || (match != nil && !match(o.Name)) {
			continue
		}
		names = append(names, o.Name)
		times = append(times, t)
	}
	keep := r.Keep(times)
	var deleted []string
	for i, name := range names {
		if keep[i] {
			continue
		}
		if _, err := DeleteSnapshot(ctx, st, dir, name); err != nil {
			return deleted, err
		}
		deleted = append(deleted, name)
	}
	return deleted, removeOrphanSidecars(ctx, st, dir)
}
