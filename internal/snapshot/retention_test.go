package snapshot

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// simulate takes a snapshot every step from start until end, pruning with r
// after each one as the scheduler does, and returns the survivors.
func simulate(r Retention, start, end time.Time, step time.Duration) []time.Time {
	var live []time.Time
	for t := start; !t.After(end); t = t.Add(step) {
		live = append(live, t)
		keep := r.Keep(live)
		next := live[:0]
		for i, k := range keep {
			if k {
				next = append(next, live[i])
			}
		}
		live = next
	}
	slices.SortFunc(live, func(a, b time.Time) int { return a.Compare(b) })
	return live
}

func TestRetentionOverThirteenSimulatedMonths(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2026, 1, 31, 10, 30, 0, 0, time.UTC) // 13 months, every 15 min
	r := Retention{KeepLast: 3, Hourly: 24, Daily: 30, Monthly: 12}
	got := simulate(r, start, end, 15*time.Minute)

	// Expected survivors, derived from the calendar rather than the code.
	want := map[time.Time]bool{}
	last := func(t time.Time) time.Time { // the last snapshot at or before t
		if t.After(end) {
			return end
		}
		return t
	}
	for i := 0; i < 3; i++ { // keep_last
		want[end.Add(-time.Duration(i)*15*time.Minute)] = true
	}
	hour := end.Truncate(time.Hour)
	for i := 0; i < 24; i++ { // newest of each of the last 24 hours: hh:45
		want[last(hour.Add(-time.Duration(i)*time.Hour).Add(45*time.Minute))] = true
	}
	day := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < 30; i++ { // newest of each of the last 30 days: 23:45
		want[last(day.AddDate(0, 0, -i).Add(23*time.Hour+45*time.Minute))] = true
	}
	month := time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 12; i++ { // newest of each of the last 12 months
		want[last(month.AddDate(0, -i+1, 0).Add(-15*time.Minute))] = true
	}
	var wantList []time.Time
	for t := range want {
		wantList = append(wantList, t)
	}
	slices.SortFunc(wantList, func(a, b time.Time) int { return a.Compare(b) })
	if !reflect.DeepEqual(got, wantList) {
		t.Fatalf("survivors differ:\n got %d: %v\nwant %d: %v", len(got), got, len(wantList), wantList)
	}
	// 3 last (in the current hour) + 23 other hours + 29 other days (one
	// of them, Jan 30 23:45, also an hour) + 11 other months.
	if len(got) != 3+23+29-1+11 {
		t.Fatalf("%d survivors", len(got))
	}
	// The oldest survivor is the end of February 2025: exactly 12 months kept.
	if got[0] != time.Date(2025, 2, 28, 23, 45, 0, 0, time.UTC) {
		t.Fatalf("oldest survivor %v", got[0])
	}
}

func TestRetentionWeeklyUsesISOWeeks(t *testing.T) {
	// Daily snapshots at noon for 10 weeks; keep 4 weekly.
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // a Monday
	end := start.AddDate(0, 0, 69)                        // a Sunday
	got := simulate(Retention{Weekly: 4}, start, end, 24*time.Hour)
	var want []time.Time
	for i := 3; i >= 0; i-- {
		want = append(want, end.AddDate(0, 0, -7*i)) // each ISO week's Sunday
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestZeroRetentionKeepsEverything(t *testing.T) {
	times := []time.Time{time.Unix(0, 0), time.Unix(10, 0)}
	if k := (Retention{}).Keep(times); !k[0] || !k[1] {
		t.Fatal("zero retention pruned")
	}
}

func TestPruneStore(t *testing.T) {
	ctx := context.Background()
	st, _ := OpenDirStore(t.TempDir(), "local")
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ {
		name := CollectionSnapshotName("books", 1, base.Add(time.Duration(i)*time.Hour))
		if err := PutArchive(ctx, st, "books", name, writeTemp(t, "x"), "sum", false); err != nil {
			t.Fatal(err)
		}
	}
	// An archive of another collection in the same directory, one without
	// a timestamp, and an orphan sidecar.
	other := CollectionSnapshotName("books-old", 1, base)
	PutArchive(ctx, st, "books", other, writeTemp(t, "x"), "sum", false)
	PutArchive(ctx, st, "books", "uploaded.snapshot", writeTemp(t, "x"), "sum", false)
	st.Put(ctx, "books/gone.snapshot"+VerifyExt, strings.NewReader("{}"), 2)

	deleted, err := Prune(ctx, st, "books", Retention{KeepLast: 2}, func(n string) bool {
		return strings.HasPrefix(n, "books-") && !strings.HasPrefix(n, "books-old-")
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 4 {
		t.Fatalf("deleted %v", deleted)
	}
	ds, _ := ListSnapshots(ctx, st, "books")
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	want := []string{other, CollectionSnapshotName("books", 1, base.Add(4*time.Hour)), CollectionSnapshotName("books", 1, base.Add(5*time.Hour)), "uploaded.snapshot"}
	slices.Sort(names)
	slices.Sort(want)
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("left %v, want %v", names, want)
	}
	objs, _ := st.List(ctx, "books")
	if len(objs) != 8 { // 4 archives + 4 checksums, no orphans
		var all []string
		for _, o := range objs {
			all = append(all, o.Name)
		}
		t.Fatalf("objects left: %v", all)
	}
}

func writeTemp(t *testing.T, s string) string {
	t.Helper()
	p := fmt.Sprintf("%s/f", t.TempDir())
	if err := osWriteFile(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}
