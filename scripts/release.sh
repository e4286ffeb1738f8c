#!/usr/bin/env bash
# Builds the release binaries of nagare: static (no cgo: the SQLite driver is pure Go), for linux/amd64 and
# linux/arm64, the version stamped, stripped, reproducible paths (-trimpath), with their SHA-256 sums.
# Usage: scripts/release.sh VERSION   (make release passes git describe)
#   ARCHES="amd64" OUT=dir scripts/release.sh VERSION builds only those architectures into dir (make image does)
set -euo pipefail
version="${1:?usage: scripts/release.sh VERSION}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out_dir="${OUT:-dist}"
rm -rf "$out_dir" && mkdir -p "$out_dir"
for arch in ${ARCHES:-amd64 arm64}; do
  out="$out_dir/nagare-${version}-linux-${arch}"
  CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath \
    -ldflags "-s -w -X github.com/nagare-video/nagare/internal/version.Version=${version}" -o "$out" ./cmd/nagare
  echo "release: $out ($(du -h "$out" | cut -f1))" >&2
done
(cd "$out_dir" && sha256sum nagare-* > SHA256SUMS)
# the host's binary must say its version, and be static
host="$out_dir/nagare-${version}-linux-$(go env GOARCH)"
"$host" version | grep -qF "$version" || { echo "release: $host does not report version $version" >&2; exit 1; }
if file "$host" | grep -q "dynamically linked"; then echo "release: $host is not static" >&2; exit 1; fi
cat "$out_dir/SHA256SUMS"
