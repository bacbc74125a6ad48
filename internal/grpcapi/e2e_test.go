package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/service"
)

// testServer is a real Shoal gRPC server (real service over a temporary
// directory) on a loopback socket.
type testServer struct {
	addr string
	port int
	reg  *prometheus.Registry
	srv  *Server
}

type serverConfig struct {
	auth     auth.Options
	maxBytes int
	wrap     func(service.API) service.API // fault injection
	svc      service.API                   // nil: a new real service
}

func startServer(t *testing.T, cfg serverConfig) *testServer {
	t.Helper()
	svc := cfg.svc
	if svc == nil {
		svc = newRealService(t)
	}
	if cfg.wrap != nil {
		svc = cfg.wrap(svc)
	}
	reg := prometheus.NewRegistry()
	s := New(Options{
		Service: svc, Auth: auth.New(cfg.auth), Registerer: reg, Version: "test-version",
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), MaxMessageBytes: cfg.maxBytes,
	})
	gs := grpc.NewServer(s.GRPCServerOptions()...)
	s.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Shutdown()
		gs.Stop()
		<-done
	})
	return &testServer{addr: lis.Addr().String(), port: lis.Addr().(*net.TCPAddr).Port, reg: reg, srv: s}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (ts *testServer) client(t *testing.T, apiKey string) *qdrant.Client {
	t.Helper()
	c, err := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: ts.port, APIKey: apiKey, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails unless err is a gRPC status with code (and, when msg is
// non-empty, a message containing msg).
func wantCode(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(unwrapAll(err))
	if err == nil || !ok || st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Fatalf("%s: got %v, want %s containing %q", what, err, code, msg)
	}
}

func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func TestClientHealthAndCollections(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)

	h := must[*qdrant.HealthCheckReply](t, "health")(c.HealthCheck(ctx))
	if h.GetTitle() != api.QdrantTitle || h.GetVersion() != api.QdrantVersion {
		t.Fatalf("health: %v", h)
	}
	if !qdrant.IsCompatible(api.QdrantVersion, h.GetVersion()) {
		t.Fatal("reported version must pass the client's compatibility check")
	}
	// The standard health service and reflection are served too.
	conn := c.GetConnection()
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc.health.v1: %v %v", hr, err)
	}

	err = c.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: "plain",
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Cosine}),
		HnswConfig:     &qdrant.HnswConfigDiff{M: qdrant.PtrOf(uint64(8))},
		Metadata:       qdrant.NewValueMap(map[string]any{"owner": "tests"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: "named",
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
			"image": {Size: 3, Distance: qdrant.Distance_Euclid},
			"text":  {Size: 2, Distance: qdrant.Distance_Dot},
		}),
		ShardNumber: qdrant.PtrOf(uint32(2)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok := must[bool](t, "exists")(c.CollectionExists(ctx, "plain")); !ok {
		t.Fatal("plain should exist")
	}
	if ok := must[bool](t, "exists")(c.CollectionExists(ctx, "nope")); ok {
		t.Fatal("nope should not exist")
	}
	names := must[[]string](t, "list")(c.ListCollections(ctx))
	sort.Strings(names)
	if fmt.Sprint(names) != "[named plain]" {
		t.Fatalf("list: %v", names)
	}
	info := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "plain"))
	p := info.GetConfig().GetParams().GetVectorsConfig().GetParams()
	if p.GetSize() != 4 || p.GetDistance() != qdrant.Distance_Cosine || info.GetConfig().GetHnswConfig().GetM() != 8 || info.GetPointsCount() != 0 {
		t.Fatalf("info: %v", info)
	}
	if info.GetConfig().GetMetadata()["owner"].GetStringValue() != "tests" {
		t.Errorf("metadata: %v", info.GetConfig().GetMetadata())
	}
	named := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "named"))
	m := named.GetConfig().GetParams().GetVectorsConfig().GetParamsMap().GetMap()
	if len(m) != 2 || m["image"].GetSize() != 3 || m["text"].GetDistance() != qdrant.Distance_Dot || named.GetConfig().GetParams().GetShardNumber() != 2 {
		t.Fatalf("named info: %v", named.GetConfig().GetParams())
	}

	// Update.
	err = c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "plain", HnswConfig: &qdrant.HnswConfigDiff{EfConstruct: qdrant.PtrOf(uint64(123))}})
	if err != nil {
		t.Fatal(err)
	}
	info = must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "plain"))
	if info.GetConfig().GetHnswConfig().GetEfConstruct() != 123 {
		t.Errorf("update did not apply: %v", info.GetConfig().GetHnswConfig())
	}

	// Aliases.
	if err := c.CreateAlias(ctx, "first", "plain"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateAlias(ctx, "second", "named"); err != nil {
		t.Fatal(err)
	}
	if err := c.RenameAlias(ctx, "second", "third"); err != nil {
		t.Fatal(err)
	}
	all := must[[]*qdrant.AliasDescription](t, "aliases")(c.ListAliases(ctx))
	var pairs []string
	for _, a := range all {
		pairs = append(pairs, a.GetAliasName()+"->"+a.GetCollectionName())
	}
	sort.Strings(pairs)
	if fmt.Sprint(pairs) != "[first->plain third->named]" {
		t.Fatalf("aliases: %v", pairs)
	}
	if got := must[[]string](t, "collection aliases")(c.ListCollectionAliases(ctx, "plain")); fmt.Sprint(got) != "[first]" {
		t.Fatalf("collection aliases: %v", got)
	}
	// An alias works where a collection name does.
	if info := must[*qdrant.CollectionInfo](t, "info by alias")(c.GetCollectionInfo(ctx, "first")); info.GetConfig().GetParams().GetVectorsConfig().GetParams().GetSize() != 4 {
		t.Fatalf("info by alias: %v", info)
	}
	if err := c.DeleteAlias(ctx, "third"); err != nil {
		t.Fatal(err)
	}
	if got := must[[]*qdrant.AliasDescription](t, "aliases")(c.ListAliases(ctx)); len(got) != 1 {
		t.Fatalf("after delete: %v", got)
	}

	// Cluster-level RPCs answer as a standalone node.
	ci := must[*qdrant.CollectionClusterInfoResponse](t, "cluster info")(c.GetCollectionClusterInfo(ctx, "named"))
	if ci.GetShardCount() != 2 || len(ci.GetLocalShards()) != 2 || ci.GetLocalShards()[1].GetState() != qdrant.ReplicaState_Active {
		t.Fatalf("cluster info: %v", ci)
	}
	if keys := must[[]*qdrant.ShardKeyDescription](t, "shard keys")(c.ListShardKeys(ctx, "named")); len(keys) != 0 {
		t.Fatalf("shard keys: %v", keys)
	}
	err = c.CreateShardKey(ctx, "named", &qdrant.CreateShardKey{ShardKey: qdrant.NewShardKey("k")})
	wantCode(t, "create shard key", err, codes.InvalidArgument, "custom sharding")
	err = c.UpdateClusterCollectionSetup(ctx, qdrant.NewUpdateCollectionClusterMoveShard("named", &qdrant.MoveShard{ShardId: 0, FromPeerId: 1, ToPeerId: 2}))
	wantCode(t, "move shard", err, codes.Unimplemented, "standalone")
	_, err = c.GetCollectionClusterInfo(ctx, "nope")
	wantCode(t, "cluster info of unknown", err, codes.NotFound, "nope")

	// Delete.
	if err := c.DeleteCollection(ctx, "named"); err != nil {
		t.Fatal(err)
	}
	if ok := must[bool](t, "exists")(c.CollectionExists(ctx, "named")); ok {
		t.Fatal("named should be gone")
	}
	res, err := c.GetCollectionsClient().Delete(ctx, &qdrant.DeleteCollection{CollectionName: "named"})
	if err != nil || res.GetResult() {
		t.Fatalf("deleting a missing collection: %v %v", res, err)
	}

	// Snapshots are not served yet: a clean Unimplemented.
	_, err = c.ListSnapshots(ctx, "plain")
	wantCode(t, "snapshots", err, codes.Unimplemented, "")
}

