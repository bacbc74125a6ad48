#!/bin/sh
# End-to-end benchmark over the network APIs, in one go:
#   1. builds cmd/shoal, cmd/shoal-bench and hnswlib's native benchmark
#      (bench/hnswlib/bench.cpp, -O3 -march=native) when g++ and Debian's
#      libhnswlib-dev headers are there;
#   2. runs hnswlib's build of the same set with the same parameters (the
#      baseline of issue 3's import target), 2 threads;
#   3. starts a Shoal server on fresh storage, warms it up with a small
#      import over each protocol, and runs shoal-bench over REST and then
#      gRPC: each recreates the collection, upserts the whole set in
#      batches with 2 upload threads, waits until the collection is green
#      (fully indexed), then searches from 1 (and 2) client threads;
#   4. stops the server and prints a summary (ratios of issues 3 and 4).
# All raw JSON lines are printed too, with the machine and the load.
#
# Usage: bench/e2e.sh [extra shoal-bench flags]
# Environment: DATA (TEXMEX directory), HTTP_PORT, GRPC_PORT, EF (hnsw_ef
# list), THREADS (client threads list), BATCH, QUERIES, HNSWLIB=0 to skip it,
# ORDER (protocol order, default "rest grpc"), SEARCH_ROUNDS / SEARCH_EF /
# SEARCH_QUERIES (the interleaved search comparison, default 9 rounds at
# ef 20 with 3,000 queries each, the order of the two alternating).
# Needs: go; for the baseline g++ and libhnswlib-dev; python3 for the summary.
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/shared/data/fashion-mnist-784-euclidean}
HTTP_PORT=${HTTP_PORT:-16333}
GRPC_PORT=${GRPC_PORT:-16334}
EF=${EF:-16,20,32,64}
THREADS=${THREADS:-1,2}
BATCH=${BATCH:-256}
QUERIES=${QUERIES:-0}
HNSWLIB=${HNSWLIB:-1}
ORDER=${ORDER:-rest grpc}
SEARCH_ROUNDS=${SEARCH_ROUNDS:-9}
SEARCH_EF=${SEARCH_EF:-20}
SEARCH_QUERIES=${SEARCH_QUERIES:-3000}

tmp=$(mktemp -d)
server=
cleanup() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

load() { echo "# load: $(cut -d' ' -f1-3 /proc/loadavg) ($1)"; }

echo "# machine: nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') go=$(go env GOVERSION)"
echo "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
go build -o "$tmp/shoal" ./cmd/shoal
go build -o "$tmp/shoal-bench" ./cmd/shoal-bench

if [ "$HNSWLIB" = 1 ] && [ -d /usr/include/hnswlib ] && command -v g++ >/dev/null 2>&1; then
	g++ -O3 -march=native -std=c++17 -pthread -w bench/hnswlib/bench.cpp -o "$tmp/hnswlib-native"
	load "before hnswlib"
	echo "# hnswlib-native: -data $DATA -m 16 -efc 200 -threads 2 -ef 20 -queries 1000"
	"$tmp/hnswlib-native" -data "$DATA" -m 16 -efc 200 -threads 2 -ef 20 -queries 1000 2>/dev/null | tee "$tmp/hnswlib.jsonl"
fi

if curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" 2>/dev/null; then
	echo "port $HTTP_PORT is already in use: stop that server or set HTTP_PORT/GRPC_PORT" >&2
	exit 1
fi
mkdir -p "$tmp/storage" "$tmp/snapshots"
QDRANT__STORAGE__STORAGE_PATH="$tmp/storage" QDRANT__STORAGE__SNAPSHOTS_PATH="$tmp/snapshots" \
	QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT="$HTTP_PORT" QDRANT__SERVICE__GRPC_PORT="$GRPC_PORT" \
	QDRANT__LOG_LEVEL=WARN "$tmp/shoal" >"$tmp/server.log" 2>&1 &
