#!/usr/bin/env bash
# Benchmarks the nagare origin against nginx-rtmp and a static nginx, the VOD service against aws-cli
# and a static nginx, the origin's live ABR ladder against the bare ffmpeg command and nginx-rtmp with
# exec ffmpeg, the console's and site's pages in Chromium, and the load generator's player model against hls.js, in one run and writes docs/benchmarks.md. `make bench` builds bin/nagare, installs the tools (scripts/deps.sh ffmpeg bench)
# and runs this script. The measuring is done by `nagare bench <command>` (internal/bench); this script
# makes the clip, starts and stops the servers on free loopback ports, and calls those commands.
# Usage: scripts/bench.sh [path/to/nagare]
set -euo pipefail

BIN=${1:-bin/nagare}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac

CACHE=.cache/bench
CLIP_FLV=$CACHE/clip.flv
CLIP_TS=$CACHE/clip.ts
RAW=$CACHE/last-run
OUT=docs/benchmarks.md
RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
# Overridable for a quick try, e.g. BENCH_PHASES=ingest BENCH_STREAMS=4 BENCH_WINDOW=5s scripts/bench.sh
# or BENCH_PHASES=vod BENCH_VOD_SIZE=256MiB BENCH_VOD_ROUNDS=1 scripts/bench.sh
LAG=${BENCH_LAG:-10s}
WRK=${BENCH_WRK:-2s}
ROUNDS=${BENCH_ROUNDS:-3}
MANAGER_WRK=${BENCH_MANAGER_WRK:-3s}
WINDOW=${BENCH_WINDOW:-10s}
ACKCHECK=${BENCH_ACKCHECK:-10s}
STREAMS=${BENCH_STREAMS:-1 4 16}
EDGE=${BENCH_EDGE:-10s}
BUCKET=${BENCH_BUCKET:-20s}
GLASS=${BENCH_GLASS:-6s}
GLASS_SESSIONS=${BENCH_GLASS_SESSIONS:-3}
VOD_SIZE=${BENCH_VOD_SIZE:-384MiB}
VOD_ROUNDS=${BENCH_VOD_ROUNDS:-2}
VOD_WRK=${BENCH_VOD_WRK:-5s}
WEBRTC_GLASS=${BENCH_WEBRTC_GLASS:-8s}
WEBRTC_STARTS=${BENCH_WEBRTC_STARTS:-5}
WEBRTC_STEP=${BENCH_WEBRTC_STEP:-50}
WEBRTC_HOLD=${BENCH_WEBRTC_HOLD:-6s}
WEBRTC_BUDGET=${BENCH_WEBRTC_BUDGET:-80s}
ABR_RUNS=${BENCH_ABR_RUNS:-3}
ABR_ROUNDS=${BENCH_ABR_ROUNDS:-2}
ABR_WARMUP=${BENCH_ABR_WARMUP:-4s}
ABR_WINDOW=${BENCH_ABR_WINDOW:-12s}
ABR_RUNG_WINDOW=${BENCH_ABR_RUNG_WINDOW:-8s}
IMAGE_STARTS=${BENCH_IMAGE_STARTS:-3}
LOADTEST_VIEWERS=${BENCH_LOADTEST_VIEWERS:-1000 2000}
LOADTEST_HOLD=${BENCH_LOADTEST_HOLD:-12s}
CURVES_STREAMS=${BENCH_CURVES_STREAMS:-1 16 64 128}
CURVES_WINDOW=${BENCH_CURVES_WINDOW:-5s}
CURVES_WRK=${BENCH_CURVES_WRK:-2s}
CURVES_NODES=${BENCH_CURVES_NODES:-100,1000,10000}
CURVES_TICK_NODES=${BENCH_CURVES_TICK_NODES:-1000,10000}
WEB_RUNS=${BENCH_WEB_RUNS:-5}
WEB_WINDOW=${BENCH_WEB_WINDOW:-12s}
MODEL_SESSIONS=${BENCH_MODEL_SESSIONS:-5}
MODEL_WARMUP=${BENCH_MODEL_WARMUP:-2s}
MODEL_WINDOW=${BENCH_MODEL_WINDOW:-3s}
ALL_PHASES="latency fanout ingest manager autoscale bucket glass vod webrtc abr image steering curves web model"
PHASES=${BENCH_PHASES:-$ALL_PHASES}
COMMAND="make bench"
# A partial run does not replace the full report; with BENCH_SPLICE=1, the sections it measured that
# `nagare bench report -section` renders (vod, webrtc, abr, web, model) replace theirs in docs/benchmarks.md, the rest staying as is.
if [ "$PHASES" != "$ALL_PHASES" ]; then
  OUT=$RAW/benchmarks.md
  COMMAND="BENCH_PHASES=\"$PHASES\"${BENCH_SPLICE:+ BENCH_SPLICE=$BENCH_SPLICE} scripts/bench.sh"
fi

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $(date -u +%T) $*" >&2; }

[ -x "$BIN" ] || die "$BIN not found: run make build"
command -v ffmpeg >/dev/null || die "ffmpeg not installed: run scripts/deps.sh ffmpeg"
for phase in $PHASES; do
  case $phase in
    web|model) ;; # Chromium and Node.js only (scripts/deps.sh players, which the phase runs)
    *)
      for t in nginx wrk; do command -v "$t" >/dev/null || die "$t not installed: run scripts/deps.sh ffmpeg bench"; done
      [ -f "$RTMP_MODULE" ] || die "$RTMP_MODULE missing: install libnginx-mod-rtmp (scripts/deps.sh bench)"
      break ;;
  esac
done

