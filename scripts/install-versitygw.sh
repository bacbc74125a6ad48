#!/usr/bin/env bash
# install-versitygw.sh builds the VersityGW S3 server used by the snapshot
# package's S3 tests (internal/snapshot) and prints the binary's path.
#
# It is idempotent: when the pinned version is already installed in the cache
# directory it only prints the path. Override the cache with SHOAL_TOOLS_DIR.
# A cold build takes about five minutes on two cores.
set -euo pipefail

VERSION="v1.8.0"
TOOLS_DIR="${SHOAL_TOOLS_DIR:-${HOME}/.cache/shoal-tools}"
BIN_DIR="${TOOLS_DIR}/bin"
BIN="${BIN_DIR}/versitygw"
STAMP="${BIN_DIR}/.versitygw-version"

if [[ -x "${BIN}" && -f "${STAMP}" && "$(cat "${STAMP}")" == "${VERSION}" ]]; then
  echo "${BIN}"
  exit 0
fi

mkdir -p "${BIN_DIR}"
echo "building versitygw ${VERSION} into ${BIN_DIR} (about 5 minutes cold)..." >&2
# GOFLAGS from the caller (e.g. -mod=mod) must not leak into go install of a
# foreign module; GOBIN selects the destination.
GOFLAGS="" GOBIN="${BIN_DIR}" go install "github.com/versity/versitygw/cmd/versitygw@${VERSION}"
echo "${VERSION}" > "${STAMP}"
"${BIN}" --version >/dev/null 2>&1 || true
echo "${BIN}"
