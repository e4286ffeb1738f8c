// The site's player settings. Live: nagare's shared hls.js settings (../common/hls-live.ts); GET
// /site/api/config may name settings of its own ("hls"), which win (see setServerLiveSettings).
export { HLS_LIVE } from "../common/hls-live";

// VOD: whole segments, no LL-HLS machinery
export const HLS_VOD = {
  lowLatencyMode: false,
} as const;

// how far behind the target latency a stalled player must be, once it plays again, to jump forward to
// hls.liveSyncPosition (smaller gaps are left to the bounded catch-up rate)
export const STALL_JUMP_SECONDS = 1;
