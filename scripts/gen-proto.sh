#!/usr/bin/env bash
# Generates the Go code of proto/ into internal/ with Debian's protoc and the pinned Go plugins.
# Usage: scripts/gen-proto.sh            regenerate in place
#        scripts/gen-proto.sh -check     regenerate into a scratch copy and fail if it differs from what is committed
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.6.2

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v protoc >/dev/null || [ ! -f /usr/include/google/protobuf/timestamp.proto ]; then
  echo "gen-proto: installing protobuf-compiler" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends protobuf-compiler libprotobuf-dev >/dev/null
fi
bin="$root/.cache/protoc-bin"
mkdir -p "$bin"
[ -x "$bin/protoc-gen-go" ] && [ "$(cat "$bin/.go" 2>/dev/null)" = "$PROTOC_GEN_GO" ] ||
  { GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO" && echo "$PROTOC_GEN_GO" >"$bin/.go"; }
[ -x "$bin/protoc-gen-go-grpc" ] && [ "$(cat "$bin/.grpc" 2>/dev/null)" = "$PROTOC_GEN_GO_GRPC" ] ||
  { GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC" && echo "$PROTOC_GEN_GO_GRPC" >"$bin/.grpc"; }

out="$root"
if [ "${1:-}" = "-check" ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
module=github.com/nagare-video/nagare
mapfile -t protos < <(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
PATH="$bin:$PATH" protoc -I proto -I /usr/include \
  --go_out="$out" --go_opt=module="$module" \
  --go-grpc_out="$out" --go-grpc_opt=module="$module" \
  "${protos[@]}"

if [ "${1:-}" = "-check" ]; then
  status=0
  while IFS= read -r f; do
    rel="${f#"$out"/}"
    if ! cmp -s "$f" "$root/$rel"; then
      echo "generated code is stale: $rel (run scripts/gen-proto.sh and commit)" >&2
      status=1
    fi
  done < <(find "$out" -name '*.pb.go')
  exit $status
fi
