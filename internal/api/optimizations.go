package api

import (
	"encoding/json"
	"time"
)

// OptimizationsResponse is the result of GET
// /collections/{name}/optimizations: the collection's background index
// work. Shoal has no segments; each (shard, vector name) pair, whose
// background indexer inserts vectors into that shard's graph of that name,
// is reported as one segment.
type OptimizationsResponse struct {
	Summary OptimizationsSummary `json:"summary"`
	Running []Optimization       `json:"running"`
	// Queued, Completed and IdleSegments are set (non-nil) only when asked
	// for (?with=queued,completed,idle_segments).
	Queued       []PendingOptimization     `json:"queued,omitempty"`
	Completed    []Optimization            `json:"completed,omitempty"`
	IdleSegments []OptimizationSegmentInfo `json:"idle_segments,omitempty"`
}

// MarshalJSON writes the optional parts when they were asked for (set,
// even if empty) and leaves them out otherwise.
func (r OptimizationsResponse) MarshalJSON() ([]byte, error) {
	type wire struct {
		Summary      OptimizationsSummary       `json:"summary"`
		Running      []Optimization             `json:"running"`
		Queued       *[]PendingOptimization     `json:"queued,omitempty"`
		Completed    *[]Optimization            `json:"completed,omitempty"`
		IdleSegments *[]OptimizationSegmentInfo `json:"idle_segments,omitempty"`
	}
	w := wire{Summary: r.Summary, Running: r.Running}
	if w.Running == nil {
		w.Running = []Optimization{}
	}
	if r.Queued != nil {
		w.Queued = &r.Queued
	}
	if r.Completed != nil {
		w.Completed = &r.Completed
	}
	if r.IdleSegments != nil {
		w.IdleSegments = &r.IdleSegments
	}
	return json.Marshal(w)
}

// OptimizationsSummary counts the queued and idle work.
type OptimizationsSummary struct {
	QueuedOptimizations int    `json:"queued_optimizations"`
	QueuedSegments      int    `json:"queued_segments"`
	QueuedPoints        uint64 `json:"queued_points"`
	IdleSegments        int    `json:"idle_segments"`
}

// Optimization is one running or completed optimization.
type Optimization struct {
	UUID      string                    `json:"uuid"`
	Optimizer string                    `json:"optimizer"`
	Status    string                    `json:"status"` // "optimizing" or "done"
	Segments  []OptimizationSegmentInfo `json:"segments"`
	Progress  ProgressTree              `json:"progress"`
}

// OptimizationSegmentInfo names a segment and its point count.
type OptimizationSegmentInfo struct {
	UUID        string `json:"uuid"`
	PointsCount uint64 `json:"points_count"`
}

// PendingOptimization is one optimization waiting to run.
type PendingOptimization struct {
	Optimizer string                    `json:"optimizer"`
	Segments  []OptimizationSegmentInfo `json:"segments"`
}

// ProgressTree is an optimization's progress.
type ProgressTree struct {
	Name        string         `json:"name"`
	StartedAt   *time.Time     `json:"started_at,omitempty"`
	FinishedAt  *time.Time     `json:"finished_at,omitempty"`
	DurationSec *float64       `json:"duration_sec,omitempty"`
	Done        *uint64        `json:"done,omitempty"`
	Total       *uint64        `json:"total,omitempty"`
	Children    []ProgressTree `json:"children,omitempty"`
}

// OptimizationsRequest selects the optional parts of the report.
type OptimizationsRequest struct {
	WithQueued, WithCompleted, WithIdleSegments bool
	// CompletedLimit bounds Completed (Qdrant's default: 16).
	CompletedLimit int
}
