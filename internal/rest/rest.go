package rest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/metrics"
	"github.com/shoal-db/shoal/internal/service"
)

// DefaultMaxRequestBytes is the default limit on a JSON request body
// (Qdrant's service.max_request_size_mb: 32).
const DefaultMaxRequestBytes = 32 << 20

// DefaultCompressMinBytes is the default size from which answers are
// gzipped: below it the saving does not pay for the CPU.
const DefaultCompressMinBytes = 2048

// Options configure a Handler.
type Options struct {
	// Service executes every operation. Required.
	Service service.API
	// Auth authenticates requests; nil disables authentication.
	Auth *auth.Authenticator
	// Registerer receives the REST metrics; nil registers nothing (the
	// statistics still feed /telemetry).
	Registerer prometheus.Registerer
	// Gatherer is exposed on GET /metrics; nil serves an empty exposition.
	Gatherer prometheus.Gatherer
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// MaxRequestBytes limits JSON request bodies; 0 means
	// DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// EnableCORS answers preflight requests and sets permissive CORS
	// headers, as Qdrant's service.enable_cors does.
	EnableCORS bool
	// Version is Shoal's version, reported as "shoal_version" in GET / and
	// as the app version in /telemetry.
	Version string
	// Commit is the source revision reported as "commit" in GET / (omitted
	// when empty).
	Commit string
	// Ready reports readiness for /readyz; nil means always ready.
	Ready func() bool
	// DisableCompression turns off gzip compression of JSON answers.
	// Compression is on by default, as in Qdrant (actix Compress): answers
	// of at least CompressMinBytes are gzipped for clients that accept it.
	DisableCompression bool
	// CompressMinBytes is the smallest answer compressed; 0 means
	// DefaultCompressMinBytes.
	CompressMinBytes int
	// GRPCResponses, when non-nil, are the gRPC adapter's response
	// statistics (grpcapi.Server.Responses), reported in /telemetry's
	// requests.grpc as REST's are in requests.rest.
	GRPCResponses *metrics.Responses
	// Snapshots, when non-nil, serves Qdrant's snapshot API (the routes of
	// SnapshotPatterns), routed, decoded and answered by this handler with
	// its envelope and error table; *snapshot.Manager implements it. Upload
	// bodies are not limited by MaxRequestBytes. When nil, those routes
	// answer 501 in Qdrant's error shape.
	Snapshots SnapshotManager
}

// Handler is the REST API. It is safe for concurrent use.
type Handler struct {
	svc        service.API
	auth       *auth.Authenticator
	gatherer   prometheus.Gatherer
	log        *slog.Logger
	maxBody    int64
	cors       bool
	version    string
	commit     string
	ready      func() bool
	snapshots  SnapshotManager
	grpcResp   *metrics.Responses // never nil
	telemetry  string             // this instance's telemetry id
	started    time.Time
	mux        *http.ServeMux
	stats      *stats
	bufs       bufferPool
	gzips      sync.Pool // *gzip.Writer at BestSpeed
	huffs      sync.Pool // *gzip.Writer at HuffmanOnly
	compressAt int       // smallest answer to compress; 0: never
	patterns   []string  // every registered route pattern, in order
}

// New returns the REST API handler. It panics if opts.Service is nil.
func New(opts Options) *Handler {
	if opts.Service == nil {
		panic("rest: Options.Service is required")
	}
	h := &Handler{
		svc:       opts.Service,
		auth:      opts.Auth,
		gatherer:  opts.Gatherer,
		log:       opts.Logger,
		maxBody:   opts.MaxRequestBytes,
		cors:      opts.EnableCORS,
		version:   opts.Version,
		commit:    opts.Commit,
		ready:     opts.Ready,
		snapshots: opts.Snapshots,
		grpcResp:  opts.GRPCResponses,
		telemetry: uuid.NewString(),
		started:   time.Now(),
		mux:       http.NewServeMux(),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxRequestBytes
	}
	if h.grpcResp == nil {
		h.grpcResp = metrics.NewResponses("grpc", "endpoint", metrics.StatusLabel)
	}
	if h.ready == nil {
		h.ready = func() bool { return true }
	}
	if !opts.DisableCompression {
		h.compressAt = opts.CompressMinBytes
		if h.compressAt <= 0 {
			h.compressAt = DefaultCompressMinBytes
		}
	}
	h.stats = newStats()
	if opts.Registerer != nil {
		if err := h.stats.register(opts.Registerer); err != nil {
			h.log.Error("cannot register REST metrics", "err", err)
		}
	}
	h.routes()
	return h
}

// apiFunc handles one JSON API call: it returns the result to put in the
// envelope or an error to map through the status table.
type apiFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// routeKind says how a route is wrapped.
type routeKind int

const (
	routeAPI      routeKind = iota // authenticated JSON API
	routeOpen                      // no authentication (health, root)
	routeRaw                       // authenticated, writes its own response
	routeSnapshot                  // authenticated, no timeout parameter (snapshot API)
)

// api registers an authenticated JSON endpoint.
func (h *Handler) api(pattern string, fn apiFunc) {
	h.patterns = append(h.patterns, pattern)
	if strings.Contains(pattern, "{"+pColl+"}") {
		fn = checkCollectionPath(fn)
	}
	h.mux.Handle(pattern, h.wrap(pattern, routeAPI, h.serveAPI(fn)))
}

