#!/bin/sh
# Copies programs and exactly the shared libraries they load (their ldd closure, the loader included) into
# a root directory, so that a FROM scratch image carries ffmpeg without the distribution around it.
# Usage: collect-runtime.sh OUTDIR PROGRAM...
set -eu
out="$1"
shift
mkdir -p "$out"
for prog in "$@"; do
  cp --parents -L "$prog" "$out"
  ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    cp --parents -L -n "$lib" "$out"
  done
done
# the loader finds the multiarch directories through its cache, which names the same paths
mkdir -p "$out/etc"
cp -L /etc/ld.so.cache "$out/etc/ld.so.cache"