# The clip: 720p30, 2 Mbit/s H.264 with a keyframe every second and no B-frames, AAC 48 kHz; made once.
mkdir -p "$CACHE"
if [ ! -s "$CLIP_TS" ]; then
  log "encoding the clip into $CACHE (once)"
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 30 \
    -map 0:v -map 1:a -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -bf 0 \
    -g 30 -keyint_min 30 -sc_threshold 0 -b:v 2M -maxrate 2M -bufsize 2M \
    -c:a aac -b:a 128k -ac 2 -f flv "$CLIP_FLV.tmp"
  ffmpeg -hide_banner -loglevel error -y -i "$CLIP_FLV.tmp" -c copy -f mpegts "$CLIP_TS.tmp"
  mv "$CLIP_FLV.tmp" "$CLIP_FLV"
  mv "$CLIP_TS.tmp" "$CLIP_TS"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nagare-bench.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? p
  for p in "${PIDS[@]}"; do kill -- "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "${p#-}" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    rm -rf "$CACHE/failed-run"
    mkdir -p "$CACHE/failed-run"
    find "$WORK" -maxdepth 2 \( -name '*.log' -o -name '*.json' \) -exec cp --backup=numbered {} "$CACHE/failed-run/" \;
    log "failed; logs in $CACHE/failed-run"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() { # forget a pid that has been stopped
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}
stop() { # pid, or -pgid for a process group
  kill -- "$1" 2>/dev/null || true
  wait "${1#-}" 2>/dev/null || true
  forget "$1"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # pid port
  local i
  for i in $(seq 1 100); do
    port_open "$2" && return 0
    kill -0 "$1" 2>/dev/null || die "server (pid $1) exited; see its log in $WORK"
    sleep 0.1
  done
  die "port $2 did not open"
}

NAGARE_PID= ; NAGARE_RTMP= ; NAGARE_HTTP=
start_nagare() { # [NAGARE_X=value ...]: more settings
  local ports
  read -r -a ports <<<"$("$BIN" bench ports -n 3)"
  NAGARE_RTMP=${ports[0]}; NAGARE_HTTP=${ports[2]}
  env -u NAGARE_CONFIG NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED=true NAGARE_LOG_LEVEL=warn "$@" \
    "$BIN" node --rtmp "127.0.0.1:${ports[0]}" --srt "127.0.0.1:${ports[1]}" --http "127.0.0.1:${ports[2]}" --webrtc 127.0.0.1:0 \
    >>"$WORK/nagare.log" 2>&1 &
  NAGARE_PID=$!
  PIDS+=("$NAGARE_PID")
  wait_port "$NAGARE_PID" "$NAGARE_HTTP" # the node binds every port before serving any
}

NGINX_USER=""
[ "$(id -u)" -ne 0 ] || NGINX_USER="user $(id -un) $(id -gn);" # workers would otherwise run as nobody
# start_nginx rtmp|static|abr: sets NGINX_PID, NGINX_RTMP, NGINX_HTTP and NGINX_DIR
start_nginx() {
  local kind=$1 ports dir
  read -r -a ports <<<"$("$BIN" bench ports -n 2)"
  dir=$WORK/nginx-$kind-$RANDOM
  mkdir -p "$dir/hls" "$dir/tmp" "$dir/www"
  sed -e "s#@DIR@#$dir#g" -e "s#@RTMP_PORT@#${ports[0]}#g" -e "s#@HTTP_PORT@#${ports[1]}#g" \
    -e "s#@USER@#$NGINX_USER#" "scripts/bench/nginx-$kind.conf" >"$dir/nginx.conf"
  nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' >>"$dir/error.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  NGINX_RTMP=${ports[0]}; NGINX_HTTP=${ports[1]}; NGINX_DIR=$dir
  wait_port "$NGINX_PID" "$NGINX_HTTP" # the master binds every port before forking workers
}

bench() { "$BIN" bench "$@"; }

date +%s >"$WORK/started"
cp /proc/loadavg "$WORK/loadavg-start"
log "work directory $WORK"

phase_latency() {
  log "1/3 publish-to-playable and availability lag: nagare"
  start_nagare
  bench latency -kind nagare -pid "$NAGARE_PID" -rtmp "rtmp://127.0.0.1:$NAGARE_RTMP/live" -http "http://127.0.0.1:$NAGARE_HTTP" \
    -clip "$CLIP_TS" -lag "$LAG" -out "$WORK/latency-nagare.json"
  bench ackcheck -kind nagare -rtmp "rtmp://127.0.0.1:$NAGARE_RTMP/live" -http "http://127.0.0.1:$NAGARE_HTTP" \
    -clip "$CLIP_TS" -duration "$ACKCHECK" -out "$WORK/ackcheck-nagare.json"
  stop "$NAGARE_PID"

  log "1/3 publish-to-playable and availability lag: nginx-rtmp"
  start_nginx rtmp
  bench latency -kind nginx-rtmp -pid "$NGINX_PID" -rtmp "rtmp://127.0.0.1:$NGINX_RTMP/live" -http "http://127.0.0.1:$NGINX_HTTP" \
    -clip "$CLIP_TS" -lag "$LAG" -out "$WORK/latency-nginx-rtmp.json"
  stop "$NGINX_PID"
}

EDGE_PID= ; EDGE_HTTP=
start_edge() { # [NAGARE_X=value ...]: an edge in front of the nagare origin started last, with more settings
  EDGE_HTTP=$("$BIN" bench ports -n 1)
  env -u NAGARE_CONFIG NAGARE_LOG_LEVEL=warn "$@" \
    "$BIN" node --role edge --parent "http://127.0.0.1:$NAGARE_HTTP" --http "127.0.0.1:$EDGE_HTTP" --webrtc 127.0.0.1:0 >>"$WORK/edge.log" 2>&1 &
  EDGE_PID=$!
  PIDS+=("$EDGE_PID")
  wait_port "$EDGE_PID" "$EDGE_HTTP"
}

phase_fanout() {
  log "2/3 fan-out: one stream published to nagare and nginx-rtmp, wrk against each, a nagare edge and static nginx"
  local rtmp_pid rtmp_http rtmp_port static_pid static_http static_dir pub_pid
  start_nagare
  start_edge
  start_nginx rtmp
  rtmp_pid=$NGINX_PID; rtmp_http=$NGINX_HTTP; rtmp_port=$NGINX_RTMP
  start_nginx static
  static_pid=$NGINX_PID; static_http=$NGINX_HTTP; static_dir=$NGINX_DIR
  bench publish -clip "$CLIP_TS" \
    -rtmp "rtmp://127.0.0.1:$NAGARE_RTMP/live/fan,rtmp://127.0.0.1:$rtmp_port/live/fan" 2>>"$WORK/publish.log" &
  pub_pid=$!
  PIDS+=("$pub_pid")
  bench fanout -duration "$WRK" -rounds "$ROUNDS" -out "$WORK/fanout.json" \
    -target "name=nagare,kind=nagare,pid=$NAGARE_PID,playlist=http://127.0.0.1:$NAGARE_HTTP/live/fan/index.m3u8" \
    -target "name=nagare-edge,kind=nagare,pid=$EDGE_PID,playlist=http://127.0.0.1:$EDGE_HTTP/live/fan/index.m3u8" \
    -target "name=nginx-rtmp,kind=nginx-rtmp,pid=$rtmp_pid,playlist=http://127.0.0.1:$rtmp_http/hls/fan.m3u8" \
    -target "name=static,kind=static,pid=$static_pid,url=http://127.0.0.1:$static_http,www=$static_dir/www,copy-from=http://127.0.0.1:$NAGARE_HTTP/live/fan/index.m3u8"
  log "2/3 edge: part visibility through the edge, upstream requests per object"
  bench edge -origin "http://127.0.0.1:$NAGARE_HTTP" -edge "http://127.0.0.1:$EDGE_HTTP" -stream live/fan \
    -viewers 50 -duration "$EDGE" >"$WORK/edge.md"
  stop "$pub_pid"
  stop "$static_pid"
  stop "$rtmp_pid"
  stop "$EDGE_PID"
  stop "$NAGARE_PID"
}

phase_manager() {
  log "4/4 stream manager: routing with 10 and 1,000 nodes, report ingest on MySQL"
  scripts/deps.sh mariadb
  bench manager -bin "$BIN" -nodes 10,1000 -ingest-nodes 1000 -conns 64 -duration "$MANAGER_WRK" >"$WORK/manager.md"
}

phase_autoscale() {
  log "5/5 autoscaler: alarm to new edge in service, dead-node replacement (process controller); tick with 1,000 simulated nodes"
  bench autoscale -bin "$BIN" -clip "$CLIP_TS" >"$WORK/autoscale.md"
  # BenchmarkTick's cluster, built in the bench's process (no test binary to compile), reporting between ticks
  bench curves-tick -nodes 1000 -ticks 300 -out "$WORK/tick-1000.json"
  jq -r '.points[] | "| autoscaler tick, \(.nodes) in-service simulated nodes (`nagare bench curves-tick`, \(.ticks) ticks: median, p95) | \(.medianMs * 100 | round / 100) ms, \(.p95Ms * 100 | round / 100) ms | ≤ 10 ms (median) |"' \
    "$WORK/tick-1000.json" >"$WORK/tick.md"
}

phase_ingest() {
  # nagare and nginx-rtmp side by side: both fresh, each with its own N publishers (two bench processes
  # started together, so their windows coincide), so that both are measured under the same conditions
  # rather than in windows seconds apart, between which a small shared machine's background changes
  local n nagare_ingest nginx_ingest
  for n in $STREAMS; do
    log "3/3 ingest, $n streams: nagare and nginx-rtmp side by side"
    # its segment directory, should hls.storage be disk (the default keeps segments in memory)
    rm -rf "$WORK/nagare-hls"
    mkdir -p "$WORK/nagare-hls"
    start_nagare NAGARE_HLS_DIRECTORY="$WORK/nagare-hls"
    start_nginx rtmp
    bench ingest -kind nagare -pid "$NAGARE_PID" -rtmp "rtmp://127.0.0.1:$NAGARE_RTMP/live" \
      -http "http://127.0.0.1:$NAGARE_HTTP" -clip "$CLIP_TS" -streams "$n" -duration "$WINDOW" \
      -files "$WORK/nagare-hls" -out "$WORK/ingest-nagare-$n.json" &
    nagare_ingest=$!
    bench ingest -kind nginx-rtmp -pid "$NGINX_PID" -rtmp "rtmp://127.0.0.1:$NGINX_RTMP/live" \
      -http "http://127.0.0.1:$NGINX_HTTP" -clip "$CLIP_TS" -streams "$n" -duration "$WINDOW" \
      -files "$NGINX_DIR/hls" -out "$WORK/ingest-nginx-rtmp-$n.json" &
    nginx_ingest=$!
    wait "$nagare_ingest" || die "ingest of $n streams into nagare failed"
    wait "$nginx_ingest" || die "ingest of $n streams into nginx-rtmp failed"
    stop "$NGINX_PID"
    stop "$NAGARE_PID"
  done
}

# The watcher of the bucket phase: what people run today to get nginx-rtmp's HLS into a bucket.
write_watcher() {
  cat >"$1" <<'EOF'
#!/usr/bin/env bash
# Mirror nginx-rtmp's HLS directory into the bucket whenever a file in it is closed after writing or
# renamed into it (nginx-rtmp writes its playlist to a temporary file and renames it). A burst of events
# (less than 50 ms apart) makes one sync; the events of a burst that comes during a sync, one more after it.
# Usage: watcher.sh DIR s3://BUCKET/PREFIX/ ENDPOINT LOG   (AWS_* credentials in the environment)
dir=$1 dest=$2 endpoint=$3 log=$4
inotifywait -m -q -e close_write,moved_to --format '%f' "$dir" |
  while read -r _; do
    while read -r -t 0.05 _; do :; done
    start=$(date +%s.%N)
    "${AWS:-aws}" s3 sync "$dir" "$dest" --endpoint-url "$endpoint" --only-show-errors
    echo "$start $(date +%s.%N)" >>"$log"
  done
EOF
}

# start_versitygw: a fresh versitygw (posix backend in $WORK/s3) on a free port with random credentials; sets
# S3_PID, S3_ENDPOINT, S3_KEY, S3_SECRET, GW (its binary) and AWS (Debian's aws-cli).
S3_PID= ; S3_ENDPOINT= ; S3_KEY= ; S3_SECRET= ; GW= ; AWS=
start_versitygw() {
  local port
  AWS=/usr/bin/aws # Debian's awscli (scripts/deps.sh bench); a pip or pyenv one may come first on PATH
  [ -x "$AWS" ] || AWS=$(command -v aws) || die "aws not installed: run scripts/deps.sh bench"
  GW=$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")
  [ -x "$GW" ] || die "versitygw not installed: run scripts/deps.sh versitygw"
  port=$("$BIN" bench ports -n 1)
  S3_KEY=bench$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
  S3_SECRET=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
  rm -rf "$WORK/s3"
  mkdir -p "$WORK/s3"
  "$GW" --port "127.0.0.1:$port" --access "$S3_KEY" --secret "$S3_SECRET" --quiet posix "$WORK/s3" >>"$WORK/versitygw.log" 2>&1 &
  S3_PID=$!
  PIDS+=("$S3_PID")
  wait_port "$S3_PID" "$port"
  S3_ENDPOINT=http://127.0.0.1:$port
}

phase_bucket() {
  log "6/6 live HLS in object storage: nagare's push and a watcher (inotifywait + aws s3 sync) over nginx-rtmp, one versitygw"
  local aws s3_pid key secret endpoint s3env bucket=nagare-bench rtmp_pid watch_pid
  command -v inotifywait >/dev/null || die "inotifywait not installed: run scripts/deps.sh bench"
  start_versitygw
  aws=$AWS; s3_pid=$S3_PID; key=$S3_KEY; secret=$S3_SECRET; endpoint=$S3_ENDPOINT
  s3env=(AWS_ACCESS_KEY_ID="$key" AWS_SECRET_ACCESS_KEY="$secret" AWS_DEFAULT_REGION=us-east-1 AWS="$aws")
  env "${s3env[@]}" "$aws" --endpoint-url "$endpoint" s3api create-bucket --bucket "$bucket" >/dev/null
  env "${s3env[@]}" "$aws" --endpoint-url "$endpoint" s3api put-bucket-policy --bucket "$bucket" --policy \
    '{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::'"$bucket"'/*"]}]}'

  start_nagare NAGARE_PUSH_ENABLED=true NAGARE_PUSH_PREFIX=live NAGARE_STORAGE_BACKEND=s3 \
    NAGARE_STORAGE_ENDPOINT="$endpoint" NAGARE_STORAGE_BUCKET="$bucket" NAGARE_STORAGE_PATH_STYLE=true \
    NAGARE_STORAGE_ACCESS_KEY_ID="$key" NAGARE_STORAGE_SECRET_ACCESS_KEY="$secret"
  start_nginx rtmp
  rtmp_pid=$NGINX_PID
  write_watcher "$WORK/watcher.sh"
  "$aws" --version >"$WORK/bucket-aws-version" 2>&1
  # in its own session, so that stopping its process group stops the pipeline and a sync in progress
  env "${s3env[@]}" setsid bash "$WORK/watcher.sh" "$NGINX_DIR/hls" "s3://$bucket/watch/" "$endpoint" \
    "$WORK/watcher-syncs.log" 2>>"$WORK/watcher.log" &
  watch_pid=$!
  PIDS+=("-$watch_pid")
  sleep 0.5 # inotifywait establishing its watch

  bench bucket -rtmp "rtmp://127.0.0.1:$NAGARE_RTMP/live" -http "http://127.0.0.1:$NAGARE_HTTP" \
    -bucket-url "$endpoint/$bucket" -push-prefix live \
    -watch-rtmp "rtmp://127.0.0.1:$NGINX_RTMP/live" -watch-dir "$NGINX_DIR/hls" -watch-prefix watch \
    -watch-log "$WORK/watcher-syncs.log" -clip "$CLIP_TS" -duration "$BUCKET" >"$WORK/bucket.md"
  stop "-$watch_pid"
  stop "$rtmp_pid"
  stop "$NAGARE_PID"
  stop "$s3_pid"
}

# The hls.js configurations measured: as shipped (lowLatencyMode, which the page always sets), and with
# hls.js's catch-up (it plays up to 1.5x fast while it is behind its target latency).
GLASS_CONFIGS=('{}' '{"maxLiveSyncPlaybackRate":1.5}')
phase_glass() {
  log "7/7 glass to glass: hls.js (LL-HLS) in headless Chromium plays a stream whose frames carry their capture time"
  scripts/deps.sh players
  local c args=()
  for c in "${GLASS_CONFIGS[@]}"; do args+=(-hlsjs "$c"); done
  bench glass -bin "$BIN" -sessions "$GLASS_SESSIONS" -warmup 5s -duration "$GLASS" "${args[@]}" \
    -out "$WORK/glass.json" >"$WORK/glass.md"
}

# The VOD service against aws-cli and static nginx: a 60 s 720p H.264/AAC MP4 to process, made once.
VOD_CLIP=$CACHE/vod-clip.mp4
phase_vod() {
  log "8/8 VOD: upload ($VOD_SIZE, gRPC vs aws s3 cp), 1 MiB byte ranges (vs static nginx), transcode speed; one versitygw"
  local static_pid
  if [ ! -s "$VOD_CLIP" ]; then
    log "encoding the VOD clip into $CACHE (once)"
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 \
      -map 0:v -map 1:a -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -b:v 2M -maxrate 2M -bufsize 4M \
      -c:a aac -b:a 128k -ac 2 -movflags +faststart -f mp4 "$VOD_CLIP.tmp"
    mv "$VOD_CLIP.tmp" "$VOD_CLIP"
  fi
  start_versitygw
  env AWS_ACCESS_KEY_ID="$S3_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET" AWS_DEFAULT_REGION=us-east-1 \
    "$AWS" --endpoint-url "$S3_ENDPOINT" s3api create-bucket --bucket nagare-vod >/dev/null
  start_nginx static
  static_pid=$NGINX_PID
  env AWS_ACCESS_KEY_ID="$S3_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET" \
    "$BIN" bench vod -bin "$BIN" -s3 "$S3_ENDPOINT" -bucket nagare-vod -gateway "$GW" -gateway-pid "$S3_PID" -aws "$AWS" -clip "$VOD_CLIP" \
    -size "$VOD_SIZE" -rounds "$VOD_ROUNDS" -duration "$VOD_WRK" -conns 64 -threads 2 \
    -static-url "http://127.0.0.1:$NGINX_HTTP" -static-www "$NGINX_DIR/www" -static-pid "$static_pid" \
    -dir "$WORK/vod" -log "$WORK/vod-service.log" -out "$WORK/vod.json"
  rm -rf "$WORK/vod"
  stop "$static_pid"
  stop "$S3_PID"
  rm -rf "$WORK/s3"
}

# WebRTC through an origin and an edge: glass to glass in Chromium (WHIP from the page, RTMP from ffmpeg),
# publish to the first WHEP frame, and the WHEP viewers the edge holds, of a 1 Mbit/s clip made once.
CLIP_1M=$CACHE/clip-1m.ts
phase_webrtc() {
  log "9/9 WebRTC: glass to glass (Chromium), publish to first WHEP frame, WHEP viewers per edge"
  scripts/deps.sh players
  if [ ! -s "$CLIP_1M" ]; then
    log "encoding the 1 Mbit/s clip into $CACHE (once)"
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 30 \
      -map 0:v -map 1:a -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -bf 0 \
      -g 30 -keyint_min 30 -sc_threshold 0 -b:v 1M -maxrate 1M -bufsize 1M \
      -c:a aac -b:a 64k -ac 2 -f mpegts "$CLIP_1M.tmp"
    mv "$CLIP_1M.tmp" "$CLIP_1M"
  fi
  local pub_pid origin edge rtmp
  # every offer comes from 127.0.0.1: no per-address limit
  start_nagare NAGARE_WEBRTC_OFFERS_PER_MINUTE=0
  start_edge NAGARE_WEBRTC_OFFERS_PER_MINUTE=0
  origin=http://127.0.0.1:$NAGARE_HTTP edge=http://127.0.0.1:$EDGE_HTTP rtmp=rtmp://127.0.0.1:$NAGARE_RTMP/live
  bench webrtc-glass -origin "$origin" -edge "$edge" -rtmp "$rtmp" -warmup 3s -duration "$WEBRTC_GLASS" \
    -out "$WORK/webrtc-glass.json"
  bench webrtc-start -origin "$origin" -edge "$edge" -rtmp "$rtmp" -clip "$CLIP_1M" -runs "$WEBRTC_STARTS" \
    -out "$WORK/webrtc-start.json"
  bench publish -clip "$CLIP_1M" -rtmp "$rtmp/load" 2>>"$WORK/publish.log" &
  pub_pid=$!
  PIDS+=("$pub_pid")
  bench webrtc -edge "$edge" -stream live/load -edge-pid "$EDGE_PID" -origin-pid "$NAGARE_PID" \
    -step "$WEBRTC_STEP" -hold "$WEBRTC_HOLD" -budget "$WEBRTC_BUDGET" -out "$WORK/webrtc-load.json"
  stop "$pub_pid"
  stop "$EDGE_PID"
  stop "$NAGARE_PID"
}

# The live ABR ladder of one stream: a node transcoding (the default ladder) and the bare ffmpeg command making
# the same ladder from the clip, their CPU windows taking turns; then nginx-rtmp making it with exec ffmpeg and
# hls_variant.
phase_abr() {
  log "10/10 live ABR: nagare's ladder and the bare ffmpeg command taking turns, nginx-rtmp with exec ffmpeg (CPU, rendition delay, publish to playable)"
  start_nagare NAGARE_TRANSCODE_ENABLED=true
  bench abr -kind nagare -pid "$NAGARE_PID" -rtmp "rtmp://127.0.0.1:$NAGARE_RTMP/live" -http "http://127.0.0.1:$NAGARE_HTTP" \
    -clip "$CLIP_TS" -runs "$ABR_RUNS" -rounds "$ABR_ROUNDS" -warmup "$ABR_WARMUP" -duration "$ABR_WINDOW" \
    -rung-window "$ABR_RUNG_WINDOW" -ffmpeg-out "$WORK/abr-ffmpeg.json" -dir "$WORK/abr-ffmpeg" -out "$WORK/abr-nagare.json"
  rm -rf "$WORK/abr-ffmpeg"
  stop "$NAGARE_PID"
  start_nginx abr
  bench abr -kind nginx-rtmp -pid "$NGINX_PID" -rtmp "rtmp://127.0.0.1:$NGINX_RTMP/live" -http "http://127.0.0.1:$NGINX_HTTP" \
    -clip "$CLIP_TS" -runs "$ABR_RUNS" -rounds "$ABR_ROUNDS" -warmup "$ABR_WARMUP" -duration "$ABR_WINDOW" \
    -out "$WORK/abr-nginx-rtmp.json"
  cp "$NGINX_DIR/ffmpeg.log" "$WORK/abr-nginx-ffmpeg.log" 2>/dev/null || true
  stop "$NGINX_PID"
}

# The container image (scripts/image.sh, as make image builds it): its size, and the cold start of a container
# to its first healthy /healthz, timed from `docker run` (the image already on the host), per role.
phase_image() {
  "$ROOT/scripts/deps.sh" docker
  local img port role i t0 t1 name ms=()
  img=$("$ROOT/scripts/image.sh" bench 2>"$WORK/image.log")
  {
    echo "| image | size (docker image inspect) |"
    echo "|---|---|"
    for i in "$img" "$img-slim"; do
      echo "| \`$i\` | $(docker image inspect -f '{{.Size}}' "$i" | awk '{printf "%.0f MB", $1/1e6}') |"
    done
    echo "| the static binary alone (\`make release\`, amd64) | $(du -b "$ROOT/.cache/image/context/nagare-linux-amd64" | awk '{printf "%.0f MB", $1/1e6}') |"
    echo
    echo "| role (\`docker run --network host $img <role>\`) | cold start to /healthz 200, median of $IMAGE_STARTS | min | max |"
    echo "|---|---|---|---|"
  } >"$WORK/image.md"
  for role in manager node; do
    ms=()
    for i in $(seq 1 "$IMAGE_STARTS"); do
      read -r port <<<"$("$BIN" bench ports -n 1)"
      name="nagare-bench-$role-$i"
      docker rm -f "$name" >/dev/null 2>&1 || true
      t0=$(date +%s%N)
      docker run -d --name "$name" --network host -e NAGARE_MANAGER_ADDRESS="127.0.0.1:$port" \
        -e NAGARE_HTTP_ADDRESS="127.0.0.1:$port" -e NAGARE_RTMP_ADDRESS=127.0.0.1:0 -e NAGARE_SRT_ADDRESS=127.0.0.1:0 \
        -e NAGARE_WEBRTC_ADDRESS=127.0.0.1:0 -e NAGARE_MANAGER_ADMIN_TOKEN=bench-admin-token-0123456789 -e NAGARE_CLUSTER_SECRET=bench-cluster-secret-0123456789 \
        -e NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED=true -e NAGARE_MANAGER_STORE_DSN=/tmp/manager.db "$img" "$role" >/dev/null
      until curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; do
        [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 30000 ] || die "$role container not healthy in 30 s: $(docker logs "$name" 2>&1 | tail -5)"
        sleep 0.005
      done
      t1=$(date +%s%N)
      ms+=($(( (t1 - t0) / 1000000 )))
      docker rm -f "$name" >/dev/null
    done
    printf '%s\n' "${ms[@]}" | sort -n | awk -v role="$role" '{v[NR]=$1} END {printf "| %s | %d ms | %d ms | %d ms |\n", role, v[int((NR+1)/2)], v[1], v[NR]}' >>"$WORK/image.md"
  done
  docker version -f 'Docker Engine {{.Server.Version}}' >"$WORK/image-engine"
}

# Content steering's cost (answers per second with 1,000 nodes) and the load generator's: nagare loadtest
# on CPU 1 playing LL-HLS from a node on CPU 0, on a 360p stream of about 600 kbit/s (made once).
LT_CLIP=$CACHE/loadtest-360p.flv
phase_steering() {
  log "12/12 content steering answers (1,000 nodes) and the load generator (nagare loadtest, one core)"
  local n res pub
  go test -run '^$' -bench BenchmarkSteering1000 -benchtime 20000x -count 3 ./internal/manager/api/ |
    awk '/^BenchmarkSteering1000/ { split($1, a, "/"); sub(/-[0-9]+$/, "", a[2]); printf "| steering answer, 1,000 nodes, player %s (%s) | %.1f µs | %d B, %d allocs |\n", (a[2] == "gone" ? "moved off a gone edge" : "staying"), "BenchmarkSteering1000/" a[2], $3 / 1000, $5, $7 }' >"$WORK/steering.md"
  if [ ! -s "$LT_CLIP" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=30 \
      -f lavfi -i sine=frequency=440:sample_rate=48000 -t 30 -c:v libx264 -preset veryfast -bf 0 -g 30 \
      -keyint_min 30 -sc_threshold 0 -b:v 500k -maxrate 500k -bufsize 500k -c:a aac -b:a 96k -f flv "$LT_CLIP.tmp"
    mv "$LT_CLIP.tmp" "$LT_CLIP"
  fi
  for n in $LOADTEST_VIEWERS; do
    start_nagare taskset -c 0
    taskset -c 0 ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$LT_CLIP" -c copy -f flv \
      "rtmp://127.0.0.1:$NAGARE_RTMP/live/lt" >>"$WORK/loadtest-ffmpeg.log" 2>&1 &
    pub=$!
    PIDS+=("$pub")
    sleep 4 # a few segments in the playlist
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/loadtest-$n.time" taskset -c 1 "$BIN" loadtest \
      -url "http://127.0.0.1:$NAGARE_HTTP/live/lt/index.m3u8" -viewers "$n" -ramp 10s -hold "$LOADTEST_HOLD" -q \
      -json "$WORK/loadtest-$n.json" >"$WORK/loadtest-$n.log" 2>&1
    read -r -a res <"$WORK/loadtest-$n.time"
    jq -r --arg n "$n" --arg e "${res[0]}" --arg u "${res[1]}" --arg s "${res[2]}" --arg m "${res[3]}" '.totals |
      "| \($n) | \((($u|tonumber) + ($s|tonumber)) / (($e|tonumber) - 0) * 100 | floor) % of CPU 1 | \(($m|tonumber) / 1024 | floor) MiB | \(.requestsPerSecond | floor) | \(.startupP50Ms | floor) / \(.startupP95Ms | floor) ms | \(.latencyP50Ms / 1000 * 100 | floor / 100) / \(.latencyP95Ms / 1000 * 100 | floor / 100) s | \(.stalls) (\(.viewersStalled) viewers, longest \(.longestStallMs | floor) ms) | \(.viewersCut) | \(.errors) |"' \
      "$WORK/loadtest-$n.json" >>"$WORK/loadtest.md"
    stop "$pub"
    stop "$NAGARE_PID"
  done
}

# how long each phase took, for the report: "<phase> <seconds>" lines
# Cost curves, so that operators can size a cluster: a node's ingest (CPU, RSS + files kept) at 1 to 128
# streams of a 500 kbit/s clip (made once, like the 2 Mbit/s one), an edge's CPU at several segment request
# rates, the manager's CPU and routing p99 with 100 to 10,000 nodes, the autoscaler's tick at 1,000 and 10,000.
CLIP_500K=$CACHE/clip-500k.ts
phase_curves() {
  log "15/15 cost curves: ingest streams, edge request rate, manager nodes, autoscaler tick"
  local n pub_pid
  if [ ! -s "$CLIP_500K" ]; then
    log "encoding the 500 kbit/s clip into $CACHE (once)"
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i testsrc2=size=854x480:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 30 \
      -map 0:v -map 1:a -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -bf 0 \
      -g 30 -keyint_min 30 -sc_threshold 0 -b:v 436k -maxrate 436k -bufsize 436k \
      -c:a aac -b:a 64k -ac 2 -f flv "$CLIP_500K.flv.tmp"
    ffmpeg -hide_banner -loglevel error -y -i "$CLIP_500K.flv.tmp" -c copy -f mpegts "$CLIP_500K.tmp"
    rm -f "$CLIP_500K.flv.tmp"
    mv "$CLIP_500K.tmp" "$CLIP_500K"
  fi
  for n in $CURVES_STREAMS; do
    log "15/15 cost curves: ingest, $n streams at 500 kbit/s"
    rm -rf "$WORK/nagare-hls"
    mkdir -p "$WORK/nagare-hls"
    start_nagare NAGARE_HLS_DIRECTORY="$WORK/nagare-hls"
    bench ingest -kind nagare -pid "$NAGARE_PID" -rtmp "rtmp://127.0.0.1:$NAGARE_RTMP/live" \
      -http "http://127.0.0.1:$NAGARE_HTTP" -clip "$CLIP_500K" -streams "$n" -duration "$CURVES_WINDOW" \
      -files "$WORK/nagare-hls" -out "$WORK/curves-ingest-$n.json"
    stop "$NAGARE_PID"
  done
  log "15/15 cost curves: an edge's CPU at several segment request rates"
  start_nagare
  start_edge
  bench publish -clip "$CLIP_TS" -rtmp "rtmp://127.0.0.1:$NAGARE_RTMP/live/fan" 2>>"$WORK/publish.log" &
  pub_pid=$!
  PIDS+=("$pub_pid")
  bench curves-edge -pid "$EDGE_PID" -playlist "http://127.0.0.1:$EDGE_HTTP/live/fan/index.m3u8" \
    -duration "$CURVES_WRK" -out "$WORK/curves-edge.json"
  stop "$pub_pid"
  stop "$EDGE_PID"
  stop "$NAGARE_PID"
  log "15/15 cost curves: the manager with $CURVES_NODES nodes"
  bench curves-manager -bin "$BIN" -nodes "$CURVES_NODES" -duration "$CURVES_WRK" -out "$WORK/curves-manager.json"
  log "15/15 cost curves: the autoscaler's tick with $CURVES_TICK_NODES simulated nodes"
  bench curves-tick -nodes "$CURVES_TICK_NODES" -ticks 10 -out "$WORK/curves-tick.json"
}

# The web face: time to first render of the console and of the site's watch pages in Debian's headless
# Chromium (cold and warm), their bytes on the wire, and the manager's CPU with 20 consoles on the live
# updates of 100 simulated nodes (internal/bench/web.go); a short 360p MP4 (made once) for the watch page.
WEB_VOD_CLIP=$CACHE/web-vod.mp4
phase_web() {
  log "16/16 web: console and site first render (Chromium, cold and warm), bytes, the manager with 20 consoles on 100 nodes"
  scripts/deps.sh players
  if [ ! -s "$WEB_VOD_CLIP" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=30 \
      -f lavfi -i sine=frequency=440:sample_rate=48000 -t 6 -map 0:v -map 1:a -c:v libx264 -preset veryfast \
      -pix_fmt yuv420p -g 30 -b:v 800k -c:a aac -b:a 64k -movflags +faststart -f mp4 "$WEB_VOD_CLIP.tmp"
    mv "$WEB_VOD_CLIP.tmp" "$WEB_VOD_CLIP"
  fi
  bench web -bin "$BIN" -clip "$CLIP_TS" -vod-clip "$WEB_VOD_CLIP" -runs "$WEB_RUNS" -window "$WEB_WINDOW" \
    -log "$WORK/web-servers.log" -out "$WORK/web.json"
}

# The load generator's player model (nagare loadtest's virtual LL-HLS player) against hls.js in Chromium
# (lowLatencyMode, its defaults otherwise): sessions of one page and one virtual player taking turns on the
# clip published to a node; startup and latency behind live, medians over the sessions (internal/bench/model.go).
phase_model() {
  log "17/17 the load generator's player model against hls.js in Chromium, on one stream"
  scripts/deps.sh players
  bench model -bin "$BIN" -clip "$CLIP_TS" -sessions "$MODEL_SESSIONS" -warmup "$MODEL_WARMUP" -duration "$MODEL_WINDOW" \
    -json "$WORK/model.json" >"$WORK/model.md"
}

for phase in $PHASES; do
  t0=$(date +%s)
  "phase_$phase"
  echo "$phase $(($(date +%s) - t0))" >>"$WORK/phase-times"
done

cp /proc/loadavg "$WORK/loadavg-end"
date +%s >"$WORK/finished"
rm -rf "$RAW"
mkdir -p "$RAW"
cp "$WORK"/loadavg-* "$WORK/started" "$WORK/finished" "$WORK/phase-times" "$RAW"/
cp "$WORK"/*.json "$RAW"/ 2>/dev/null || true # none when only manager, autoscale or bucket ran
cp "$WORK"/*.log "$WORK"/*.md "$RAW"/ 2>/dev/null || true
bench report -dir "$RAW" -clip "$CLIP_TS" -command "$COMMAND" -out "$OUT"
if [ -s "$WORK/edge.md" ]; then
  {
    echo
    echo "## 5. Edge in front of the origin"
    echo
    echo "Fan-out through the edge is in section 3 (row \`nagare-edge\`: a \`nagare node --role edge\` pulling from the"
    echo "origin, same stream, same runs). Here 50 viewers follow every new part through the edge with blocking"
    echo "reloads and fetch it, while the origin's and the edge's playlists are followed side by side: the added"
    echo "latency is when a part is first listed by the edge minus when it is first listed by the origin."
    echo "Targets: one upstream request per object; the edge adds ≤ 20 ms median to part visibility; fan-out"
    echo "through the edge at least nginx-rtmp's req/s (the Targets table, from section 3)."
    echo
    cat "$WORK/edge.md"
  } >>"$OUT"
fi
if [ -s "$WORK/manager.md" ]; then
  {
    echo
    echo "## 6. Stream manager"
    echo
    echo "\`nagare bench manager\`: a \`nagare manager\` process with N registered in-service nodes (one origin"
    echo "carrying live/bench, the rest edges) that report every 2 s throughout. Routing: \`wrk -t2\` on the"
    echo "viewer entry point (302) and on the 3.1 subscribe call, saturating (as fast as wrk can, on the same 2"
    echo "cores) and paced (84 connections, each waiting 3 ms between a response and its next request, about"
    echo "20,000 req/s: the latency at the target's throughput; at saturation p99 is the CPU scheduler's); with"
    echo "1,000 nodes the paced run is made three times in a row and each run is judged (the target asks for a steady rate)."
    echo "Ingest (1,000 nodes; the cost curves of section 15 have other counts): the nodes reporting, nothing else, MySQL (MariaDB) store; one manager, and with"
    echo "\`manager.sharedStore\` (several managers on one store: every report is written, and the registry is"
    echo "read back every report interval). Targets: ≥ 20,000 routing requests/s at p99 ≤ 5 ms with 1,000 nodes; report"
    echo "ingest for 1,000 nodes at 2 s using ≤ 10 % of one core."
    echo
    cat "$WORK/manager.md"
  } >>"$OUT"
fi
if [ -s "$WORK/autoscale.md" ]; then
  {
    echo
    echo "## 7. Autoscaler"
    echo
    echo "\`nagare bench autoscale\`: a \`nagare manager\` with the process cloud controller (interval 250 ms, node"
    echo "reports every 1 s, node timeout 3 s, predictive mode off so that the reactive path is measured) runs a"
    echo "group of one origin and edges of capacity 1 with the edge alarm at 100 %. A publisher sends the clip; each"
    echo "round fills the newest edge with a viewer, and one more viewer is turned away (503), which raises the alarm."
    echo "The alarm is the stored scale-out decision; in service is the node's recorded transition. Then edges are"
    echo "killed (kill -9: the controller sees the process gone) or hung (SIGSTOP: the node falls silent and the"
    echo "node timeout finds it). Target: alarm to new edge in service ≤ 3 s; tick ≤ 10 ms with 1,000 nodes."
    echo
    cat "$WORK/autoscale.md"
    echo
    echo "| measurement | time per tick | target |"
    echo "|---|---|---|"
    cat "$WORK/tick.md"
  } >>"$OUT"
fi
if [ -s "$WORK/bucket.md" ]; then
  {
    echo
    echo "## 8. Live HLS in object storage"
    echo
    echo "\`nagare bench bucket\`: one versitygw (posix backend, a public-read bucket) on loopback, and the clip"
    echo "published at the same time to a \`nagare node\` pushing its live LL-HLS into the bucket"
    echo "(\`NAGARE_PUSH_ENABLED=true\`, keys \`live/<app>/<stream>/<name>\`) and to nginx-rtmp, whose HLS directory a"
    echo "watcher mirrors into the bucket under \`watch/\` (the script below). Complete: for nagare, when the origin"
    echo "first lists a part or segment, its media playlist being followed with LL-HLS blocking reloads; for"
    echo "nginx-rtmp, when inotify reports the segment file closed after writing (an \`inotifywait\` run by the"
    echo "bench, next to the watcher's own). Readable: the first anonymous HEAD of the object's URL in the bucket to"
    echo "answer 200 (for the watcher, with the length of the closed file: \`aws s3 sync\` also uploads the segment"
    echo "nginx-rtmp is still writing); each object is polled on its own from the moment it is complete. Named: the"
    echo "first fetch of the stream's playlist in the bucket (nagare: \`stream.m3u8\`, which lists whole segments;"
    echo "the watcher: nginx-rtmp's \`.m3u8\`), polled every 5 ms, that lists it. The lag is readable (named) minus"
    echo "complete; polling adds 0–5 ms to it, which favours the watcher in the ratios. Objects complete during the"
    echo "first 5 s are not counted. Targets: parts readable with p95 ≤ 150 ms; for segments, nagare's lag at least"
    echo "10× lower than the watcher's, median and p95."
    echo
    cat "$WORK/bucket.md"
    echo
    echo "The watcher, with $(cut -d' ' -f1 "$WORK/bucket-aws-version"), run as"
    echo "\`watcher.sh <hls_path> s3://<bucket>/watch/ <endpoint> <log>\` with the credentials in \`AWS_ACCESS_KEY_ID\`"
    echo "and \`AWS_SECRET_ACCESS_KEY\`, and \`AWS_DEFAULT_REGION=us-east-1\`:"
    echo
    echo '```bash'
    cat "$WORK/watcher.sh"
    echo '```'
  } >>"$OUT"
fi
if [ -s "$WORK/glass.md" ]; then
  {
    echo
    echo "## 9. Glass to glass: hls.js LL-HLS"
    echo
    echo "\`nagare bench glass -bin bin/nagare -sessions $GLASS_SESSIONS -warmup 5s -duration $GLASS$(printf " -hlsjs '%s'" "${GLASS_CONFIGS[@]}")\`:"
    echo "the bench makes 1280x720 frames at 30 fps in real time, each with the wall-clock time it was made (its"
    echo "capture time) drawn into it as a row of black and white 16-pixel boxes (a white and a black reference,"
    echo "then the low 32 bits of the Unix time in ms and a CRC-8), and pipes them into ffmpeg (libx264 -tune"
    echo "zerolatency, no B-frames, a keyframe every second), which publishes over RTMP to a \`nagare node\` with"
    echo "its defaults (LL-HLS, 1 s segments, 200 ms parts). Debian's Chromium, headless and driven by"
    echo "playwright-core (\`test/players/web/glass.mjs\`), plays the stream with hls.js (\`glass.html\`,"
    echo "\`lowLatencyMode: true\` plus the configuration of the row) and, for every frame it renders"
    echo "(\`requestVideoFrameCallback\`), draws the frame to a canvas, reads the boxes and records \`Date.now()\`"
    echo "minus the stamp: both ends read the same clock. A frame whose boxes do not read back with a matching CRC"
    echo "counts as failed to decode. Each session is a new page joining the running stream (hls.js starting"
    echo "afresh: where it settles depends on its start), sampled for the window after 5 s of warm-up from its first"
    echo "decoded frame; the first joins 3 s after the stream became playable. Capture → in the"
    echo "player's buffer is each frame's latency minus how much media the player held beyond it (buffered"
    echo "ahead), plus one frame interval: the time the newest frame took through encoder, nagare and HTTP into"
    echo "the player; the player holds the rest. Target: median ≤ 1.0 s."
    echo
    cat "$WORK/glass.md"
  } >>"$OUT"
fi
if [ -s "$WORK/image.md" ]; then
  {
    echo
    echo "## 13. Container image"
    echo
    echo "\`scripts/image.sh\` (what \`make image\` runs) builds \`deploy/Dockerfile\`: FROM scratch, the static release"
    echo "binary, CA certificates, and (full image) ffmpeg and ffprobe with exactly the shared libraries they load,"
    echo "taken from Debian 12's ffmpeg package. Cold start: \`docker run -d\` of the image already on the host"
    echo "($(cat "$WORK/image-engine"), overlay2, host network) until \`GET /healthz\` answers 200, polled every 5 ms."
    echo "The manager starts on a fresh SQLite store (schema migrations included); the node is an origin with"
    echo "no manager. Target: small, and healthy within a second."
    echo
    cat "$WORK/image.md"
  } >>"$OUT"
fi
if [ -s "$WORK/steering.md" ]; then
  {
    echo
    echo "## 14. Content steering and the load generator"
    echo
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`$COMMAND\` on $(nproc) logical CPUs."
    echo
    echo "Steering: \`go test -bench BenchmarkSteering1000 ./internal/manager/api/\` answers the steering requests of"
    echo "players (every one from its own address) with 1,000 in-service nodes, without the network: the cost of"
    echo "a request every TTL (5 s by default) per viewer. Answers are memoized per cluster snapshot, so the"
    echo "players of one edge cost one decision between two reports."
    echo
    echo "| measurement | time per answer | allocations |"
    echo "|---|---|---|"
    cat "$WORK/steering.md"
    echo
    echo "Load generator: \`nagare loadtest\` pinned to CPU 1 (\`taskset -c 1\`), virtual LL-HLS players (blocking"
    echo "reloads, every part) joining over 10 s and playing for $LOADTEST_HOLD, from a \`nagare node\` and its ffmpeg"
    echo "publisher pinned to CPU 0, on a 640x360 stream of about 600 kbit/s. CPU is the generator's user + system"
    echo "time over its run (100 % = the whole core); when it nears 100 % or the node's core saturates, stalls"
    echo "and latency show it. Target: 2,000 virtual LL-HLS viewers from one core."
    echo
    echo "| viewers | generator CPU | generator RSS | requests/s | startup p50 / p95 | latency behind live p50 / p95 | stalls | cut | errors |"
    echo "|---|---|---|---|---|---|---|---|---|"
    cat "$WORK/loadtest.md"
  } >"$WORK/section-steering.md"
  cat "$WORK/section-steering.md" >>"$OUT"
  if [ "$OUT" != docs/benchmarks.md ] && [ "${BENCH_SPLICE:-}" = 1 ]; then
    # replace section 14 of docs/benchmarks.md (up to the next section), or append it
    awk -v f="$WORK/section-steering.md" '
      /^## 14\. / { skip = 1; while ((getline l < f) > 0) if (!first++ && l == "") continue; else print l; done = 1; next }
      skip && /^## / { skip = 0; print "" }
      !skip { print }
      END { if (!done) { print ""; while ((getline l < f) > 0) if (!first++ && l == "") continue; else print l } }
    ' docs/benchmarks.md >"$WORK/benchmarks.md.new" && mv "$WORK/benchmarks.md.new" docs/benchmarks.md
    log "replaced the steering section of docs/benchmarks.md"
  fi
fi
if [ -s "$WORK/vod.json" ]; then
  bench report -section vod -dir "$RAW" -command "$COMMAND" -splice "$OUT"
  if [ "$OUT" != docs/benchmarks.md ] && [ "${BENCH_SPLICE:-}" = 1 ]; then
    bench report -section vod -dir "$RAW" -command "$COMMAND" -splice docs/benchmarks.md
    log "replaced the VOD section of docs/benchmarks.md"
  fi
fi
if ls "$WORK"/webrtc-*.json >/dev/null 2>&1; then
  bench report -section webrtc -dir "$RAW" -command "$COMMAND" -splice "$OUT"
  if [ "$OUT" != docs/benchmarks.md ] && [ "${BENCH_SPLICE:-}" = 1 ]; then
    bench report -section webrtc -dir "$RAW" -command "$COMMAND" -splice docs/benchmarks.md
    log "replaced the WebRTC section of docs/benchmarks.md"
  fi
fi
if ls "$WORK"/abr-*.json >/dev/null 2>&1; then
  bench report -section abr -dir "$RAW" -command "$COMMAND" -splice "$OUT"
  if [ "$OUT" != docs/benchmarks.md ] && [ "${BENCH_SPLICE:-}" = 1 ]; then
    bench report -section abr -dir "$RAW" -command "$COMMAND" -splice docs/benchmarks.md
    log "replaced the live ABR section of docs/benchmarks.md"
  fi
fi
if ls "$WORK"/curves-*.json >/dev/null 2>&1; then
  # the PNG beside the report it belongs to: docs/ for a full run, the raw results' directory otherwise
  bench report -section curves -dir "$RAW" -command "$COMMAND" -png "$(dirname "$OUT")/cost-curves.png" -splice "$OUT"
fi
if [ -s "$WORK/web.json" ]; then
  bench report -section web -dir "$RAW" -command "$COMMAND" -splice "$OUT"
  if [ "$OUT" != docs/benchmarks.md ] && [ "${BENCH_SPLICE:-}" = 1 ]; then
    bench report -section web -dir "$RAW" -command "$COMMAND" -splice docs/benchmarks.md
    log "replaced the web section of docs/benchmarks.md"
  fi
fi
if [ -s "$WORK/model.json" ]; then
  bench report -section model -dir "$RAW" -command "$COMMAND" -splice "$OUT"
  if [ "$OUT" != docs/benchmarks.md ] && [ "${BENCH_SPLICE:-}" = 1 ]; then
    bench report -section model -dir "$RAW" -command "$COMMAND" -splice docs/benchmarks.md
    log "replaced the player model section of docs/benchmarks.md"
  fi
fi
log "wrote $OUT (raw results in $RAW)"
