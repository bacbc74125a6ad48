package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
)

// HandlerOptions configure the REST handler of the snapshot API.
type HandlerOptions struct {
	// Manager does the work.
	Manager *Manager
	// StatusOf maps an error to its HTTP status (the REST adapter's table,
	// rest.StatusOf); nil uses a minimal built-in mapping.
	StatusOf func(error) int
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// MaxRecoverBody bounds JSON recover bodies (default 1 MiB).
	MaxRecoverBody int64
}

// Handler serves Qdrant's snapshot REST API. The REST adapter mounts it
// through rest.Options.Snapshots: requests arrive authenticated (auth.Access
// in the context) with r.Pattern naming the route and path values
// collection_name, shard_id and snapshot_name.
type Handler struct {
	opts HandlerOptions
	m    *Manager
	log  *slog.Logger
}

// NewHandler returns the handler.
func NewHandler(opts HandlerOptions) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxRecoverBody <= 0 {
		opts.MaxRecoverBody = 1 << 20
	}
	if opts.StatusOf == nil {
		opts.StatusOf = defaultStatusOf
	}
	return &Handler{opts: opts, m: opts.Manager, log: opts.Logger}
}

func defaultStatusOf(err error) int {
	switch api.KindOf(err) {
	case api.KindBadInput, api.KindBadRequest, api.KindChecksumMismatch:
		return http.StatusBadRequest
	case api.KindNotFound:
		return http.StatusNotFound
	case api.KindForbidden:
		return http.StatusForbidden
	case api.KindUnauthorized:
		return http.StatusUnauthorized
	case api.KindTimeout:
		return http.StatusRequestTimeout
	}
	return http.StatusInternalServerError
}

// ServeHTTP dispatches on r.Pattern (see rest.SnapshotPatterns).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	coll := r.PathValue("collection_name")
	snap := r.PathValue("snapshot_name")
	shardID := -1
	if s := r.PathValue("shard_id"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			h.fail(w, start, api.ErrBadInput("invalid shard id %q", s))
			return
		}
		shardID = n
	}
	wait := true
	if v := r.URL.Query().Get("wait"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			h.fail(w, start, api.ErrBadInput("invalid wait parameter %q", v))
			return
		}
		wait = b
	}
	ctx := r.Context()
	pattern := r.Pattern
	// Strip the method for matching.
	route := pattern[strings.IndexByte(pattern, ' ')+1:]
	method := r.Method
	const c = "/collections/{collection_name}"
	const s = c + "/shards/{shard_id}"
	switch {
	case method == http.MethodGet && route == c+"/snapshots":
		ds, err := h.m.ListCollectionSnapshots(ctx, coll)
		h.answer(w, start, nonNil(ds), err)
	case method == http.MethodGet && route == s+"/snapshots":
		ds, err := h.m.ListShardSnapshots(ctx, coll, shardID)
		h.answer(w, start, nonNil(ds), err)
	case method == http.MethodGet && route == "/snapshots":
		ds, err := h.m.ListFullSnapshots(ctx)
		h.answer(w, start, nonNil(ds), err)

	case method == http.MethodPost && route == c+"/snapshots":
		h.create(w, r, start, wait, func(ctx context.Context) (any, error) { return h.m.CreateCollectionSnapshot(ctx, coll) })
	case method == http.MethodPost && route == s+"/snapshots":
		h.create(w, r, start, wait, func(ctx context.Context) (any, error) { return h.m.CreateShardSnapshot(ctx, coll, shardID) })
	case method == http.MethodPost && route == "/snapshots":
		h.create(w, r, start, wait, func(ctx context.Context) (any, error) { return h.m.CreateFullSnapshot(ctx) })

	case method == http.MethodDelete && route == c+"/snapshots/{snapshot_name}":
		h.create(w, r, start, wait, func(ctx context.Context) (any, error) { return true, h.m.DeleteCollectionSnapshot(ctx, coll, snap) })
	case method == http.MethodDelete && route == s+"/snapshots/{snapshot_name}":
		h.create(w, r, start, wait, func(ctx context.Context) (any, error) { return true, h.m.DeleteShardSnapshot(ctx, coll, shardID, snap) })
	case method == http.MethodDelete && route == "/snapshots/{snapshot_name}":
		h.create(w, r, start, wait, func(ctx context.Context) (any, error) { return true, h.m.DeleteFullSnapshot(ctx, snap) })

	case method == http.MethodGet && route == c+"/snapshots/{snapshot_name}":
		rc, d, err := h.m.OpenCollectionSnapshot(ctx, coll, snap)
		h.download(w, start, rc, d, err)
	case method == http.MethodGet && route == s+"/snapshots/{snapshot_name}":
		rc, d, err := h.m.OpenShardSnapshot(ctx, coll, shardID, snap)
		h.download(w, start, rc, d, err)
	case method == http.MethodGet && route == "/snapshots/{snapshot_name}":
		rc, d, err := h.m.OpenFullSnapshot(ctx, snap)
		h.download(w, start, rc, d, err)
	case method == http.MethodGet && route == s+"/snapshot":
		h.streamShard(w, r, start, coll, shardID)

	case method == http.MethodPut && route == c+"/snapshots/recover":
		h.recover(w, r, start, wait, coll, -1)
	case method == http.MethodPut && route == s+"/snapshots/recover":
		h.recover(w, r, start, wait, coll, shardID)
	case method == http.MethodPost && route == c+"/snapshots/upload":
		h.upload(w, r, start, wait, coll, -1)
	case method == http.MethodPost && route == s+"/snapshots/upload":
		h.upload(w, r, start, wait, coll, shardID)
	default:
		h.fail(w, start, api.ErrNotFound("no snapshot route for %s %s", r.Method, r.URL.Path))
	}
}