server=$!
i=0
until curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$server" 2>/dev/null; then
		echo "server did not start:" >&2
		cat "$tmp/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
if ! kill -0 "$server" 2>/dev/null; then
	echo "server exited:" >&2
	cat "$tmp/server.log" >&2
	exit 1
fi

# Warm-up, not measured: a fresh server's first import is slower (heap
# growth, first memtables, new files), which would count against whichever
# protocol goes first.
load "before warm-up"
echo "# warm-up: 10,000 points over each protocol into a scratch collection (not measured)"
for proto in $ORDER; do
	"$tmp/shoal-bench" -data "$DATA" -url "http://127.0.0.1:$HTTP_PORT" -grpc "127.0.0.1:$GRPC_PORT" \
		-protocols "$proto" -collection warmup -limit 10000 -queries 1 -batch "$BATCH" -upload-threads 2 \
		-indexing-threshold 0 -skip-search -json -progress=false >/dev/null
done
curl -fs -X DELETE "http://127.0.0.1:$HTTP_PORT/collections/warmup" >/dev/null

for proto in $ORDER; do
	load "before shoal $proto"
	echo "# shoal-bench -protocols $proto -batch $BATCH -upload-threads 2 -ef $EF -threads $THREADS -queries $QUERIES $*"
	"$tmp/shoal-bench" -data "$DATA" -url "http://127.0.0.1:$HTTP_PORT" -grpc "127.0.0.1:$GRPC_PORT" \
		-protocols "$proto" -m 16 -ef-construct 200 -batch "$BATCH" -upload-threads 2 \
		-ef "$EF" -threads "$THREADS" -queries "$QUERIES" -json -progress=false "$@" | tee "$tmp/$proto.jsonl"
done
# Issue 4's search comparison, interleaved: the same collection (left by the
# last import, fully indexed), one client thread, REST and gRPC alternately
# for SEARCH_ROUNDS rounds, so that other jobs on the machine weigh on both
# alike; the summary gives each round's ratio and their median.
for round in $(seq 1 "$SEARCH_ROUNDS"); do
	# Each round pairs one search per protocol; the order alternates from
	# round to round (ABBA), so that a load that rises or falls during the
	# rounds weighs on both protocols alike.
	order=$ORDER
	if [ $((round % 2)) = 0 ]; then
		order=$(echo "$ORDER" | awk '{for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "")}')
	fi
	for proto in $order; do
		load "before $proto search, round $round"
		echo "# shoal-bench -protocols $proto -skip-upload -ef $SEARCH_EF -threads 1 -queries $SEARCH_QUERIES (round $round)"
		"$tmp/shoal-bench" -data "$DATA" -url "http://127.0.0.1:$HTTP_PORT" -grpc "127.0.0.1:$GRPC_PORT" \
			-protocols "$proto" -skip-upload -ef "$SEARCH_EF" -threads 1 -queries "$SEARCH_QUERIES" \
			-json -progress=false | tee -a "$tmp/$proto-rounds.jsonl"
	done
done
# Issue 4's write-path comparison without background indexing competing for
# the 2 cores: the same import into a collection with indexing off
# (indexing_threshold 0, Qdrant's bulk-load recipe), upload only.
for proto in $ORDER; do
	load "before shoal $proto, indexing off"
	echo "# shoal-bench -protocols $proto -batch $BATCH -upload-threads 2 -indexing-threshold 0 -skip-search"
	"$tmp/shoal-bench" -data "$DATA" -url "http://127.0.0.1:$HTTP_PORT" -grpc "127.0.0.1:$GRPC_PORT" \
		-protocols "$proto" -collection noindex -batch "$BATCH" -upload-threads 2 -indexing-threshold 0 \
		-skip-search -json -progress=false | tee "$tmp/$proto-noindex.jsonl"
done
load "after"
if ! kill "$server" 2>/dev/null; then
	echo "server exited early:" >&2
	cat "$tmp/server.log" >&2
	exit 1
fi
wait "$server" 2>/dev/null || true
server=

