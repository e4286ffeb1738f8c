// The hls.js settings nagare plays live streams with, in the console and on the public site. They are the
// values of internal/webui/assets/js/hls-live.js (the older pages' copy, which the player tests read too);
// internal/webui's TestHLSLiveSettingsAgree fails when the two differ.
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

// guardLiveRate: nagare's prompt step down when a low-latency player's link narrows (hls-guard.js, where it
// is explained).
export { default as guardLiveRate } from "./hls-guard.js";