func TestClientErrorsAndAuth(t *testing.T) {
	ts := startServer(t, serverConfig{auth: auth.Options{APIKey: "secret", ReadOnlyAPIKey: "reader"}})
	ctx := ctxT(t)
	full := ts.client(t, "secret")
	ro := ts.client(t, "reader")
	anon := ts.client(t, "")
	wrong := ts.client(t, "wrong")

	// Health checks need no key.
	if _, err := anon.HealthCheck(ctx); err != nil {
		t.Fatalf("health without key: %v", err)
	}
	_, err := anon.ListCollections(ctx)
	wantCode(t, "no key", err, codes.Unauthenticated, "API key")
	_, err = wrong.ListCollections(ctx)
	wantCode(t, "wrong key", err, codes.Unauthenticated, "")

	err = full.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "c", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3, Distance: qdrant.Distance_Dot})})
	if err != nil {
		t.Fatal(err)
	}
	// Read-only key: reads work, writes are refused.
	if _, err := ro.GetCollectionInfo(ctx, "c"); err != nil {
		t.Fatalf("read-only read: %v", err)
	}
	_, err = ro.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2, 3)}}})
	wantCode(t, "read-only upsert", err, codes.PermissionDenied, "")
	err = ro.DeleteCollection(ctx, "c")
	wantCode(t, "read-only delete collection", err, codes.PermissionDenied, "")

	// "authorization: Bearer <key>" works like api-key.
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer secret")
	if _, err := qdrant.NewCollectionsClient(conn).List(bctx, &qdrant.ListCollectionsRequest{}); err != nil {
		t.Fatalf("bearer: %v", err)
	}
	_, err = qdrant.NewCollectionsClient(conn).List(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer nope"), &qdrant.ListCollectionsRequest{})
	wantCode(t, "bad bearer", err, codes.Unauthenticated, "")

	// Unknown collection, wrong dimension, unsupported vector kinds.
	_, err = full.GetCollectionInfo(ctx, "missing")
	wantCode(t, "unknown collection", err, codes.NotFound, "Not found: Collection `missing` doesn't exist!")
	_, err = full.Query(ctx, &qdrant.QueryPoints{CollectionName: "missing", Query: qdrant.NewQuery(1, 2, 3)})
	wantCode(t, "query unknown collection", err, codes.NotFound, "missing")
	_, err = full.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2)}}})
	wantCode(t, "wrong dimension", err, codes.InvalidArgument, "")
	_, err = full.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectorsSparse([]uint32{1}, []float32{1})}}})
	wantCode(t, "unnamed sparse", err, codes.InvalidArgument, "a sparse vector is not supported here")
	_, err = full.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 2)})
	wantCode(t, "query wrong dimension", err, codes.InvalidArgument, "")
	_, err = full.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryFormula(&qdrant.Formula{Expression: qdrant.NewExpressionConstant(1)})})
	wantCode(t, "formula without prefetch", err, codes.InvalidArgument, "Formula queries need at least one prefetch")
	_, err = full.Get(ctx, &qdrant.GetPoints{CollectionName: "c", Ids: []*qdrant.PointId{qdrant.NewIDUUID("not-a-uuid")}})
	wantCode(t, "bad uuid", err, codes.InvalidArgument, "UUID")
	// Nothing of the refused upserts was applied.
	if n := must[uint64](t, "count")(full.Count(ctx, &qdrant.CountPoints{CollectionName: "c"})); n != 0 {
		t.Fatalf("refused writes left %d points", n)
	}
}

