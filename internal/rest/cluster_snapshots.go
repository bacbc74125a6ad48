package rest

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// ClusterSnapshotManager is what the cluster snapshot routes call (Shoal's
// own, Qdrant has none): *snapshot.Manager implements it. A SnapshotManager
// that does not makes those routes answer 501.
type ClusterSnapshotManager interface {
	CreateClusterSnapshot(ctx context.Context, labels map[string]string) (snapshot.ClusterSnapshot, error)
	ListClusterSnapshots(ctx context.Context) ([]snapshot.ClusterSnapshot, error)
	DescribeClusterSnapshot(ctx context.Context, name string) (snapshot.ClusterSnapshot, *snapshot.Manifest, error)
	DeleteClusterSnapshot(ctx context.Context, name string) error
	OpenClusterSnapshot(ctx context.Context, name string) (io.ReadCloser, snapshot.Description, error)
	CheckRecoverCluster(ctx context.Context, opts snapshot.ClusterRecoverOptions) error
	RecoverClusterFromLocation(ctx context.Context, location, apiKey string, opts snapshot.ClusterRecoverOptions) (*snapshot.Manifest, error)
	RecoverCluster(ctx context.Context, r io.Reader, opts snapshot.ClusterRecoverOptions) (*snapshot.Manifest, error)
	RecoverLostShard(ctx context.Context, collection string, shardID int) (*snapshot.LostShardReport, error)
}

var _ ClusterSnapshotManager = (*snapshot.Manager)(nil)

// clusterSnapshotPatterns are the routes of cluster snapshots.
func clusterSnapshotPatterns() []string {
	return []string{
		"POST /cluster/snapshots",
		"GET /cluster/snapshots",
		"GET /cluster/snapshots/{snapshot_name}",
		"GET /cluster/snapshots/{snapshot_name}/manifest",
		"DELETE /cluster/snapshots/{snapshot_name}",
		"POST /cluster/snapshots/recover",
		"POST /cluster/snapshots/upload",
		"POST /cluster/snapshots/recover-lost-shard",
	}
}

// createClusterSnapshot is the body of POST /cluster/snapshots (optional).
type createClusterSnapshot struct {
	Labels map[string]string `json:"labels"`
}

// recoverClusterSnapshot is the body of POST /cluster/snapshots/recover.
type recoverClusterSnapshot struct {
	Location   string  `json:"location"`
	Checksum   *string `json:"checksum"`
	APIKey     *string `json:"api_key"`
	Collection *string `json:"collection"`
	As         *string `json:"as"`
}

// recoverLostShard is the body of POST
// /cluster/snapshots/recover-lost-shard.
type recoverLostShard struct {
	Collection string `json:"collection"`
	ShardID    *int   `json:"shard_id"`
}

// recoveredCluster answers a restore: what the snapshot held and what was
// restored.
type recoveredCluster struct {
	Restored  []string `json:"restored"`
	ClusterID string   `json:"cluster_id,omitempty"`
	Points    uint64   `json:"points"`
}

