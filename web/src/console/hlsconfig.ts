// The hls.js settings nagare's pages play live streams with: the values of
// internal/webui/assets/js/hls-live.js (see the reasons there), copied; keep the two the same.
import type { HlsConfig } from "hls.js";

export const hlsLive: Partial<HlsConfig> = {
  lowLatencyMode: true,
  maxLiveSyncPlaybackRate: 1.25,
  abrEwmaFastLive: 2,
  abrEwmaSlowLive: 4,
};
