package loadtool

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Main runs the benchmark command with args and returns the exit code.
//
//	shoal-bench -data ../shared/data/fashion-mnist-784-euclidean \
//	    -url http://127.0.0.1:6333 -grpc 127.0.0.1:6334 -protocols rest,grpc \
//	    -ef 16,32,64,128,256 -threads 1,2
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoal-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "../shared/data/fashion-mnist-784-euclidean", "TEXMEX data set directory (base/query/groundtruth .fvecs/.ivecs, optionally .gz)")
	restURL := fs.String("url", "http://127.0.0.1:6333", "REST base URL")
	grpcAddr := fs.String("grpc", "127.0.0.1:6334", "gRPC host:port")
	apiKey := fs.String("api-key", "", "API key")
	protocols := fs.String("protocols", "rest", "comma-separated protocols to run: rest, grpc")
	collection := fs.String("collection", "bench", "collection name")
	distance := fs.String("distance", "Euclid", "distance: Euclid, Cosine, Dot, Manhattan")
	m := fs.Int("m", 16, "HNSW m")
	efc := fs.Int("ef-construct", 200, "HNSW ef_construct")
	shards := fs.Int("shards", 1, "shard_number")
	batch := fs.Int("batch", 256, "points per upsert request")
	upThreads := fs.Int("upload-threads", 2, "concurrent upsert requests")
	skipUpload := fs.Bool("skip-upload", false, "reuse the existing collection")
	skipSearch := fs.Bool("skip-search", false, "only import (with -indexing-threshold 0: measure the write path alone)")
	indexingThreshold := fs.Int("indexing-threshold", -1, "optimizers_config.indexing_threshold in KB for the new collection (-1: server default; 0: no index)")
	efs := fs.String("ef", "16,32,64,128,256", "comma-separated hnsw_ef values")
	threads := fs.String("threads", "1,2", "comma-separated client thread counts")
	queries := fs.Int("queries", 2000, "queries per measurement (0: all)")
	limitBase := fs.Int("limit", 0, "use only the first N base vectors (0: all; recall then uses brute force ground truth)")
	jsonOut := fs.Bool("json", false, "print JSON lines instead of a table")
	progress := fs.Bool("progress", true, "show a progress bar on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	efList, err := parseInts(*efs)
	if err != nil {
		fmt.Fprintln(stderr, "bad -ef:", err)
		return 2
	}
	thList, err := parseInts(*threads)
	if err != nil {
		fmt.Fprintln(stderr, "bad -threads:", err)
		return 2
	}
	ds, err := LoadDataset(*data)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *limitBase > 0 && *limitBase < len(ds.Base) {
		ds.Base = ds.Base[:*limitBase]
		ds.GroundTruth = BruteForceGroundTruth(ds.Base, ds.Queries[:min(len(ds.Queries), max(*queries, 1))], 10)
		ds.Queries = ds.Queries[:len(ds.GroundTruth)]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o := Options{
		Collection: CollectionSpec{Name: *collection, Dim: len(ds.Base[0]), Distance: *distance, M: *m, EfConstruct: *efc, Shards: *shards},
		BatchSize:  *batch, UploadThreads: *upThreads, SkipUpload: *skipUpload, EFs: efList, Threads: thList,
		Queries: *queries, K: 10, GreenTimeout: 30 * time.Minute,
	}
	if *indexingThreshold >= 0 {
		o.Collection.IndexingThreshold = indexingThreshold
	}
	if *progress {
		o.Progress = stderr
	}
	var ups []UploadResult
	var res []SearchResult
	for _, proto := range strings.Split(*protocols, ",") {
		t, err := newTarget(strings.TrimSpace(proto), *restURL, *grpcAddr, *apiKey)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if !o.SkipUpload {
			u, err := Upload(ctx, t, proto, ds, o)
			if err != nil {
				fmt.Fprintln(stderr, err)
				t.Close()
				return 1
			}
			ups = append(ups, *u)
		}
		if *skipSearch {
			t.Close()
			continue
		}
		r, err := SearchAll(ctx, t, proto, ds, o)
		t.Close()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		res = append(res, r...)
	}
	if *jsonOut {
		WriteJSON(stdout, ups, res)
	} else {
		WriteTable(stdout, ups, res)
	}
	return 0
}

func newTarget(proto, restURL, grpcAddr, apiKey string) (Target, error) {
	switch proto {
	case "rest":
		if _, err := url.Parse(restURL); err != nil {
			return nil, fmt.Errorf("bad -url: %w", err)
		}
		return NewRESTTarget(strings.TrimRight(restURL, "/"), apiKey), nil
	case "grpc":
		host, portStr, err := net.SplitHostPort(grpcAddr)
		if err != nil {
			return nil, fmt.Errorf("bad -grpc: %w", err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("bad -grpc port: %w", err)
		}
		return NewGRPCTarget(host, port, apiKey)
	}
	return nil, fmt.Errorf("unknown protocol %q (want rest or grpc)", proto)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}
