// hls-live.js: the hls.js settings nagare's pages play live streams with. What follows `export default` is
// plain JSON (the Go side reads it for the player tests, webui.HLSLiveConfig): keep it so.
//
// lowLatencyMode: LL-HLS parts and blocking playlist reloads.
// maxLiveSyncPlaybackRate: after a stall, catch up with the live edge at up to 1.25x instead of staying
//   behind for the rest of the session (hls.js's default, 1, never catches up).
// abrEwmaFastLive/abrEwmaSlowLive: the half-lives (seconds of loading) of hls.js's two bandwidth averages.
//   hls.js weighs a sample by how long its load took, so after a congested stretch (slow loads: heavy
//   samples) the quick loads of small LL-HLS parts move the estimate by about ln2/half-life x the bits of
//   each part: with the default slow half-life of 9 s the estimate grows by under a tenth of the current
//   rendition's bit rate per second, and a player needs a minute or more to climb back through a ladder.
//   4 s climbs about twice as fast; the fast average still steps down within a part or two.
export default {
  "lowLatencyMode": true,
  "maxLiveSyncPlaybackRate": 1.25,
  "abrEwmaFastLive": 2,
  "abrEwmaSlowLive": 4
};
