#!/bin/bash
# Measures a real shoal process's CPU (utime+stime from /proc) over $DUR s
# with the canary at 1 s and with it off, standalone.
DUR=${DUR:-90}
BIN=${1:?usage: bench/canary_cpu.sh path/to/shoal}
run() { # $1 enabled $2 port
  d=$(mktemp -d)
  SHOAL__CANARY__ENABLED=$1 SHOAL__CANARY__INTERVAL_SEC=1 QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT=$2 QDRANT__SERVICE__GRPC_PORT=$(($2+1)) \
    QDRANT__STORAGE__STORAGE_PATH=$d/s QDRANT__STORAGE__SNAPSHOTS_PATH=$d/p "$BIN" >$d/log 2>&1 &
  echo $!
}
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
A=$(run true 17333); B=$(run false 17433)
sleep 5
a0=$(ticks $A); b0=$(ticks $B)
sleep $DUR
a1=$(ticks $A); b1=$(ticks $B)
curl -s 127.0.0.1:17333/metrics | grep -E '^shoal_canary_runs_total' 
kill $A $B; wait
hz=$(getconf CLK_TCK)
echo "canary on (1 s): $(( (a1-a0) )) ticks over ${DUR}s; off: $(( (b1-b0) )) ticks; CLK_TCK=$hz"
