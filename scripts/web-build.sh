#!/usr/bin/env bash
# Builds the browser code nagare embeds. web/package-lock.json pins every package; `npm ci` installs them
# into .cache/web (never a node_modules in the tree). From there:
#   - the console and the public site (web/src, TypeScript + Preact) are type-checked and built by Vite into
#     internal/webui/assets/app;
#   - the hls.js the older pages load is copied into internal/webui/assets/vendor, and nagare's hls.js guard
#     (web/src/common/hls-guard.js) into internal/webui/assets/js, for the older pages and the player tests.
# A release build needs neither Node.js nor a CDN: the output is committed, like generated code.
# Usage: scripts/web-build.sh            rebuild the committed output
#        scripts/web-build.sh -check     build into a scratch directory and fail if the committed output differs
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
app="$root/internal/webui/assets/app"
out="$vendor" appout="$app"
if [ -n "$check" ]; then
  scratch="$(mktemp -d)"
  out="$scratch/vendor" appout="$scratch/app"
fi
mkdir -p "$out"

# the sources in a fresh directory beside a link to the installed packages (Vite resolves imports from the
# project's node_modules): a file removed from web/ is gone from the build, and builds may run side by side
build="$(mktemp -d)"
trap 'rm -rf "$build" ${scratch:+"$scratch"}' EXIT
ln -s "$cache/node_modules" "$build/node_modules"
cp -r web/src web/vite.config.ts web/tsconfig.json web/package.json "$build/"
cp web/*.html "$build/"
[ -z "${WEB_OUT:-}" ] || appout="$WEB_OUT" # a helper's own build: WEB_OUT=/tmp/x scripts/web-build.sh
(cd "$build" && ./node_modules/.bin/tsc --noEmit -p . && ./node_modules/.bin/vite build --logLevel warn --outDir "$appout") ||
  { echo "web-build: the console or site does not type-check or build (web/src)" >&2; exit 1; }
guard="$root/internal/webui/assets/js/hls-guard.js"
if [ -n "$check" ]; then
  cmp -s web/src/common/hls-guard.js "$guard" ||
    { echo "web-build: internal/webui/assets/js/hls-guard.js differs from web/src/common/hls-guard.js (run scripts/web-build.sh and commit)" >&2; exit 1; }
else
  cp web/src/common/hls-guard.js "$guard"
fi
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
  if ! diff -r "$appout" "$app" >/dev/null; then
    echo "web-build: internal/webui/assets/app differs from what web/ builds (run scripts/web-build.sh and commit):" >&2
    diff -rq "$appout" "$app" >&2 || true
    status=1
  fi
  # a file left in vendor/ that the list no longer names would still be embedded and served
  for f in "$vendor"/*; do
    [ -e "$out/$(basename "$f")" ] || { echo "web-build: internal/webui/assets/vendor/$(basename "$f") is not built from web/ (remove it)" >&2; status=1; }
  done
  exit $status
fi