// checkCollectionPath refuses a collection name in the path that no
// collection can have, as Qdrant validates its path parameters: 422
// "Validation error in path parameters: [name: ...]".
func checkCollectionPath(fn apiFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		if p := service.CollectionNameProblem(r.PathValue(pColl)); p != "" {
			return nil, api.ErrPathValidation("name", "%s", p)
		}
		return fn(w, r)
	}
}

// emptyCollectionPath is the start of a path whose collection name is
// empty ("/collections//exists"), which the mux would otherwise redirect
// to a cleaned path.
const emptyCollectionPath = "/collections//"

// raw registers an endpoint that writes its own response.
func (h *Handler) raw(pattern string, kind routeKind, fn http.HandlerFunc) {
	h.patterns = append(h.patterns, pattern)
	h.mux.Handle(pattern, h.wrap(pattern, kind, fn))
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cors {
		if h.serveCORS(w, r) {
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, emptyCollectionPath) {
		writeError(w, requestStart(r), api.ErrPathValidation("name", "%s", service.CollectionNameProblem("")))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// serveCORS sets CORS headers and answers preflight requests; it reports
// whether the request has been answered.
func (h *Handler) serveCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Allow-Credentials", "true")
	hd.Add("Vary", "Origin")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			hd.Set("Access-Control-Allow-Headers", req)
		} else {
			hd.Set("Access-Control-Allow-Headers", "api-key, authorization, content-type")
		}
		hd.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
		return true
	}
	return false
}

// serveAPI adapts an apiFunc: it runs fn and writes the envelope.
func (h *Handler) serveAPI(fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := requestStart(r)
		res, err := fn(w, r)
		if err != nil {
			// A client that went away gets 499 (api.KindCanceled): nobody
			// reads it, but the log and the metrics do not count it as a
			// server error.
			writeError(w, start, err)
			return
		}
		if err := h.writeResult(w, r, start, res); err != nil {
			// Headers may be gone already; only the log can tell.
			h.log.Error("cannot write response", "err", err, "path", r.URL.Path)
		}
	}
}

// statusClientClosed is the status of api.KindCanceled: requests whose
// client disconnected before the answer (nginx's convention).
const statusClientClosed = 499

type startKey struct{}

// requestStart returns when the request entered the handler.
func requestStart(r *http.Request) time.Time {
	if t, ok := r.Context().Value(startKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// credential returns the request's API key or bearer token.
func credential(r *http.Request) string {
	if k := r.Header.Get("api-key"); k != "" {
		return k
	}
	const bearer = "Bearer "
	if a := r.Header.Get("Authorization"); len(a) > len(bearer) && (a[:len(bearer)] == bearer || a[:len(bearer)] == "bearer ") {
		return a[len(bearer):]
	}
	return ""
}

// wrap adds to one route: panic recovery, authentication, the timeout
// parameter as a context deadline, one log line and the metrics.
func (h *Handler) wrap(pattern string, kind routeKind, next http.Handler) http.Handler {
	method, endpoint := splitPattern(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.log.Error("panic serving request", "method", r.Method, "route", pattern, "panic", p, "stack", stack())
				if !rec.wrote {
					writeErrorStatus(rec, start, http.StatusInternalServerError, fmt.Sprintf("Service internal error: %v", p))
				} else {
					rec.status = http.StatusInternalServerError
				}
			}
			d := time.Since(start)
			status := rec.statusCode()
			h.stats.observe(method, endpoint, status, d)
			lvl := slog.LevelDebug
			switch {
			case status >= 500:
				lvl = slog.LevelError
			case status >= 400:
				lvl = slog.LevelInfo
			}
			if h.log.Enabled(r.Context(), lvl) {
				h.log.Log(r.Context(), lvl, "rest request", "method", r.Method, "route", endpoint, "path", r.URL.Path, "status", status, "duration", d)
			}
		}()

		ctx := context.WithValue(r.Context(), startKey{}, start)
		if kind != routeOpen {
			acc, err := h.auth.Authenticate(credential(r))
			if err != nil {
				writeError(rec, start, err)
				return
			}
			ctx = auth.WithAccess(ctx, acc)
		}
		if kind == routeAPI {
			t, err := parseTimeout(r)
			if err != nil {
				writeError(rec, start, err)
				return
			}
			var cancel context.CancelFunc
			ctx, cancel = api.WithTimeout(ctx, t)
			defer cancel()
		}
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// splitPattern splits "GET /path" into its method and path, the path named
// as Qdrant names its endpoints (qdrantEndpoint).
func splitPattern(p string) (method, path string) {
	for i := 0; i < len(p); i++ {
		if p[i] == ' ' {
			return p[:i], qdrantEndpoint(p[i+1:])
		}
	}
	return "", qdrantEndpoint(p)
}

// qdrantEndpoint names a route as Qdrant's metrics and telemetry do: the
// collection parameter is "{name}" there ("/collections/{name}/points").
func qdrantEndpoint(path string) string {
	return strings.ReplaceAll(path, "{collection_name}", "{name}")
}
