#!/bin/sh
# Runs Shoal's HNSW benchmark and hnswlib's back to back with the same
# parameters and prints both sets of JSON lines, with the machine and load.
# Usage: bench/compare.sh [extra flags for both, e.g. -limit 20000]
# Needs: apt-get install -y python3-hnswlib python3-numpy
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/shared/data/fashion-mnist-784-euclidean}
PARAMS="-data $DATA -m 16 -efc 200 -threads 2 -ef 10,20,40,80,120,200,400 $*"
echo "# machine: nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
go build -o /tmp/hnswbench.$$ ./cmd/hnswbench
echo "# shoal: hnswbench $PARAMS"
/tmp/hnswbench.$$ $PARAMS
rm -f /tmp/hnswbench.$$
echo "# load between: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# hnswlib: bench.py $PARAMS"
/usr/bin/python3 bench/hnswlib/bench.py $PARAMS
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
