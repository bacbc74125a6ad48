#!/usr/bin/env bash
# test.sh runs every test of the repository after the setup they need:
#   1. the VersityGW S3 server for the snapshot S3 tests
#      (scripts/install-versitygw.sh; about 5 minutes the first time,
#      cached in ~/.cache/shoal-tools afterwards);
#   2. gofmt and go vet over the module;
#   3. go test ./... , which includes the real-process tests, the
#      fresh-clone test of the README and, where Docker answers, the
#      container smoke test (tests/e2e).
# Extra arguments go to go test (for example -run, -count=1, -short).
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
