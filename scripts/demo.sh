#!/usr/bin/env bash
# make demo: nagare with embedded defaults on this machine, plus a live ffmpeg test stream.
# Ctrl-C stops both.
set -euo pipefail
bin=${1:-bin/nagare}
export NAGARE_PUBLISH_TOKEN_SECRET=${NAGARE_PUBLISH_TOKEN_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
rtmp=${NAGARE_RTMP_ADDRESS:-127.0.0.1:1935}
http=${NAGARE_HTTP_ADDRESS:-127.0.0.1:8080}
mgr=${NAGARE_MANAGER_ADDRESS:-127.0.0.1:5080}
export NAGARE_RTMP_ADDRESS=$rtmp NAGARE_HTTP_ADDRESS=$http NAGARE_SRT_ADDRESS=${NAGARE_SRT_ADDRESS:-127.0.0.1:8890}
export NAGARE_WEBRTC_ADDRESS=${NAGARE_WEBRTC_ADDRESS:-127.0.0.1:8189}
export NAGARE_MANAGER_ADDRESS=$mgr
vod=${NAGARE_VOD_GRPC_ADDRESS:-127.0.0.1:9090}
vodhttp=${NAGARE_VOD_HTTP_ADDRESS:-127.0.0.1:8090}
export NAGARE_VOD_GRPC_ADDRESS=$vod NAGARE_VOD_HTTP_ADDRESS=$vodhttp
# the live stream gets an adaptive ladder: the 720p source, 480p and 360p (docs/abr.md)
export NAGARE_TRANSCODE_ENABLED=${NAGARE_TRANSCODE_ENABLED:-true}
data=${NAGARE_DATA:-nagare-data}

# the data directory keeps the store and the generated admin token across runs
"$bin" all --data "$data" &
node=$!
ff=""
trap 'kill $ff $node 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 50); do curl -sf "http://$http/healthz" >/dev/null && break; sleep 0.1; done

token=$("$bin" token -stream live/demo -ttl 24h)
ffmpeg -hide_banner -loglevel error -re \
  -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -c:v libx264 -preset veryfast -tune zerolatency -g 30 -keyint_min 30 -sc_threshold 0 -b:v 2M \
  -c:a aac -b:a 128k -f flv "rtmp://$rtmp/live/demo?token=$token" &
ff=$!
for _ in $(seq 1 100); do curl -sf "http://$http/live/demo/index.m3u8" >/dev/null && break; sleep 0.1; done
echo
echo "Live test stream published to live/demo. Play it with any HLS player, through the manager:"
echo "  ffplay http://$mgr/live/demo/index.m3u8"
echo "  vlc    http://$mgr/live/demo/index.m3u8"
echo "or straight from the origin: http://$http/live/demo/index.m3u8"
echo "Its multivariant playlist lists the 720p source and the 480p and 360p renditions the origin makes;"
echo "one rendition alone: http://$http/live/demo_360p/index.m3u8"
echo "Watch it over WebRTC (WHEP through the manager) in a browser, or publish your camera (WHIP) to another name:"
echo "  http://$mgr/live/proxy-subscriber.html?streamName=demo            (view=hls for LL-HLS)"
echo "  http://$mgr/live/proxy-publisher.html?streamName=camera&token=$("$bin" token -stream live/camera -ttl 24h)"
echo "Origin stats: http://$http/api/v1/stats   Metrics: http://$http/metrics and http://$mgr/metrics"

# a video on demand: a 10 s test clip uploaded to the VOD service, processed into adaptive HLS and an MP4
admin=$(sed -n 's/.*"adminToken": *"\([^"]*\)".*/\1/p' "$data/secrets.json")
clip=$(mktemp --suffix=.mp4)
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=660:sample_rate=48000" \
  -t 10 -c:v libx264 -preset veryfast -c:a aac -b:a 128k -shortest "$clip"
if id=$("$bin" ctl --vod "$vod" --token "$admin" vod upload "$clip" --title "nagare demo clip" --visibility public --wait 2>/dev/null); then
  echo
  echo "Video on demand $id (VOD service: gRPC $vod, playback http://$vodhttp):"
  echo "  HLS: http://$vodhttp/vod/$id/index.m3u8"
  echo "  MP4: http://$vodhttp/vod/$id.mp4"
  echo "  nagare ctl --vod $vod --token <admin token> vod ls"
  echo "  watch page: http://$mgr/watch/$id"
else
  echo "The VOD upload of the demo clip failed; see the log above."
fi
rm -f "$clip"
echo
echo "The operator console: http://$mgr/console   (sign in with the admin token: $admin)"
echo "The public site:      http://$mgr/   (live now, the videos; live/demo at http://$mgr/live/live/demo)"
echo "Ctrl-C to stop."
wait $node
