#!/usr/bin/env bash
# Copies the browser code nagare embeds from npm into internal/webui/assets/vendor: web/package-lock.json pins
# it, `npm ci` installs it into .cache/web (never a node_modules in the tree), and the files the pages load
# are copied from there. A release build needs neither Node.js nor a CDN: the copies are committed.
# Usage: scripts/web-build.sh            refresh the committed copies from the lock file
#        scripts/web-build.sh -check     copy into a scratch directory and fail if the committed copies differ
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

check=""
case "${1:-}" in
  "") ;;
  -check) check=1 ;;
  *) echo "usage: scripts/web-build.sh [-check]" >&2; exit 2 ;;
esac

if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "web-build: installing nodejs and npm" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# npm ci again only when the lock file changed (npm ci itself checks every package against its integrity)
cache="$root/.cache/web"
if ! cmp -s web/package-lock.json "$cache/package-lock.json" || ! cmp -s web/package.json "$cache/package.json" ||
  [ ! -d "$cache/node_modules" ]; then
  echo "web-build: npm ci into .cache/web" >&2
  rm -rf "$cache"
  mkdir -p "$cache"
  cp web/package.json web/package-lock.json "$cache/"
  (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi

# what the pages load, and the licences that must travel with it: <path under node_modules> <name in vendor/>
files=(
  "hls.js/dist/hls.min.js hls.min.js"
  "hls.js/LICENSE hls.js.LICENSE.txt"
)

vendor="$root/internal/webui/assets/vendor"
out="$vendor"
if [ -n "$check" ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
for f in "${files[@]}"; do
  read -r src dst <<<"$f"
  [ -f "$cache/node_modules/$src" ] || { echo "web-build: $src is not in the npm package (did its layout change?)" >&2; exit 1; }
  cp "$cache/node_modules/$src" "$out/$dst"
done

if [ -n "$check" ]; then
  status=0
  for f in "${files[@]}"; do
    read -r src dst <<<"$f"
    if ! cmp -s "$out/$dst" "$vendor/$dst"; then
      echo "web-build: internal/webui/assets/vendor/$dst differs from $src of web/package-lock.json (run scripts/web-build.sh and commit)" >&2
      status=1
    fi
  done
  # a file left in vendor/ that the list no longer names would still be embedded and served
  for f in "$vendor"/*; do
    [ -e "$out/$(basename "$f")" ] || { echo "web-build: internal/webui/assets/vendor/$(basename "$f") is not built from web/ (remove it)" >&2; status=1; }
  done
  exit $status
fi