func nonNil(ds []Description) []Description {
	if ds == nil {
		return []Description{}
	}
	return ds
}

// create runs op now (wait) or in the background (answering 202 accepted,
// as Qdrant does for wait=false).
func (h *Handler) create(w http.ResponseWriter, r *http.Request, start time.Time, wait bool, op func(ctx context.Context) (any, error)) {
	if wait {
		res, err := op(r.Context())
		h.answer(w, start, res, err)
		return
	}
	// The background run keeps the caller's access but not its cancellation.
	ctx := context.WithoutCancel(r.Context())
	go func() {
		if _, err := op(ctx); err != nil {
			h.log.Error("background snapshot operation failed", "route", r.Pattern, "err", err)
		}
	}()
	h.write(w, start, http.StatusAccepted, "accepted", true)
}

// recoverRequest is Qdrant's SnapshotRecover body.
type recoverRequest struct {
	Location string  `json:"location"`
	Priority *string `json:"priority"`
	Checksum *string `json:"checksum"`
	APIKey   *string `json:"api_key"`
}

func (h *Handler) recover(w http.ResponseWriter, r *http.Request, start time.Time, wait bool, coll string, shardID int) {
	body, err := io.ReadAll(io.LimitReader(r.Body, h.opts.MaxRecoverBody+1))
	if err != nil {
		h.fail(w, start, api.ErrBadRequest("cannot read body: %v", err))
		return
	}
	if int64(len(body)) > h.opts.MaxRecoverBody {
		h.fail(w, start, api.ErrBadInput("recover request body too large"))
		return
	}
	var req recoverRequest
	if err := json.Unmarshal(body, &req); err != nil {
		h.fail(w, start, api.ErrBadRequest("Json deserialize error: %v", err))
		return
	}
	if req.Location == "" {
		h.fail(w, start, api.ErrBadInput("Json deserialize error: missing field `location`"))
		return
	}
	opts := RecoverOptions{}
	if req.Priority != nil {
		opts.Priority = *req.Priority
	}
	if req.Checksum != nil {
		opts.Checksum = *req.Checksum
	}
	if !ValidPriority(opts.Priority) {
		h.fail(w, start, api.ErrBadInput("unknown variant `%s`, expected one of `no_sync`, `snapshot`, `replica`", opts.Priority))
		return
	}
	// Access is checked before any download starts.
	if err := checkAccess(r.Context(), coll, auth.Manage); err != nil {
		h.fail(w, start, err)
		return
	}
	run := func(ctx context.Context) (any, error) {
		dir := CollectionDir(coll)
		if shardID >= 0 {
			dir = ShardStoreDir(coll, shardID)
		}
		key := ""
		if req.APIKey != nil {
			key = *req.APIKey
		}
		rc, err := h.m.OpenLocation(ctx, req.Location, dir, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		if shardID >= 0 {
			_, err = h.m.RecoverShard(ctx, coll, shardID, rc, opts)
		} else {
			_, err = h.m.RecoverCollection(ctx, coll, rc, opts)
		}
		return true, err
	}
	h.create(w, r, start, wait, run)
}

// upload recovers from a multipart upload (field "snapshot"), streaming the
// archive straight into the verifying extractor. It always waits: the body
// is only readable during the request.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, start time.Time, _ bool, coll string, shardID int) {
	opts := RecoverOptions{Priority: r.URL.Query().Get("priority"), Checksum: r.URL.Query().Get("checksum")}
	if !ValidPriority(opts.Priority) {
		h.fail(w, start, api.ErrBadInput("unknown variant `%s`, expected one of `no_sync`, `snapshot`, `replica`", opts.Priority))
		return
	}
	if err := checkAccess(r.Context(), coll, auth.Manage); err != nil {
		h.fail(w, start, err)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		h.fail(w, start, api.ErrBadRequest("expected a multipart/form-data body with a `snapshot` file"))
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		h.fail(w, start, api.ErrBadRequest("invalid multipart body: %v", err))
		return
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			h.fail(w, start, api.ErrBadRequest("multipart body has no `snapshot` file"))
			return
		}
		if err != nil {
			h.fail(w, start, api.ErrBadRequest("invalid multipart body: %v", err))
			return
		}
		if part.FormName() != "snapshot" {
			part.Close()
			continue
		}
		if shardID >= 0 {
			_, err = h.m.RecoverShard(r.Context(), coll, shardID, part, opts)
		} else {
			_, err = h.m.RecoverCollection(r.Context(), coll, part, opts)
		}
		part.Close()
		h.answer(w, start, true, err)
		return
	}
}

