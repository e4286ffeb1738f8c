#!/usr/bin/env bash
# Starts a Docker Engine for the image and docker-controller tests when none answers on the default socket.
# The engine gets no bridge and no iptables rules: containers here use host networking only.
set -euo pipefail
docker info >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
log=/var/log/nagare-dockerd.log
echo "deps: starting dockerd (--bridge=none --iptables=false), log in $log" >&2
$SUDO sh -c "nohup dockerd --bridge=none --iptables=false --ip6tables=false >$log 2>&1 &"
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done
echo "deps: dockerd did not start; the end of $log:" >&2
tail -20 "$log" >&2
exit 1
