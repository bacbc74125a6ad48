#!/bin/sh
# Runs one search mode of internal/shard's TestRSSOnDisk inside a memory
# cgroup, to show that a collection runs within a memory limit although
# its mapped files' pages count in VmRSS (docs/benchmarks.md, "HNSW graph
# on_disk and the 0.4 target").
#
# It creates a child memory cgroup of this shell's own (cgroup v1, as on
# the benchmark machine: /sys/fs/cgroup/memory/...; limits nest, so the
# run stays within the parent's), sets memory.limit_in_bytes, evicts the
# shard directory's files and the test binary from the page cache (so the
# pages the run reads are charged to it, not to whoever cached them
# before), runs the test in it and appends the cgroup's peak usage, its
# failures to charge (failcnt: reclaims at the limit), major faults and
# OOM kills to the log, then removes the cgroup. Needs root.
#
# Usage: bench/rss_cgroup.sh LIMIT_BYTES GOMEMLIMIT MODE LOG
# Environment: BIN (the test binary, go test -c of internal/shard; default
# /tmp/shard-rss.test), DIR (the shard directory of mode build; default
# /tmp/rss1m), N (its point count; default 1000000).
set -e
LIMIT=$1 GOML=$2 MODE=$3 LOG=$4
BIN=${BIN:-/tmp/shard-rss.test} DIR=${DIR:-/tmp/rss1m} N=${N:-1000000}
CG=/sys/fs/cgroup/memory$(grep ':memory:' /proc/self/cgroup | cut -d: -f3)/shoal-rss-$$
mkdir "$CG"
echo "$LIMIT" > "$CG/memory.limit_in_bytes"
BIN=$BIN DIR=$DIR python3 - <<'PY'
import os
paths = [os.environ['BIN']]
for root, _, files in os.walk(os.environ['DIR']):
    paths += [os.path.join(root, f) for f in files]
for p in paths:
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
(date -u; uptime) > "$LOG"
sh -c "echo \$\$ > $CG/cgroup.procs; exec env GOMEMLIMIT=$GOML SHOAL_BENCH_RSS_N=$N SHOAL_BENCH_RSS_DIR=$DIR SHOAL_BENCH_RSS_MODE=$MODE \
  nice -n 10 /usr/bin/time -v $BIN -test.run TestRSSOnDisk -test.v -test.timeout 60m" >> "$LOG" 2>&1 || echo "exit status $?" >> "$LOG"
(date -u; uptime) >> "$LOG"
echo "cgroup after exit: limit $(cat "$CG/memory.limit_in_bytes") max_usage $(cat "$CG/memory.max_usage_in_bytes") failcnt $(cat "$CG/memory.failcnt")" >> "$LOG"
grep -E '^total_(rss|cache|mapped_file|pgmajfault) ' "$CG/memory.stat" >> "$LOG"
grep -E '^oom_kill ' "$CG/memory.oom_control" >> "$LOG" || true
echo 0 > "$CG/memory.force_empty" 2>/dev/null || true
rmdir "$CG"
