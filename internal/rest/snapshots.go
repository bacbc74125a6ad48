package rest

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// SnapshotManager is what the snapshot routes call: *snapshot.Manager
// implements it. Every method checks the caller's access (auth.Access in
// the context) itself; this adapter routes, decodes, and encodes with the
// same envelope and error table as every other route.
type SnapshotManager interface {
	ListCollectionSnapshots(ctx context.Context, collection string) ([]snapshot.Description, error)
	ListShardSnapshots(ctx context.Context, collection string, shardID int) ([]snapshot.Description, error)
	ListFullSnapshots(ctx context.Context) ([]snapshot.Description, error)
	CreateCollectionSnapshot(ctx context.Context, collection string) (snapshot.Description, error)
	CreateShardSnapshot(ctx context.Context, collection string, shardID int) (snapshot.Description, error)
	CreateFullSnapshot(ctx context.Context) (snapshot.Description, error)
	DeleteCollectionSnapshot(ctx context.Context, collection, name string) error
	DeleteShardSnapshot(ctx context.Context, collection string, shardID int, name string) error
	DeleteFullSnapshot(ctx context.Context, name string) error
	OpenCollectionSnapshot(ctx context.Context, collection, name string) (io.ReadCloser, snapshot.Description, error)
	OpenShardSnapshot(ctx context.Context, collection string, shardID int, name string) (io.ReadCloser, snapshot.Description, error)
	OpenFullSnapshot(ctx context.Context, name string) (io.ReadCloser, snapshot.Description, error)
	StreamShardSnapshot(ctx context.Context, collection string, shardID int) (io.ReadCloser, snapshot.Description, error)
	CheckRecover(ctx context.Context, collection string, shardID int, opts snapshot.RecoverOptions) error
	RecoverFromLocation(ctx context.Context, collection string, shardID int, location, apiKey string, opts snapshot.RecoverOptions) (*snapshot.Manifest, error)
	RecoverCollection(ctx context.Context, collection string, r io.Reader, opts snapshot.RecoverOptions) (*snapshot.Manifest, error)
	RecoverShard(ctx context.Context, collection string, shardID int, r io.Reader, opts snapshot.RecoverOptions) (*snapshot.Manifest, error)
}

var _ SnapshotManager = (*snapshot.Manager)(nil)

// Path parameters of the snapshot routes.
const (
	pShard    = "shard_id"
	pSnapshot = "snapshot_name"
)

// accepted is the result of an operation started in the background
// (wait=false): 202 {"status":"accepted","time":…}, as Qdrant answers.
type accepted struct{}

// snapshotRoutes registers Qdrant's snapshot API. Without a manager every
// route answers 501.
func (h *Handler) snapshotRoutes() {
	const c = "/collections/{collection_name}"
	const s = c + "/shards/{shard_id}"
	if h.snapshots == nil {
		for _, p := range SnapshotPatterns() {
			h.raw(p, routeSnapshot, snapshotsUnavailable)
		}
		return
	}
	m := h.snapshots
	list := func(f func(ctx context.Context, coll string, shard int) ([]snapshot.Description, error)) apiFunc {
		return func(_ http.ResponseWriter, r *http.Request) (any, error) {
			coll, shard, err := snapshotTarget(r)
			if err != nil {
				return nil, err
			}
			ds, err := f(r.Context(), coll, shard)
			if ds == nil {
				ds = []snapshot.Description{}
			}
			return ds, err
		}
	}
	h.snap("GET "+c+"/snapshots", list(func(ctx context.Context, coll string, _ int) ([]snapshot.Description, error) {
		return m.ListCollectionSnapshots(ctx, coll)
	}))
	h.snap("GET "+s+"/snapshots", list(m.ListShardSnapshots))
	h.snap("GET /snapshots", list(func(ctx context.Context, _ string, _ int) ([]snapshot.Description, error) {
		return m.ListFullSnapshots(ctx)
	}))

	// Create and delete run now (wait, the default) or in the background.
	h.snap("POST "+c+"/snapshots", h.background(func(ctx context.Context, coll string, _ int, _ string) (any, error) {
		return m.CreateCollectionSnapshot(ctx, coll)
	}))
	h.snap("POST "+s+"/snapshots", h.background(func(ctx context.Context, coll string, shard int, _ string) (any, error) {
		return m.CreateShardSnapshot(ctx, coll, shard)
	}))
	h.snap("POST /snapshots", h.background(func(ctx context.Context, _ string, _ int, _ string) (any, error) {
		return m.CreateFullSnapshot(ctx)
	}))
	h.snap("DELETE "+c+"/snapshots/{snapshot_name}", h.background(func(ctx context.Context, coll string, _ int, name string) (any, error) {
		return true, m.DeleteCollectionSnapshot(ctx, coll, name)
	}))
	h.snap("DELETE "+s+"/snapshots/{snapshot_name}", h.background(func(ctx context.Context, coll string, shard int, name string) (any, error) {
		return true, m.DeleteShardSnapshot(ctx, coll, shard, name)
	}))
	h.snap("DELETE /snapshots/{snapshot_name}", h.background(func(ctx context.Context, _ string, _ int, name string) (any, error) {
		return true, m.DeleteFullSnapshot(ctx, name)
	}))

	// Downloads stream the archive.
	h.raw("GET "+c+"/snapshots/{snapshot_name}", routeSnapshot, h.download(func(ctx context.Context, coll string, _ int, name string) (io.ReadCloser, snapshot.Description, error) {
		return m.OpenCollectionSnapshot(ctx, coll, name)
	}))
	h.raw("GET "+s+"/snapshots/{snapshot_name}", routeSnapshot, h.download(m.OpenShardSnapshot))
	h.raw("GET /snapshots/{snapshot_name}", routeSnapshot, h.download(func(ctx context.Context, _ string, _ int, name string) (io.ReadCloser, snapshot.Description, error) {
		return m.OpenFullSnapshot(ctx, name)
	}))
	h.raw("GET "+s+"/snapshot", routeSnapshot, h.download(func(ctx context.Context, coll string, shard int, _ string) (io.ReadCloser, snapshot.Description, error) {
		return m.StreamShardSnapshot(ctx, coll, shard)
	}))

	// Recovery from a location or an upload.
	h.snap("PUT "+c+"/snapshots/recover", h.recoverSnapshot)
	h.snap("PUT "+s+"/snapshots/recover", h.recoverSnapshot)
	h.snap("POST "+c+"/snapshots/upload", h.uploadSnapshot)
	h.snap("POST "+s+"/snapshots/upload", h.uploadSnapshot)
	h.clusterSnapshotRoutes()
}

