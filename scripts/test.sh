#!/usr/bin/env bash
# test.sh runs every test of the repository after the setup they need:
#   1. the VersityGW S3 server for the snapshot S3 tests
#      (scripts/install-versitygw.sh; about 5 minutes the first time,
#      cached in ~/.cache/shoal-tools afterwards);
#   2. gofmt and go vet over the module;
#   3. go test ./... , which includes the real-process tests, the
#      fresh-clone test of the README and, where Docker answers, the
#      container smoke test (tests/e2e);
#   4. go test -race over the packages where goroutines share state
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
    ./internal/clustertest/
fi
