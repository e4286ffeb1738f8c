#!/usr/bin/env bash
# Makes a Debian 12 base image with ffmpeg on a Docker host that cannot pull one: debootstrap (minbase, from
# Debian's mirror) into a temporary root, then docker import. deploy/Dockerfile takes only ffmpeg, its
# libraries and the CA certificates out of it.
# Usage: scripts/base-image.sh NAME[:TAG]
set -euo pipefail
name="${1:?usage: scripts/base-image.sh NAME[:TAG]}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
rootfs="$(mktemp -d)"
trap '$SUDO rm -rf "$rootfs"' EXIT
echo "image: debootstrap bookworm with ffmpeg into $rootfs (about a minute)" >&2
$SUDO debootstrap --variant=minbase --include=ffmpeg,ca-certificates bookworm "$rootfs" "$mirror" >/dev/null
$SUDO tar -C "$rootfs" -c . | docker import -m "debootstrap bookworm minbase + ffmpeg" - "$name" >/dev/null
echo "image: $name imported" >&2
