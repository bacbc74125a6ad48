#!/usr/bin/env bash
# test.sh runs every test of the repository after the setup they need:
#   1. the VersityGW S3 server for the snapshot S3 tests
#      (scripts/install-versitygw.sh; about 5 minutes the first time,
#      cached in ~/.cache/shoal-tools afterwards);
#   2. promtool (Debian package prometheus) for the alert rule tests
#      (deploy/prometheus/alerts_test.yml) and the dashboard test
#      (tests/e2e, a real Prometheus over a 3-node cluster): installed with
#      apt-get when missing and possible; otherwise skipped with a message,
#      or a failure under CI=true;
#   3. gofmt and go vet over the module;
#   4. go test ./... , which includes the real-process tests, the
#      fresh-clone test of the README and, where Docker answers, the
#      container smoke test (tests/e2e);
#   5. go test -race over the packages where goroutines share state
#      (the HNSW graph, the vector store, shards, collections, the service,
#      both API adapters, the peer port, Raft and the in-process and
#      real-process cluster tests); SHOAL_RACE=0 skips it.
# Extra arguments go to both go test runs (for example -run, -count=1,
# -short).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z "${SHOAL_VERSITYGW:-}" ]]; then
  SHOAL_VERSITYGW="$(scripts/install-versitygw.sh)"
  export SHOAL_VERSITYGW
fi

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "installing prometheus (promtool) with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus) >/dev/null || true
  fi
fi
if command -v promtool >/dev/null 2>&1; then
  (cd deploy/prometheus && promtool check rules alerts.yml && promtool test rules alerts_test.yml)
elif [[ "${CI:-}" =~ ^(true|1|yes)$ ]]; then
  echo "CI=true, and promtool is missing (apt-get install prometheus): the alert rule tests cannot run" >&2
  exit 1
else
  echo "promtool not found (apt-get install prometheus): skipping the alert rule tests" >&2
fi

unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))"
if [[ -n "${unformatted}" ]]; then
  echo "gofmt needed on:" >&2
  echo "${unformatted}" >&2
  exit 1
fi
go vet ./...
go test -timeout 20m "$@" ./...
if [[ "${SHOAL_RACE:-1}" != 0 ]]; then
  if ! command -v "$(go env CC)" >/dev/null 2>&1; then
    echo "the race detector needs a C compiler ($(go env CC)); install gcc or set SHOAL_RACE=0" >&2
    exit 1
  fi
  CGO_ENABLED=1 go test -race -timeout 20m "$@" ./internal/index/... ./internal/shard/ ./internal/collection/ \
    ./internal/service/ ./internal/grpcapi/ ./internal/rest/ ./internal/p2p/ ./internal/cluster/... \
    ./internal/replica/ ./internal/canary/ ./internal/clustertest/
fi
