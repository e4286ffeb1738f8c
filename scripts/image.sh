#!/usr/bin/env bash
# Builds nagare's container images from deploy/Dockerfile: nagare:VERSION (with ffmpeg) and
# nagare:VERSION-slim, both from the static binary that scripts/release.sh builds for this machine's
# architecture. Where no registry can be reached (NAGARE_IMAGE_BASE unset and debian:bookworm-slim not on
# the Docker host), the base is made here: debootstrap of Debian 12 with ffmpeg, imported with docker import
# as nagare-base:bookworm, once per Docker host.
# Usage: scripts/image.sh [VERSION]    (make image passes git describe; prints the full image's name)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
version="${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
repo="${NAGARE_IMAGE_REPO:-nagare}"
arch="$(go env GOARCH)"

base="${NAGARE_IMAGE_BASE:-}"
if [ -z "$base" ]; then
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    base=debian:bookworm-slim
  else
    base=nagare-base:bookworm
    docker image inspect "$base" >/dev/null 2>&1 || "$root/scripts/base-image.sh" "$base"
  fi
fi

ctx="$root/.cache/image/context"
OUT="$ctx/dist" ARCHES="$arch" scripts/release.sh "$version" >/dev/null
cp "$ctx/dist/nagare-${version}-linux-${arch}" "$ctx/nagare-linux-${arch}"
rm -rf "$ctx/dist" "$ctx/image" && cp -r deploy/image "$ctx/image"

build() { # target tag
  docker build -q -f deploy/Dockerfile --target "$1" -t "$2" \
    --build-arg BASE="$base" --build-arg TARGETARCH="$arch" --build-arg VERSION="$version" "$ctx" >/dev/null
  echo "image: $2 ($(docker image inspect -f '{{.Size}}' "$2" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
}
build slim "$repo:$version-slim"
build full "$repo:$version"
echo "$repo:$version"