// clusterSnapshotRoutes registers the cluster snapshot routes.
func (h *Handler) clusterSnapshotRoutes() {
	m, ok := h.snapshots.(ClusterSnapshotManager)
	if !ok {
		for _, p := range clusterSnapshotPatterns() {
			h.raw(p, routeSnapshot, snapshotsUnavailable)
		}
		return
	}
	h.snap("GET /cluster/snapshots", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return m.ListClusterSnapshots(r.Context())
	})
	h.snap("POST /cluster/snapshots", func(w http.ResponseWriter, r *http.Request) (any, error) {
		wait, err := snapshotWait(r)
		if err != nil {
			return nil, err
		}
		b, err := readBody(w, r, h.maxBody)
		if err != nil {
			return nil, err
		}
		var req createClusterSnapshot
		if len(bytes.TrimSpace(b)) > 0 {
			if err := decodeJSON(b, &req); err != nil {
				return nil, err
			}
		}
		if err := snapshot.CheckLabels(req.Labels); err != nil {
			return nil, err
		}
		if !wait {
			h.goBackground(r, func(ctx context.Context) error {
				_, err := m.CreateClusterSnapshot(ctx, req.Labels)
				return err
			})
			return accepted{}, nil
		}
		return m.CreateClusterSnapshot(r.Context(), req.Labels)
	})
	h.snap("DELETE /cluster/snapshots/{snapshot_name}", h.background(func(ctx context.Context, _ string, _ int, name string) (any, error) {
		return true, m.DeleteClusterSnapshot(ctx, name)
	}))
	h.raw("GET /cluster/snapshots/{snapshot_name}", routeSnapshot, h.download(func(ctx context.Context, _ string, _ int, name string) (io.ReadCloser, snapshot.Description, error) {
		return m.OpenClusterSnapshot(ctx, name)
	}))
	h.snap("GET /cluster/snapshots/{snapshot_name}/manifest", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		d, man, err := m.DescribeClusterSnapshot(r.Context(), r.PathValue(pSnapshot))
		if err != nil {
			return nil, err
		}
		return struct {
			Snapshot snapshot.ClusterSnapshot `json:"snapshot"`
			Manifest *snapshot.Manifest       `json:"manifest"`
		}{d, man}, nil
	})
	h.snap("POST /cluster/snapshots/recover-lost-shard", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req recoverLostShard
		if err := h.body(w, r, &req); err != nil {
			return nil, err
		}
		if req.Collection == "" || req.ShardID == nil {
			return nil, &api.Error{Kind: api.KindBadInput, Message: "Format error in JSON body: `collection` and `shard_id` are required"}
		}
		return m.RecoverLostShard(r.Context(), req.Collection, *req.ShardID)
	})
	h.snap("POST /cluster/snapshots/recover", func(w http.ResponseWriter, r *http.Request) (any, error) {
		wait, err := snapshotWait(r)
		if err != nil {
			return nil, err
		}
		var req recoverClusterSnapshot
		if err := h.body(w, r, &req); err != nil {
			return nil, err
		}
		if req.Location == "" {
			return nil, &api.Error{Kind: api.KindBadInput, Message: "Format error in JSON body: missing field `location`"}
		}
		var opts snapshot.ClusterRecoverOptions
		apiKey := ""
		for dst, src := range map[*string]*string{&opts.Checksum: req.Checksum, &apiKey: req.APIKey, &opts.Collection: req.Collection, &opts.As: req.As} {
			if src != nil {
				*dst = *src
			}
		}
		if err := m.CheckRecoverCluster(r.Context(), opts); err != nil {
			return nil, err
		}
		run := func(ctx context.Context) (*snapshot.Manifest, error) {
			return m.RecoverClusterFromLocation(ctx, req.Location, apiKey, opts)
		}
		if !wait {
			h.goBackground(r, func(ctx context.Context) error {
				_, err := run(ctx)
				return err
			})
			return accepted{}, nil
		}
		man, err := run(r.Context())
		if err != nil {
			return nil, err
		}
		return restored(man, opts), nil
	})
	// An upload always waits: the body is readable only during the
	// request.
	h.snap("POST /cluster/snapshots/upload", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		if _, err := snapshotWait(r); err != nil {
			return nil, err
		}
		q := r.URL.Query()
		opts := snapshot.ClusterRecoverOptions{Checksum: q.Get("checksum"), Collection: q.Get("collection"), As: q.Get("as")}
		if err := m.CheckRecoverCluster(r.Context(), opts); err != nil {
			return nil, err
		}
		part, err := snapshotPart(r)
		if err != nil {
			return nil, err
		}
		defer part.Close()
		man, err := m.RecoverCluster(r.Context(), part, opts)
		if err != nil {
			return nil, err
		}
		return restored(man, opts), nil
	})
}

// restored is the answer to a cluster restore.
func restored(man *snapshot.Manifest, opts snapshot.ClusterRecoverOptions) recoveredCluster {
	out := recoveredCluster{Restored: []string{}, ClusterID: man.ClusterID}
	for _, c := range man.ClusterCollections {
		if opts.Collection == "" || c.Name == opts.Collection {
			name := c.Name
			if opts.As != "" {
				name = opts.As
			}
			out.Restored = append(out.Restored, name)
			for _, s := range c.Shards {
				out.Points += s.Points
			}
		}
	}
	return out
}