command -v python3 >/dev/null 2>&1 || exit 0
python3 - "$tmp" <<'EOF'
import json, os, sys
d = sys.argv[1]
def lines(name):
    p = os.path.join(d, name)
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
up, search = {}, {}
for proto in ("rest", "grpc"):
    for l in lines(proto + ".jsonl"):
        if "upload" in l:
            up[proto] = l["upload"]
        else:
            search.setdefault(proto, []).append(l)
h = [l for l in lines("hnswlib.jsonl") if "build_seconds" in l]
print("# summary")
for p, u in up.items():
    print(f"{p}: upload {u['upload_seconds']:.2f} s ({u['points_per_second']:.0f} points/s), green after {u['indexed_seconds']:.2f} s")
if h:
    hb = h[0]["build_seconds"]
    print(f"hnswlib-native build: {hb:.2f} s wall, {h[0]['build_cpu_seconds']:.2f} s CPU")
    if "rest" in up:
        r = up["rest"]["indexed_seconds"] / hb
        print(f"issue 3 import: REST green / hnswlib build = {r:.2f} (target <= 1.3): {'met' if r <= 1.3 else 'MISSED'}")
def best(proto):
    ok = [s for s in search.get(proto, []) if s["threads"] == 1 and s["recall"] >= 0.95]
    return max(ok, key=lambda s: s["qps"]) if ok else None
for p in ("rest", "grpc"):
    b = best(p)
    if b:
        print(f"{p}: best 1-thread QPS at recall >= 0.95: {b['qps']:.0f} (ef {b['ef']}, recall {b['recall']:.4f})")
b = best("rest")
if b:
    print(f"issue 3 search: REST {b['qps']:.0f} QPS (target >= 2500): {'met' if b['qps'] >= 2500 else 'MISSED'}")
if "rest" in up and "grpc" in up:
    r = up["rest"]["upload_seconds"] / up["grpc"]["upload_seconds"]
    print(f"issue 4 upload: REST / gRPC upload time = {r:.2f} (target >= 1.5): {'met' if r >= 1.5 else 'MISSED'}")
un = {}
for proto in ("rest", "grpc"):
    for l in lines(proto + "-noindex.jsonl"):
        if "upload" in l:
            un[proto] = l["upload"]
if "rest" in un and "grpc" in un:
    r = un["rest"]["upload_seconds"] / un["grpc"]["upload_seconds"]
    print(f"indexing off: REST upload {un['rest']['upload_seconds']:.2f} s, gRPC {un['grpc']['upload_seconds']:.2f} s")
    print(f"issue 4 upload, indexing off: REST / gRPC upload time = {r:.2f} (target >= 1.5): {'met' if r >= 1.5 else 'MISSED'}")
g, r = best("grpc"), best("rest")
if g and r:
    print(f"issue 4 search, best of each sweep: gRPC / REST QPS = {g['qps'] / r['qps']:.2f} (target >= 1): {'met' if g['qps'] >= r['qps'] else 'MISSED'}")
rr = {p: [l for l in lines(p + "-rounds.jsonl") if "qps" in l] for p in ("rest", "grpc")}
n = min(len(rr["rest"]), len(rr["grpc"]))
if n:
    ratios = sorted(rr["grpc"][i]["qps"] / rr["rest"][i]["qps"] for i in range(n))
    for i in range(n):
        a, b = rr["rest"][i], rr["grpc"][i]
        print(f"search round {i+1}: REST {a['qps']:.0f} QPS (recall {a['recall']:.4f}), gRPC {b['qps']:.0f} QPS (recall {b['recall']:.4f}), gRPC / REST = {b['qps'] / a['qps']:.2f}")
    med = ratios[n // 2] if n % 2 else (ratios[n // 2 - 1] + ratios[n // 2]) / 2
    print(f"issue 4 search, interleaved rounds: median gRPC / REST QPS = {med:.2f} (target >= 1): {'met' if med >= 1 else 'MISSED'}")
EOF