// snap registers an authenticated JSON snapshot route. Snapshot routes take
// no timeout parameter (Qdrant's have none) and their bodies are not
// limited by MaxRequestBytes (uploads).
func (h *Handler) snap(pattern string, fn apiFunc) {
	h.patterns = append(h.patterns, pattern)
	h.mux.Handle(pattern, h.wrap(pattern, routeSnapshot, h.serveAPI(fn)))
}

// snapshotTarget returns the collection and shard (-1 for none) a snapshot
// route addresses.
func snapshotTarget(r *http.Request) (coll string, shard int, err error) {
	shard = -1
	if v := r.PathValue(pShard); v != "" {
		n, perr := strconv.ParseUint(v, 10, 31)
		if perr != nil {
			return "", 0, api.ErrBadInput("invalid shard id %q: expected a non-negative integer", v)
		}
		shard = int(n)
	}
	return r.PathValue(pColl), shard, nil
}

// snapshotWait reads the wait parameter of the snapshot routes, which
// (unlike the points routes) wait unless told not to, as in Qdrant.
func snapshotWait(r *http.Request) (bool, error) {
	if r.URL.Query().Get("wait") == "" {
		return true, nil
	}
	return parseWait(r)
}

// background adapts op: with wait it runs now and answers its result;
// with wait=false it runs in the background, keeping the caller's access
// but not its cancellation, and the answer is 202 accepted.
func (h *Handler) background(op func(ctx context.Context, coll string, shard int, name string) (any, error)) apiFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		coll, shard, err := snapshotTarget(r)
		if err != nil {
			return nil, err
		}
		wait, err := snapshotWait(r)
		if err != nil {
			return nil, err
		}
		name := r.PathValue(pSnapshot)
		if wait {
			return op(r.Context(), coll, shard, name)
		}
		h.goBackground(r, func(ctx context.Context) error {
			_, err := op(ctx, coll, shard, name)
			return err
		})
		return accepted{}, nil
	}
}

// goBackground runs op after the answer, logging its failure.
func (h *Handler) goBackground(r *http.Request, op func(ctx context.Context) error) {
	ctx := context.WithoutCancel(r.Context())
	route := r.Pattern
	go func() {
		if err := op(ctx); err != nil {
			h.log.Error("background snapshot operation failed", "route", route, "err", err)
		}
	}()
}

// download streams the archive open returns, with its size, name and
// checksum in the headers.
func (h *Handler) download(open func(ctx context.Context, coll string, shard int, name string) (io.ReadCloser, snapshot.Description, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := requestStart(r)
		coll, shard, err := snapshotTarget(r)
		if err != nil {
			writeError(w, start, err)
			return
		}
		rc, d, err := open(r.Context(), coll, shard, r.PathValue(pSnapshot))
		if err != nil {
			h.logFailure(r, writeError(w, start, err), err)
			return
		}
		defer rc.Close()
		hd := w.Header()
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Content-Length", strconv.FormatInt(d.Size, 10))
		hd.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", d.Name))
		if d.Checksum != "" {
			hd.Set("X-Snapshot-Checksum", d.Checksum)
		}
		w.WriteHeader(http.StatusOK)
		if _, err := io.CopyBuffer(w, rc, make([]byte, 1<<20)); err != nil {
			h.log.Warn("snapshot download interrupted", "snapshot", d.Name, "err", err)
		}
	}
}