func (h *Handler) download(w http.ResponseWriter, start time.Time, rc io.ReadCloser, d Description, err error) {
	if err != nil {
		h.fail(w, start, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(d.Size, 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", d.Name))
	if d.Checksum != "" {
		w.Header().Set("X-Snapshot-Checksum", d.Checksum)
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.CopyBuffer(w, rc, make([]byte, copyBufSize)); err != nil {
		h.log.Warn("snapshot download interrupted", "snapshot", d.Name, "err", err)
	}
}

// streamShard answers GET …/shards/{id}/snapshot: a fresh shard snapshot
// streamed to the client without being stored.
func (h *Handler) streamShard(w http.ResponseWriter, r *http.Request, start time.Time, coll string, shardID int) {
	real, err := h.m.resolve(r.Context(), coll, auth.Manage)
	if err != nil {
		h.fail(w, start, err)
		return
	}
	a, err := h.m.createArchive(r.Context(), real, shardID)
	if err != nil {
		h.fail(w, start, err)
		return
	}
	defer os.Remove(a.Path)
	f, err := os.Open(a.Path)
	if err != nil {
		h.fail(w, start, err)
		return
	}
	h.download(w, start, f, a.Description, nil)
}

func (h *Handler) answer(w http.ResponseWriter, start time.Time, result any, err error) {
	if err != nil {
		h.fail(w, start, err)
		return
	}
	h.write(w, start, http.StatusOK, "ok", result)
}

func (h *Handler) write(w http.ResponseWriter, start time.Time, code int, status string, result any) {
	b, err := json.Marshal(struct {
		Result any     `json:"result"`
		Status string  `json:"status"`
		Time   float64 `json:"time"`
	}{result, status, time.Since(start).Seconds()})
	if err != nil {
		h.fail(w, start, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

func (h *Handler) fail(w http.ResponseWriter, start time.Time, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		err = api.ErrTimeout("Operation timed out")
	}
	code := h.opts.StatusOf(err)
	if code >= 500 {
		h.log.Error("snapshot request failed", "err", err)
	}
	b, _ := json.Marshal(struct {
		Status struct {
			Error string `json:"error"`
		} `json:"status"`
		Time   float64 `json:"time"`
		Result any     `json:"result"`
	}{Status: struct {
		Error string `json:"error"`
	}{api.Message(err)}, Time: time.Since(start).Seconds()})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}
