#!/usr/bin/env bash
# qdrant-openapi-suite.sh runs Qdrant's own REST test suite (pytest, the
# tests/openapi directory of a qdrant/qdrant checkout; not vendored here)
# against one fresh Shoal node:
#   1. builds cmd/shoal (CGO_ENABLED=0) into a temporary directory;
#   2. starts one node on free loopback ports with a temporary data
#      directory, and waits for /readyz;
#   3. runs pytest over the suite with QDRANT_HOST pointing at the node
#      and OPENAPI_FILE at the spec (default: the checkout's
#      docs/redoc/master/openapi.json when present, else
#      ../shared/reference/qdrant-openapi.json beside this repository);
#   4. prints the passed/failed/error/skipped counts, the pass percentage
#      and the failing test ids, then stops the node.
#
# Usage: scripts/qdrant-openapi-suite.sh <path-to-qdrant/tests/openapi> [pytest args...]
#
# Environment:
#   PYTHON            interpreter with pytest, requests, jsonschema, retry and
#                     schemathesis importable (default: the first python3 that
#                     imports pytest; /usr/bin/python3 is tried first)
#   QSUITE_PYTHONPATH prepended to PYTHONPATH (default: scripts/qdrant-suite-shim,
#                     Shoal's stand-in schemathesis and more_itertools.batched,
#                     when PYTHON cannot import schemathesis or batched)
#   OPENAPI_FILE      the OpenAPI document the suite validates against
#   QSUITE_KEEP=1     keep the node's directory and log after the run
#   QSUITE_REPORT     write pytest's JUnit XML report to this path
#   QSUITE_FILES      space-separated test files of the suite to run (e.g.
#                     "test_filter.py test_fts.py") instead of all of them
# Exit status: 0 when every collected test passed, 1 otherwise.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 <path-to-qdrant/tests/openapi> [pytest args...]" >&2
  exit 2
fi
suite="$(cd "$1" && pwd)"
shift
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -z "${PYTHON:-}" ]]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import pytest' 2>/dev/null; then
      PYTHON="$p"
      break
    fi
  done
fi
if [[ -z "${PYTHON:-}" ]]; then
  echo "no python3 with pytest found (Debian: apt-get install python3-pytest python3-requests python3-jsonschema python3-retry)" >&2
  exit 2
fi

if [[ -z "${QSUITE_PYTHONPATH:-}" ]] && ! "$PYTHON" -c 'import schemathesis; from more_itertools import batched' 2>/dev/null; then
  QSUITE_PYTHONPATH="$repo/scripts/qdrant-suite-shim"
fi
for m in requests jsonschema retry; do
  if ! "$PYTHON" -c "import $m" 2>/dev/null; then
    echo "$PYTHON cannot import $m (Debian: apt-get install python3-pytest python3-requests python3-jsonschema python3-retry)" >&2
    exit 2
  fi
done

if [[ -z "${OPENAPI_FILE:-}" ]]; then
  if [[ -f "$suite/../../docs/redoc/master/openapi.json" ]]; then
    OPENAPI_FILE="$(cd "$suite/../../docs/redoc/master" && pwd)/openapi.json"
  else
    # shared/ beside the repository (or beside a worktree's parent).
    for d in "$repo/../shared" "$repo/../../shared"; do
      if [[ -f "$d/reference/qdrant-openapi.json" ]]; then
        OPENAPI_FILE="$(cd "$d/reference" && pwd)/qdrant-openapi.json"
        break
      fi
    done
  fi
fi
if [[ ! -f "${OPENAPI_FILE:-}" ]]; then
  echo "OpenAPI document not found: $OPENAPI_FILE (set OPENAPI_FILE)" >&2
  exit 2
fi

work="$(mktemp -d /tmp/shoal-qsuite.XXXXXX)"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [[ "${QSUITE_KEEP:-}" == 1 ]]; then
    echo "kept $work (node log: $work/shoal.log)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

echo "building shoal" >&2
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/shoal" ./cmd/shoal)

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
http_port="$(free_port)"
grpc_port="$(free_port)"
while [[ "$grpc_port" == "$http_port" ]]; do grpc_port="$(free_port)"; done

mkdir -p "$work/node"
# The node runs in its own directory, so no config/config.yaml of the
# caller's is picked up: built-in defaults plus these flags.
(cd "$work/node" && exec "$work/shoal" \
  --service.host 127.0.0.1 \
  --service.http_port "$http_port" \
  --service.grpc_port "$grpc_port" \
  --storage.storage_path "$work/node/storage" \
  --storage.snapshots_path "$work/node/snapshots" \
  --disable-telemetry >"$work/shoal.log" 2>&1) &
pid=$!

host="http://127.0.0.1:$http_port"
ready=""
for _ in $(seq 1 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "shoal exited during start; its log:" >&2
    cat "$work/shoal.log" >&2
    exit 1
  fi
  if "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen('$host/readyz', timeout=1)" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "shoal did not become ready at $host; its log:" >&2
  cat "$work/shoal.log" >&2
  exit 1
fi
echo "shoal ready at $host (data $work/node); suite $suite; spec $OPENAPI_FILE" >&2

report="${QSUITE_REPORT:-$work/report.xml}"
targets=("$suite")
if [[ -n "${QSUITE_FILES:-}" ]]; then
  targets=()
  for f in $QSUITE_FILES; do targets+=("$suite/$f"); done
fi
timeout_args=()
if "$PYTHON" -c 'import pytest_timeout' 2>/dev/null; then
  timeout_args=(--timeout=120)
fi
set +e
(
  cd "$suite/.."
  QDRANT_HOST="$host" OPENAPI_FILE="$OPENAPI_FILE" \
    PYTHONPATH="${QSUITE_PYTHONPATH:+$QSUITE_PYTHONPATH:}${PYTHONPATH:-}" \
    PYTHONDONTWRITEBYTECODE=1 \
    "$PYTHON" -m pytest "${targets[@]}" -p no:cacheprovider -q -rfE \
      --junitxml="$report" "${timeout_args[@]}" "$@"
)
status=$?
set -e

"$PYTHON" - "$report" <<'PY'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
passed = failed = errors = skipped = 0
failing = []
for case in root.iter("testcase"):
    name = f'{case.get("classname")}::{case.get("name")}'
    kinds = {child.tag for child in case}
    if "failure" in kinds:
        failed += 1
        failing.append("FAILED " + name)
    elif "error" in kinds:
        errors += 1
        failing.append("ERROR  " + name)
    elif "skipped" in kinds:
        skipped += 1
    else:
        passed += 1
ran = passed + failed + errors
pct = 100.0 * passed / ran if ran else 0.0
for line in failing:
    print(line)
print(f"qdrant openapi suite: {passed} passed, {failed} failed, {errors} errors, {skipped} skipped: "
      f"{pct:.1f}% of {ran} passed")
PY
if [[ "$status" -ne 0 ]]; then
  echo "node log: $work/shoal.log$([[ "${QSUITE_KEEP:-}" == 1 ]] || echo ' (removed; QSUITE_KEEP=1 keeps it)')" >&2
  exit 1
fi
