package grpcapi

import (
	"context"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-db/shoal/internal/snapshot"
)

// SnapshotsService serves Qdrant's gRPC Snapshots service over a
// snapshot.Manager; plug it in through Options.Snapshots. Access is checked
// by the manager from the auth.Access the interceptors put in the context.
type SnapshotsService struct {
	qdrant.UnimplementedSnapshotsServer
	m *snapshot.Manager
}

// NewSnapshotsService returns the Snapshots service over m.
func NewSnapshotsService(m *snapshot.Manager) *SnapshotsService { return &SnapshotsService{m: m} }

func snapshotDescription(d snapshot.Description) *qdrant.SnapshotDescription {
	out := &qdrant.SnapshotDescription{Name: d.Name, Size: d.Size}
	if t, ok := d.Time(); ok {
		out.CreationTime = timestamppb.New(t)
	}
	if d.Checksum != "" {
		sum := d.Checksum
		out.Checksum = &sum
	}
	return out
}

func snapshotList(ds []snapshot.Description, start time.Time) *qdrant.ListSnapshotsResponse {
	out := &qdrant.ListSnapshotsResponse{SnapshotDescriptions: make([]*qdrant.SnapshotDescription, 0, len(ds))}
	for _, d := range ds {
		out.SnapshotDescriptions = append(out.SnapshotDescriptions, snapshotDescription(d))
	}
	out.Time = time.Since(start).Seconds()
	return out
}

// Create snapshots a collection.
func (s *SnapshotsService) Create(ctx context.Context, req *qdrant.CreateSnapshotRequest) (*qdrant.CreateSnapshotResponse, error) {
	start := time.Now()
	d, err := s.m.CreateCollectionSnapshot(ctx, req.GetCollectionName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.CreateSnapshotResponse{SnapshotDescription: snapshotDescription(d), Time: time.Since(start).Seconds()}, nil
}

// List lists a collection's snapshots.
func (s *SnapshotsService) List(ctx context.Context, req *qdrant.ListSnapshotsRequest) (*qdrant.ListSnapshotsResponse, error) {
	start := time.Now()
	ds, err := s.m.ListCollectionSnapshots(ctx, req.GetCollectionName())
	if err != nil {
		return nil, toStatus(err)
	}
	return snapshotList(ds, start), nil
}

// Delete deletes a collection snapshot.
func (s *SnapshotsService) Delete(ctx context.Context, req *qdrant.DeleteSnapshotRequest) (*qdrant.DeleteSnapshotResponse, error) {
	start := time.Now()
	if err := s.m.DeleteCollectionSnapshot(ctx, req.GetCollectionName(), req.GetSnapshotName()); err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.DeleteSnapshotResponse{Time: time.Since(start).Seconds()}, nil
}

// CreateFull creates a full-storage snapshot.
func (s *SnapshotsService) CreateFull(ctx context.Context, _ *qdrant.CreateFullSnapshotRequest) (*qdrant.CreateSnapshotResponse, error) {
	start := time.Now()
	d, err := s.m.CreateFullSnapshot(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.CreateSnapshotResponse{SnapshotDescription: snapshotDescription(d), Time: time.Since(start).Seconds()}, nil
}

// ListFull lists the full-storage snapshots.
func (s *SnapshotsService) ListFull(ctx context.Context, _ *qdrant.ListFullSnapshotsRequest) (*qdrant.ListSnapshotsResponse, error) {
	start := time.Now()
	ds, err := s.m.ListFullSnapshots(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return snapshotList(ds, start), nil
}

// DeleteFull deletes a full-storage snapshot.
func (s *SnapshotsService) DeleteFull(ctx context.Context, req *qdrant.DeleteFullSnapshotRequest) (*qdrant.DeleteSnapshotResponse, error) {
	start := time.Now()
	if err := s.m.DeleteFullSnapshot(ctx, req.GetSnapshotName()); err != nil {
		return nil, toStatus(err)
	}
	return &qdrant.DeleteSnapshotResponse{Time: time.Since(start).Seconds()}, nil
}
