#!/usr/bin/env bash
# Installs and starts what nagare's tests, demo and benchmarks need on Debian 12.
# Usage: scripts/deps.sh [ffmpeg] [versitygw] [mariadb] [players] [grpc] [pebble] [docker] [helm] [bench]
#   (no argument: everything tests need)
set -euo pipefail
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(ffmpeg versitygw mariadb players grpc pebble docker helm)
root="$(cd "$(dirname "$0")/.." && pwd)"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=""
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  echo "deps: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for w in "${want[@]}"; do
  case "$w" in
    ffmpeg)
      command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_install ffmpeg
      # libsrt (the library of srt-live-transmit, ffmpeg and OBS): the SRT refusal test builds a client on it
      apt_install libsrt-openssl-dev srt-tools pkg-config
      # systemd-analyze verifies the units under deploy/systemd
      command -v systemd-analyze >/dev/null || apt_install systemd ;;
    pebble)
      # Let's Encrypt's ACME test server and its mock DNS: the ACME tests obtain certificates from it
      command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null || apt_install pebble ;;
    versitygw)
      gobin="$(go env GOPATH)/bin"
      if [ ! -x "$gobin/versitygw" ]; then
        echo "deps: go install versitygw@v1.8.0" >&2
        go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
      fi ;;
    mariadb)
      # the server binaries are needed even when a MariaDB already answers: some tests start their own
      # (a private server they can freeze) with mariadbd and mariadb-install-db
      { [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null; } || apt_install mariadb-server
      if ! port_open 3306; then
        $SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
        echo "deps: starting mariadbd on 127.0.0.1:3306" >&2
        $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --bind-address=127.0.0.1 --port=3306
        for _ in $(seq 1 60); do port_open 3306 && break; sleep 0.5; done
        port_open 3306 || { echo "deps: mariadb did not start" >&2; exit 1; }
      fi ;;
    players)
      # third-party players the player tests drive: VLC, GStreamer (playbin, playbin3, hlsdemux), Debian's
      # Chromium (never a downloaded browser), and the npm packages of test/players/web, installed once into
      # .cache/players (reused while package.json is unchanged)
      apt_install vlc-bin vlc-plugin-base gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
        gstreamer1.0-plugins-bad gstreamer1.0-libav chromium
      # GStreamer's plugin registry is built on its first run after an install: do it now, not in a test
      gst-inspect-1.0 playbin >/dev/null 2>&1 || true
      command -v npm >/dev/null || apt_install nodejs npm
      web="$root/test/players/web" cache="$root/.cache/players"
      if ! cmp -s "$web/package.json" "$cache/package.json" || [ ! -d "$cache/node_modules" ]; then
        echo "deps: npm install into .cache/players" >&2
        mkdir -p "$cache" && cp "$web/package.json" "$cache/package.json"
        (cd "$cache" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
      fi ;;
    grpc)
      # protoc for the generated-code check (scripts/gen-proto.sh -check) and grpc-health-probe, the probe
      # Kubernetes users run against the VOD service's gRPC health
      apt_install protobuf-compiler libprotobuf-dev
      gobin="$(go env GOPATH)/bin"
      if [ ! -x "$gobin/grpc-health-probe" ]; then
        echo "deps: go install grpc-health-probe@v0.4.62" >&2
        GOBIN="$gobin" go install github.com/grpc-ecosystem/grpc-health-probe@v0.4.62
      fi ;;
    docker)
      # a real Docker Engine for the image and docker-controller tests (Debian's docker.io, started with no
      # bridge and no iptables: host networking only), and debootstrap, which makes the image's base locally
      # because no registry can be reached
      command -v dockerd >/dev/null && command -v debootstrap >/dev/null || apt_install docker.io debootstrap
      "$root/scripts/dockerd.sh" ;;
    helm)
      # helm v4, built from the Go module proxy: the chart tests run helm lint and helm template
      gobin="$(go env GOPATH)/bin"
      if [ ! -x "$gobin/helm" ]; then
        echo "deps: go install helm@v4.3.2" >&2
        GOBIN="$gobin" go install helm.sh/helm/v4/cmd/helm@v4.3.2
      fi ;;
    bench)
      apt_install nginx libnginx-mod-rtmp wrk inotify-tools awscli time jq ;;
    *) echo "deps: unknown component $w" >&2; exit 2 ;;
  esac
done
