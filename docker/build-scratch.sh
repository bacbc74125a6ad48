#!/usr/bin/env bash
# build-scratch.sh builds the static Shoal binary and the scratch image.
#
#   docker/build-scratch.sh [image tag]   (default shoal:dev)
#
# It writes dist/shoal and dist/rootfs (the image's directory tree: /qdrant
# with storage/, snapshots/ and config/, /etc with a passwd entry for uid
# 1000 and the host's CA bundle, /tmp), then builds docker/Dockerfile.scratch
# with dist/ as the context. SHOAL_DIST overrides the output directory;
# SHOAL_SKIP_DOCKER=1 stops after preparing it. SHOAL_ARCH=arm64 (or amd64)
# builds the binary and the image for that architecture (docker build
# --platform linux/<arch>; on an amd64 host the arm64 image runs under
# qemu-user binfmt, e.g. Debian's qemu-user-static):
#
#   SHOAL_ARCH=arm64 docker/build-scratch.sh shoal:dev-arm64
set -euo pipefail

tag="${1:-shoal:dev}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dist="${SHOAL_DIST:-${root}/dist}"
cd "${root}"

rm -rf "${dist}/rootfs"
mkdir -p "${dist}"
arch="${SHOAL_ARCH:-}"
CGO_ENABLED=0 GOOS=linux GOARCH="${arch:-$(go env GOARCH)}" GOFLAGS="${GOFLAGS:--mod=mod}" \
  go build -trimpath -ldflags "-s -w" -o "${dist}/shoal" ./cmd/shoal

rootfs="${dist}/rootfs"
mkdir -p "${rootfs}/qdrant/storage" "${rootfs}/qdrant/snapshots" "${rootfs}/qdrant/config" \
  "${rootfs}/etc/ssl/certs" "${rootfs}/tmp"
chmod 1777 "${rootfs}/tmp"
cp docker/config.yaml "${rootfs}/qdrant/config/config.yaml"
printf 'root:x:0:0:root:/:/sbin/nologin\nshoal:x:1000:1000:shoal:/qdrant:/sbin/nologin\n' > "${rootfs}/etc/passwd"
printf 'root:x:0:\nshoal:x:1000:\n' > "${rootfs}/etc/group"
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  cp /etc/ssl/certs/ca-certificates.crt "${rootfs}/etc/ssl/certs/ca-certificates.crt"
else
  : > "${rootfs}/etc/ssl/certs/ca-certificates.crt"
  echo "warning: no CA bundle on this host; the image cannot verify TLS peers (S3 over https)" >&2
fi

if [[ "${SHOAL_SKIP_DOCKER:-}" == "1" ]]; then
  exit 0
fi
platform=()
if [[ -n "${arch}" ]]; then
  platform=(--platform "linux/${arch}")
fi
docker build -q "${platform[@]}" -f docker/Dockerfile.scratch -t "${tag}" "${dist}"