func TestMetricsAndLimits(t *testing.T) {
	ts := startServer(t, serverConfig{maxBytes: 64 << 10})
	c := ts.client(t, "")
	ctx := ctxT(t)
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "m", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 256, Distance: qdrant.Distance_Dot})})
	if err != nil {
		t.Fatal(err)
	}
	vec := make([]float32, 256)
	small := []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(vec...)}}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "m", Wait: qdrant.PtrOf(true), Points: small}); err != nil {
		t.Fatal(err)
	}
	// 100 points x 256 floats is > 100 KiB: over the 64 KiB limit.
	var big []*qdrant.PointStruct
	for i := range 100 {
		big = append(big, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i)), Vectors: qdrant.NewVectors(vec...)})
	}
	_, err = c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "m", Points: big})
	wantCode(t, "oversized message", err, codes.ResourceExhausted, "")
	_, _ = c.GetCollectionInfo(ctx, "missing")

	lbl := func(name, ep string) float64 {
		mfs, err := ts.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == ep {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					if m.GetGauge() != nil {
						return m.GetGauge().GetValue()
					}
					return float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return -1
	}
	if v := lbl("grpc_responses_total", "/qdrant.Points/Upsert"); v != 1 {
		t.Errorf("upsert total = %v (the oversized one is refused by the transport before the handler)", v)
	}
	if v := lbl("grpc_responses_fail_total", "/qdrant.Collections/Get"); v != 1 {
		t.Errorf("get fail total = %v", v)
	}
	if v := lbl("grpc_responses_duration_seconds", "/qdrant.Points/Upsert"); v != 1 {
		t.Errorf("upsert histogram count = %v", v)
	}
	if v := lbl("grpc_responses_max_duration_seconds", "/qdrant.Points/Upsert"); v <= 0 || v != lbl("grpc_responses_min_duration_seconds", "/qdrant.Points/Upsert") || v != lbl("grpc_responses_avg_duration_seconds", "/qdrant.Points/Upsert") {
		t.Errorf("one upsert: min, avg and max must be equal and positive, max=%v", v)
	}
	if n, err := testutil.GatherAndCount(ts.reg, "grpc_responses_total", "grpc_responses_fail_total", "grpc_responses_avg_duration_seconds", "grpc_responses_min_duration_seconds", "grpc_responses_max_duration_seconds"); err != nil || n == 0 {
		t.Errorf("metrics lint/count: %d %v", n, err)
	}
}

