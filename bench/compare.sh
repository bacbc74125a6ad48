#!/bin/sh
# Runs Shoal's HNSW benchmark and hnswlib's back to back with the same
# parameters and prints all JSON lines, with the machine and the load.
#   1. cmd/hnswbench (Shoal)
#   2. bench/hnswlib/bench.py with Debian's python3-hnswlib (generic x86-64
#      build: SSE kernels)
#   3. bench/hnswlib/bench.cpp: hnswlib's headers (Debian's libhnswlib-dev)
#      compiled with -O3 -march=native, if g++ and the headers are there
# Usage: bench/compare.sh [extra flags for 1 and 2, e.g. -limit 20000]
# Needs: apt-get install -y python3-hnswlib python3-numpy libhnswlib-dev g++
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/shared/data/fashion-mnist-784-euclidean}
CORE="-data $DATA -m 16 -efc 200 -threads 2 -ef 10,20,40,80,120,200,400"
PARAMS="$CORE $*"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# machine: nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
go build -o "$tmp/hnswbench" ./cmd/hnswbench
echo "# shoal: hnswbench $PARAMS"
"$tmp/hnswbench" $PARAMS
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# hnswlib (Debian python3-hnswlib): bench.py $PARAMS"
/usr/bin/python3 bench/hnswlib/bench.py $PARAMS
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -d /usr/include/hnswlib ] && command -v g++ >/dev/null 2>&1; then
	g++ -O3 -march=native -std=c++17 -pthread -w bench/hnswlib/bench.cpp -o "$tmp/hnswlib-native"
	echo "# hnswlib (libhnswlib-dev, -march=native): bench.cpp $CORE"
	"$tmp/hnswlib-native" $CORE
	echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
