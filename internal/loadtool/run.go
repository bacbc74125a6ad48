package loadtool

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Options configure a run.
type Options struct {
	Collection CollectionSpec
	// BatchSize is the number of points per upsert request.
	BatchSize int
	// UploadThreads is the number of concurrent upsert requests.
	UploadThreads int
	// SkipUpload reuses an existing collection.
	SkipUpload bool
	// EFs are the hnsw_ef values searched.
	EFs []int
	// Threads are the client thread counts searched with.
	Threads []int
	// Queries caps the number of queries per measurement (0: all).
	Queries int
	// K is the number of neighbours (recall@K).
	K int
	// Progress receives the progress bar (nil: none).
	Progress io.Writer
	// GreenTimeout bounds the wait for the collection to be fully indexed.
	GreenTimeout time.Duration
}

// UploadResult reports the import.
type UploadResult struct {
	Protocol      string  `json:"protocol"`
	Points        int     `json:"points"`
	UploadSeconds float64 `json:"upload_seconds"`
	// IndexedSeconds is the time from the first upsert until the collection
	// reported green (fully indexed).
	IndexedSeconds float64 `json:"indexed_seconds"`
	PointsPerSec   float64 `json:"points_per_second"`
}

// SearchResult reports one (ef, threads) measurement.
type SearchResult struct {
	Protocol string  `json:"protocol"`
	EF       int     `json:"ef"`
	Threads  int     `json:"threads"`
	Queries  int     `json:"queries"`
	Recall   float64 `json:"recall"`
	QPS      float64 `json:"qps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

// Upload recreates the collection, imports ds.Base with ids 0..n-1 and
// waits until the collection is green.
func Upload(ctx context.Context, t Target, protocol string, ds *Dataset, o Options) (*UploadResult, error) {
	if err := t.Recreate(ctx, o.Collection); err != nil {
		return nil, fmt.Errorf("cannot create collection: %w", err)
	}
	n := len(ds.Base)
	batch := max(1, o.BatchSize)
	var bar *progressbar.ProgressBar
	if o.Progress != nil {
		bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(o.Progress), progressbar.OptionSetDescription("upserting ("+protocol+")"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionThrottle(200*time.Millisecond))
	}
	start := time.Now()
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range max(1, o.UploadThreads) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(batch))) - batch
				if lo >= n || ctx.Err() != nil {
					return
				}
				hi := min(n, lo+batch)
				ids := make([]uint64, hi-lo)
				for i := range ids {
					ids[i] = uint64(lo + i)
				}
				if err := t.Upsert(ctx, o.Collection.Name, ids, ds.Base[lo:hi]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				if bar != nil {
					bar.Add(hi - lo)
				}
			}
		}()
	}
	wg.Wait()
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(o.Progress)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("cannot upsert: %w", firstErr)
	}
	uploaded := time.Since(start)
	deadline := time.Now().Add(o.GreenTimeout)
	if o.GreenTimeout == 0 {
		deadline = time.Now().Add(30 * time.Minute)
	}
	for {
		status, count, err := t.Status(ctx, o.Collection.Name)
		if err != nil {
			return nil, err
		}
		if status == "green" && count == uint64(n) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("collection not green after %s (status %s, %d points)", o.GreenTimeout, status, count)
		}
		time.Sleep(50 * time.Millisecond)
	}
	indexed := time.Since(start)
	return &UploadResult{Protocol: protocol, Points: n, UploadSeconds: uploaded.Seconds(), IndexedSeconds: indexed.Seconds(),
		PointsPerSec: float64(n) / uploaded.Seconds()}, nil
}

// SearchAll measures QPS and recall for every ef and thread count.
func SearchAll(ctx context.Context, t Target, protocol string, ds *Dataset, o Options) ([]SearchResult, error) {
	k := o.K
	if k == 0 {
		k = 10
	}
	nq := len(ds.Queries)
	if o.Queries > 0 && o.Queries < nq {
		nq = o.Queries
	}
	var out []SearchResult
	for _, ef := range o.EFs {
		for _, threads := range o.Threads {
			r, err := searchOnce(ctx, t, ds, o.Collection.Name, nq, k, ef, max(1, threads))
			if err != nil {
				return nil, err
			}
			r.Protocol = protocol
			out = append(out, *r)
		}
	}
	return out, nil
}

func searchOnce(ctx context.Context, t Target, ds *Dataset, coll string, nq, k, ef, threads int) (*SearchResult, error) {
	lat := make([]time.Duration, nq)
	recall := make([]float64, nq)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= nq || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				ids, err := t.Search(ctx, coll, ds.Queries[i], k, ef)
				lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				recall[i] = RecallAt(ids, ds.GroundTruth[i], k)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, fmt.Errorf("cannot search: %w", firstErr)
	}
	sum := 0.0
	for _, r := range recall {
		sum += r
	}
	p50, p99 := percentiles(lat)
	return &SearchResult{EF: ef, Threads: threads, Queries: nq, Recall: sum / float64(nq), QPS: float64(nq) / elapsed.Seconds(),
		P50ms: p50, P99ms: p99}, nil
}

func percentiles(lat []time.Duration) (p50, p99 float64) {
	s := append([]time.Duration(nil), lat...)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0
	}
	at := func(q float64) float64 {
		i := int(q * float64(len(s)-1))
		return float64(s[i].Microseconds()) / 1000
	}
	return at(0.5), at(0.99)
}

// WriteTable prints the results as an aligned table.
func WriteTable(w io.Writer, ups []UploadResult, res []SearchResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	if len(ups) > 0 {
		fmt.Fprintln(tw, "protocol\tpoints\tupload s\tindexed (green) s\tpoints/s\t")
		for _, u := range ups {
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.0f\t\n", u.Protocol, u.Points, u.UploadSeconds, u.IndexedSeconds, u.PointsPerSec)
		}
		fmt.Fprintln(tw, "\t\t\t\t\t")
	}
	fmt.Fprintln(tw, "protocol\tef\tthreads\tqueries\trecall@10\tQPS\tp50 ms\tp99 ms\t")
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.4f\t%.0f\t%.2f\t%.2f\t\n", r.Protocol, r.EF, r.Threads, r.Queries, r.Recall, r.QPS, r.P50ms, r.P99ms)
	}
	tw.Flush()
}

// WriteJSON prints one JSON object per line.
func WriteJSON(w io.Writer, ups []UploadResult, res []SearchResult) {
	enc := json.NewEncoder(w)
	for _, u := range ups {
		enc.Encode(map[string]any{"upload": u})
	}
	for _, r := range res {
		enc.Encode(r)
	}
}