// panicking wraps the real service and panics in Count: a handler panic
// must fail only that request.
type panicking struct{ service.API }

func (panicking) Count(context.Context, string, *api.CountRequest, api.ReadParams) (*api.CountResult, error) {
	panic("injected fault")
}

func TestPanicRecovery(t *testing.T) {
	ts := startServer(t, serverConfig{wrap: func(s service.API) service.API { return panicking{s} }})
	c := ts.client(t, "")
	ctx := ctxT(t)
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "p", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Count(ctx, &qdrant.CountPoints{CollectionName: "p"})
	wantCode(t, "panic", err, codes.Internal, "Service internal error")
	if _, err := c.GetCollectionInfo(ctx, "p"); err != nil {
		t.Fatalf("server must keep serving after a handler panic: %v", err)
	}
}

func TestExampleProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	ts := startServer(t, serverConfig{auth: auth.Options{APIKey: "example-key"}})
	bin := buildExample(t)
	out, err := runExample(t, bin, "-addr", ts.addr, "-api-key", "example-key")
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	// Dot products of the query [0.2 0.1 0.9 0.7] with the six cities:
	// New York 1.362, Berlin 1.273, Moscow 1.208, London 0.871, ...
	for _, want := range []string{
		"connected to qdrant - vector search engine (Qdrant API " + api.QdrantVersion + ")",
		"created collection example_cities",
		"upserted 6 points: Completed",
		"nearest to [0.2 0.1 0.9 0.7]\n  id=4 score=1.3620 city=New York\n  id=1 score=1.2730 city=Berlin\n  id=3 score=1.2080 city=Moscow\n",
		"nearest in country=DE\n  id=1 score=1.2730 city=Berlin\n  id=6 score=0.4850 city=Munich\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Running it again recreates the collection.
	if out, err := runExample(t, bin, "-addr", ts.addr, "-api-key", "example-key"); err != nil || !strings.Contains(out, "upserted 6 points") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	// A wrong key fails with a clear message and a non-zero exit status.
	out, err = runExample(t, bin, "-addr", ts.addr, "-api-key", "bad")
	if err == nil || !strings.Contains(out, "Unauthenticated") {
		t.Fatalf("bad key: %v\n%s", err, out)
	}
	_ = os.Remove(bin)
}

// buildExample builds examples/goclient into a temporary directory.
func buildExample(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "goclient")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./examples/goclient")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the example: %v\n%s", err, out)
	}
	return bin
}

func runExample(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
