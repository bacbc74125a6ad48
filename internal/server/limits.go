package server

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/service"
)

// collectionDefaults turns the node's storage.hnsw_index, storage.optimizers
// and storage.on_disk_payload into the defaults of new collections, as
// Qdrant does (a collection's info shows them).
func collectionDefaults(st config.StorageConfig) *service.CollectionDefaults {
	h := st.HnswIndex
	hnsw := api.HnswConfig{M: h.M, EfConstruct: h.EfConstruct, FullScanThreshold: h.FullScanThresholdKB, MaxIndexingThreads: h.MaxIndexingThreads}
	if h.OnDisk {
		on := true
		hnsw.OnDisk = &on
	}
	if h.PayloadM != 0 {
		pm := h.PayloadM
		hnsw.PayloadM = &pm
	}
	o := st.Optimizers
	threshold := o.IndexingThresholdKB
	opt := api.OptimizersConfig{
		DeletedThreshold:      o.DeletedThreshold,
		VacuumMinVectorNumber: o.VacuumMinVectorNumber,
		DefaultSegmentNumber:  o.DefaultSegmentNumber,
		IndexingThreshold:     &threshold,
		FlushIntervalSec:      o.FlushIntervalSec,
	}
	if o.MaxSegmentSizeKB > 0 {
		size := o.MaxSegmentSizeKB
		opt.MaxSegmentSize = &size
	}
	if o.MemmapThresholdKB > 0 {
		kb := o.MemmapThresholdKB
		opt.MemmapThreshold = &kb
	}
	if o.MaxOptimizationThreads > 0 {
		n := o.MaxOptimizationThreads
		opt.MaxOptimizationThreads = &n
	}
	return &service.CollectionDefaults{Hnsw: hnsw, Optimizers: opt, OnDiskPayload: st.OnDiskPayload}
}

// workerLimit bounds the API requests handled at once (service.max_workers),
// REST and gRPC together: a request waits for a slot until its client gives
// up. Health checks, metrics and the root endpoint never wait, so probes
// see a busy node as alive. A nil workerLimit bounds nothing.
type workerLimit chan struct{}

func newWorkerLimit(n int) workerLimit {
	if n <= 0 {
		return nil
	}
	return make(workerLimit, n)
}

// acquire waits for a slot until ctx ends.
func (w workerLimit) acquire(ctx context.Context) error {
	select {
	case w <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w workerLimit) release() { <-w }

// unlimitedPaths are the REST paths that never wait for a worker.
var unlimitedPaths = map[string]bool{"/": true, "/healthz": true, "/livez": true, "/readyz": true, "/metrics": true}

// http wraps h with the limit.
func (w workerLimit) http(h http.Handler) http.Handler {
	if w == nil {
		return h
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if unlimitedPaths[r.URL.Path] {
			h.ServeHTTP(rw, r)
			return
		}
		if err := w.acquire(r.Context()); err != nil {
			return // the client is gone
		}
		defer w.release()
		h.ServeHTTP(rw, r)
	})
}

// unlimitedMethod reports whether a gRPC method never waits for a worker
// (health checks).
func unlimitedMethod(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || method == "/qdrant.Qdrant/HealthCheck"
}

// grpcOptions returns the interceptors that apply the limit to gRPC.
func (w workerLimit) grpcOptions() []grpc.ServerOption {
	if w == nil {
		return nil
	}
	wait := func(ctx context.Context) error {
		if err := w.acquire(ctx); err != nil {
			return status.FromContextError(err).Err()
		}
		return nil
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if unlimitedMethod(info.FullMethod) {
				return handler(ctx, req)
			}
			if err := wait(ctx); err != nil {
				return nil, err
			}
			defer w.release()
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if unlimitedMethod(info.FullMethod) {
				return handler(srv, ss)
			}
			if err := wait(ss.Context()); err != nil {
				return err
			}
			defer w.release()
			return handler(srv, ss)
		}),
	}
}
