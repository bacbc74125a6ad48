package collection

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// optimizationsNS is the namespace of the name-based UUIDs that identify
// the reported segments and runs (stable across calls).
var optimizationsNS = uuid.MustParse("6f0d1a5e-3c1b-4d8e-9a53-2b7c4e1f9d20")

// Optimizations reports the collection's background index work in the
// shape of Qdrant's optimizations report: each (shard, vector name) pair is
// a segment; a busy background indexer is a running optimization
// ("indexing" while it inserts vectors into the graph, "vacuum" while it
// only deletes retired nodes), whose progress counts the vectors handled
// of those queued; the vectors still waiting are the queued points.
func (c *Collection) Optimizations(ctx context.Context, req api.OptimizationsRequest) (*api.OptimizationsResponse, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	out := &api.OptimizationsResponse{Running: []api.Optimization{}}
	var completed []api.Optimization
	// The background work of this node's replicas (another peer reports
	// its own).
	for si, s := range c.locals() {
		if s == nil {
			continue
		}
		for _, ix := range s.Indexers() {
			seg := api.OptimizationSegmentInfo{UUID: c.segmentUUID(si, ix.Vector), PointsCount: ix.Points}
			if ix.Pending > 0 {
				out.Summary.QueuedOptimizations++
				out.Summary.QueuedSegments++
				out.Summary.QueuedPoints += uint64(ix.Pending)
				if req.WithQueued {
					out.Queued = append(out.Queued, api.PendingOptimization{Optimizer: "indexing",
						Segments: []api.OptimizationSegmentInfo{{UUID: seg.UUID, PointsCount: uint64(ix.Pending)}}})
				}
			}
			if ix.Running != nil {
				out.Running = append(out.Running, c.optimization(si, ix.Vector, seg, *ix.Running))
			} else {
				out.Summary.IdleSegments++
				if req.WithIdleSegments {
					out.IdleSegments = append(out.IdleSegments, seg)
				}
			}
			if req.WithCompleted {
				for _, r := range ix.Completed {
					completed = append(completed, c.optimization(si, ix.Vector, seg, r))
				}
			}
		}
	}
	if req.WithQueued && out.Queued == nil {
		out.Queued = []api.PendingOptimization{}
	}
	if req.WithIdleSegments && out.IdleSegments == nil {
		out.IdleSegments = []api.OptimizationSegmentInfo{}
	}
	if req.WithCompleted {
		// Most recent first, as many as asked for.
		sort.SliceStable(completed, func(i, j int) bool {
			return completed[i].Progress.FinishedAt.After(*completed[j].Progress.FinishedAt)
		})
		limit := req.CompletedLimit
		if limit < 0 {
			limit = 0
		}
		out.Completed = append([]api.Optimization{}, completed[:min(limit, len(completed))]...)
	}
	return out, nil
}

func (c *Collection) segmentUUID(si int, vector string) string {
	return uuid.NewSHA1(optimizationsNS, fmt.Appendf(nil, "%s/%d/%s", c.dir, si, vector)).String()
}

// optimization renders one indexer run.
func (c *Collection) optimization(si int, vector string, seg api.OptimizationSegmentInfo, r shard.IndexerRun) api.Optimization {
	id := uuid.NewSHA1(optimizationsNS, fmt.Appendf(nil, "%s/%d/%s/%d", c.dir, si, vector, r.Started.UnixNano())).String()
	started := r.Started.UTC()
	done, total := r.Done, r.Total
	o := api.Optimization{UUID: id, Optimizer: r.Optimizer, Status: "optimizing",
		Segments: []api.OptimizationSegmentInfo{seg},
		Progress: api.ProgressTree{Name: r.Optimizer, StartedAt: &started, Done: &done, Total: &total}}
	if !r.Finished.IsZero() {
		finished := r.Finished.UTC()
		d := r.Finished.Sub(r.Started).Seconds()
		o.Status = "done"
		o.Progress.FinishedAt, o.Progress.DurationSec = &finished, &d
	}
	return o
}
