// hls-live.ts: the hls.js settings the site plays live streams with: the values of
// internal/webui/assets/js/hls-live.js, nagare's settings for its other pages (keep the two alike).
// GET /site/api/config may name settings of its own ("hls"); those win (see setServerLiveSettings).
//
// lowLatencyMode: LL-HLS parts and blocking playlist reloads.
// maxLiveSyncPlaybackRate: after a stall, catch up with the live edge at up to 1.25x instead of staying
//   behind for the rest of the session (hls.js's default, 1, never catches up).
// abrEwmaFastLive/abrEwmaSlowLive: the half-lives (seconds of loading) of hls.js's two bandwidth averages;
//   a short slow half-life lets a player climb back up the ladder after a congested stretch in seconds
//   rather than a minute (see hls-live.js).
export const HLS_LIVE = {
  lowLatencyMode: true,
  maxLiveSyncPlaybackRate: 1.25,
  abrEwmaFastLive: 2,
  abrEwmaSlowLive: 4,
} as const;

// VOD: whole segments, no LL-HLS machinery
export const HLS_VOD = {
  lowLatencyMode: false,
} as const;

// how far behind the target latency a stalled player must be, once it plays again, to jump forward to
// hls.liveSyncPosition (smaller gaps are left to the bounded catch-up rate)
export const STALL_JUMP_SECONDS = 1;
