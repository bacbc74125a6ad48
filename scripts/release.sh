#!/usr/bin/env bash
# release.sh builds Shoal's release binaries: static (CGO_ENABLED=0),
# -trimpath, stripped, for linux/amd64 and linux/arm64, into
# ${SHOAL_RELEASE_DIR:-dist/release} as shoal-linux-<arch> with a
# SHA256SUMS file. Then, on arm64 under qemu-user (qemu-aarch64-static from
# the Debian package qemu-user-static, or a registered binfmt handler), it
# runs the distance-kernel tests of the generic Go kernels
# (internal/vecmath, -tags noasm) and the binary's `version` command. When
# qemu is missing that step is skipped with a message (a failure under
# CI=true, like the other tool checks). SHOAL_RELEASE_ARCHES overrides the
# architectures ("amd64 arm64").
#
# The arm64 image: SHOAL_ARCH=arm64 docker/build-scratch.sh shoal:dev-arm64
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out="${SHOAL_RELEASE_DIR:-dist/release}"
mkdir -p "${out}"
arches="${SHOAL_RELEASE_ARCHES:-amd64 arm64}"
for arch in ${arches}; do
  bin="${out}/shoal-linux-${arch}"
  CGO_ENABLED=0 GOOS=linux GOARCH="${arch}" go build -trimpath -ldflags "-s -w" -o "${bin}" ./cmd/shoal
  # Static: built without cgo (the Go linker then needs no interpreter).
  if ! go version -m "${bin}" | grep -q 'CGO_ENABLED=0'; then
    echo "${bin} was not built with CGO_ENABLED=0" >&2
    exit 1
  fi
  echo "built ${bin}"
done
(cd "${out}" && sha256sum shoal-linux-* > SHA256SUMS)

ci=false
[[ "${CI:-}" =~ ^(true|1|yes)$ ]] && ci=true
if [[ " ${arches} " == *" arm64 "* && "$(go env GOHOSTARCH)" != arm64 ]]; then
  qemu="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
  if [[ -z "${qemu}" && -x /usr/bin/apt-get && "$(id -u)" == 0 ]]; then
    echo "installing qemu-user-static with apt-get" >&2
    (apt-get install -y -qq qemu-user-static >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq qemu-user-static)) >/dev/null 2>&1 || true
    qemu="$(command -v qemu-aarch64-static || true)"
  fi
  if [[ -n "${qemu}" ]]; then
    CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go test -count=1 -tags noasm -exec "${qemu}" ./internal/vecmath/
    "${qemu}" "${out}/shoal-linux-arm64" version
  elif [[ "${ci}" == true ]]; then
    echo "CI=true, and qemu-aarch64-static is missing (apt-get install qemu-user-static): the arm64 tests cannot run" >&2
    exit 1
  else
    echo "qemu-aarch64-static not found (apt-get install qemu-user-static): skipping the arm64 tests" >&2
  fi
fi