// logFailure logs a server-side failure of a route that writes its own
// answer (the envelope routes are logged by wrap).
func (h *Handler) logFailure(r *http.Request, status int, err error) {
	if status >= 500 {
		h.log.Error("snapshot request failed", "route", r.Pattern, "err", err)
	}
}

// snapshotRecover is Qdrant's SnapshotRecover and ShardSnapshotRecover
// body.
type snapshotRecover struct {
	Location string  `json:"location"`
	Priority *string `json:"priority"`
	Checksum *string `json:"checksum"`
	APIKey   *string `json:"api_key"`
}

// recoverSnapshot serves PUT …/snapshots/recover: the body names the
// archive's location. Access and options are checked before the answer,
// also when the recovery runs in the background.
func (h *Handler) recoverSnapshot(w http.ResponseWriter, r *http.Request) (any, error) {
	coll, shard, err := snapshotTarget(r)
	if err != nil {
		return nil, err
	}
	wait, err := snapshotWait(r)
	if err != nil {
		return nil, err
	}
	var req snapshotRecover
	if err := h.body(w, r, &req); err != nil {
		return nil, err
	}
	if req.Location == "" {
		return nil, &api.Error{Kind: api.KindBadInput, Message: "Format error in JSON body: missing field `location`"}
	}
	var opts snapshot.RecoverOptions
	if req.Priority != nil {
		opts.Priority = *req.Priority
	}
	if req.Checksum != nil {
		opts.Checksum = *req.Checksum
	}
	apiKey := ""
	if req.APIKey != nil {
		apiKey = *req.APIKey
	}
	if err := h.snapshots.CheckRecover(r.Context(), coll, shard, opts); err != nil {
		return nil, err
	}
	run := func(ctx context.Context) error {
		_, err := h.snapshots.RecoverFromLocation(ctx, coll, shard, req.Location, apiKey, opts)
		return err
	}
	if !wait {
		h.goBackground(r, run)
		return accepted{}, nil
	}
	if err := run(r.Context()); err != nil {
		return nil, err
	}
	return true, nil
}

// uploadSnapshot serves POST …/snapshots/upload: a multipart body whose
// "snapshot" part is streamed straight into the verifying extractor. It
// always waits (wait=false too): the body is readable only during the
// request, so the answer comes once the recovery is done.
func (h *Handler) uploadSnapshot(_ http.ResponseWriter, r *http.Request) (any, error) {
	coll, shard, err := snapshotTarget(r)
	if err != nil {
		return nil, err
	}
	if _, err := snapshotWait(r); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	opts := snapshot.RecoverOptions{Priority: q.Get("priority"), Checksum: q.Get("checksum")}
	if err := h.snapshots.CheckRecover(r.Context(), coll, shard, opts); err != nil {
		return nil, err
	}
	part, err := snapshotPart(r)
	if err != nil {
		return nil, err
	}
	defer part.Close()
	if shard >= 0 {
		_, err = h.snapshots.RecoverShard(r.Context(), coll, shard, part, opts)
	} else {
		_, err = h.snapshots.RecoverCollection(r.Context(), coll, part, opts)
	}
	if err != nil {
		return nil, err
	}
	return true, nil
}

// snapshotPart returns the "snapshot" part of an upload's multipart body.
func snapshotPart(r *http.Request) (*multipart.Part, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return nil, api.ErrBadRequest("expected a multipart/form-data body with a `snapshot` file")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, api.ErrBadRequest("invalid multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, api.ErrBadRequest("multipart body has no `snapshot` file")
		}
		if err != nil {
			return nil, api.ErrBadRequest("invalid multipart body: %v", err)
		}
		if part.FormName() == "snapshot" {
			return part, nil
		}
		part.Close()
	}
}

// SnapshotPatterns returns the route patterns of Qdrant's snapshot API
// and of Shoal's cluster snapshots.
func SnapshotPatterns() []string {
	const c = "/collections/{collection_name}"
	const s = c + "/shards/{shard_id}"
	return append(clusterSnapshotPatterns(),
		"POST "+c+"/snapshots/upload",
		"PUT "+c+"/snapshots/recover",
		"GET "+c+"/snapshots",
		"POST "+c+"/snapshots",
		"DELETE "+c+"/snapshots/{snapshot_name}",
		"GET "+c+"/snapshots/{snapshot_name}",
		"GET /snapshots",
		"POST /snapshots",
		"DELETE /snapshots/{snapshot_name}",
		"GET /snapshots/{snapshot_name}",
		"GET "+s+"/snapshot",
		"POST "+s+"/snapshots/upload",
		"PUT "+s+"/snapshots/recover",
		"GET "+s+"/snapshots",
		"POST "+s+"/snapshots",
		"DELETE "+s+"/snapshots/{snapshot_name}",
		"GET "+s+"/snapshots/{snapshot_name}",
	)
}

func snapshotsUnavailable(w http.ResponseWriter, r *http.Request) {
	writeErrorStatus(w, requestStart(r), http.StatusNotImplemented, "Snapshots are not available on this server")
}
