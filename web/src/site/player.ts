// player.ts: playback for the watch pages, without any UI.
//   - startVod: a video's HLS with hls.js (no LL-HLS), HLS natively where there is no MediaSource (Safari on
//     iPhone), the MP4 as a last resort (and when HLS fails).
//   - playLive: a live stream with LL-HLS (hls.js, settings of hls-live.ts) or WebRTC (WHEP), retried every
//     3 s while the stream is offline or the connection fails.
// hls.js is imported when a player starts, so the home page does not load it.
import type Hls from "hls.js";
import type { ErrorData, HlsConfig } from "hls.js";
import { exchange, hangUp, receiveOnly, SessionRefused } from "../common/webrtc";
import { guardLiveRate } from "../common/hls-live";
import { HLS_LIVE, HLS_VOD, STALL_JUMP_SECONDS } from "./hls-live";
import type { Playback } from "./types";

type HlsClass = typeof Hls;

let hlsModule: Promise<HlsClass> | null = null;
function loadHls(): Promise<HlsClass> {
  hlsModule ??= import("hls.js").then((m) => m.default);
  return hlsModule;
}

let serverLiveSettings: Partial<HlsConfig> = {};
/** setServerLiveSettings takes the "hls" settings of GET /site/api/config, used by players started later. */
export function setServerLiveSettings(s: Record<string, unknown> | undefined): void {
  serverLiveSettings = (s ?? {}) as Partial<HlsConfig>;
}

function nativeHls(video: HTMLVideoElement): boolean {
  return video.canPlayType("application/vnd.apple.mpegurl") !== "";
}

/** play starts the video; where the browser refuses to play sound without a gesture, it plays muted (the
 * controls unmute it). */
function play(video: HTMLVideoElement): void {
  video.play().catch((e: unknown) => {
    if (e instanceof DOMException && e.name === "NotAllowedError" && !video.muted) {
      video.muted = true;
      video.play().catch(() => {});
    }
  });
}

function clearMedia(video: HTMLVideoElement): void {
  video.srcObject = null;
  video.removeAttribute("src");
  video.load();
}

// ---------------------------------------------------------------------------------------------------- VOD

export interface Stoppable {
  stop(): void;
}

/** startVod plays a ready video's playback URLs in video; onFail is told when nothing can play it. */
export function startVod(video: HTMLVideoElement, pb: Playback, onFail: (message: string) => void): Stoppable {
  let stopped = false;
  let hls: Hls | null = null;
  const mp4 = (why: string) => {
    if (stopped) return;
    if (pb.mp4 && video.getAttribute("src") !== pb.mp4) {
      video.src = pb.mp4;
    } else {
      onFail(why);
    }
  };
  const onNativeError = () => mp4(`the browser could not play the video (${video.error?.message || "media error"})`);

  (async () => {
    if (pb.hls) {
      const H = await loadHls().catch(() => null);
      if (stopped) return;
      if (H?.isSupported()) {
        const h = new H({ ...HLS_VOD });
        hls = h;
        let recovered = false;
        h.on(H.Events.ERROR, (_e, d: ErrorData) => {
          if (!d.fatal) return;
          if (d.type === H.ErrorTypes.MEDIA_ERROR && !recovered) {
            recovered = true;
            h.recoverMediaError();
            return;
          }
          h.destroy();
          hls = null;
          mp4(`HLS: ${d.details}`);
        });
        h.loadSource(pb.hls);
        h.attachMedia(video);
        return;
      }
      if (nativeHls(video)) {
        video.addEventListener("error", onNativeError);
        video.src = pb.hls;
        return;
      }
    }
    if (pb.mp4) {
      video.addEventListener("error", onNativeError);
      video.src = pb.mp4;
      return;
    }
    onFail("this browser can play none of this video's formats");
  })();

  return {
    stop() {
      stopped = true;
      video.removeEventListener("error", onNativeError);
      hls?.destroy();
      hls = null;
      clearMedia(video);
    },
  };
}

// --------------------------------------------------------------------------------------------------- live

export type LiveMode = "hls" | "webrtc";

export type LiveState =
  | { kind: "connecting" }
  | { kind: "playing" }
  | { kind: "offline" }
  | { kind: "error"; message: string };

export interface LivePlayer {
  /** stop ends playback; keepalive lets a WHEP DELETE outlive the page (pagehide) */
  stop(keepalive?: boolean): void;
  /** latency is the seconds between the live edge and what is shown, when known */
  latency(): Promise<number | null>;
}

/** how long the page waits before it tries an offline or failed stream again */
export const RETRY_MS = 3000;

// Session is one attempt: one hls.js instance or one WHEP peer connection.
interface Session {
  close(keepalive: boolean): void;
  latency(): Promise<number | null>;
}

// End is why a session ended: the stream is not live (a 404), or another failure.
type End = { offline: true } | { offline: false; message: string };

class Offline extends Error {}

// The answers that mean "not live": the edge has no such playlist (404, 410), or the manager found no node
// that has the stream (503 with Retry-After: what `nagare all` answers for a stream nobody publishes). A
// cluster too busy to take a viewer answers 503 as well; to a viewer both are "not available, retrying".
function offlineStatus(status: number | undefined): boolean {
  return status === 404 || status === 410 || status === 503;
}

/** playLive plays /<app>/<stream> in video until stop, telling onState what it shows. */
export function playLive(
  video: HTMLVideoElement,
  app: string,
  stream: string,
  mode: LiveMode,
  onState: (s: LiveState) => void,
): LivePlayer {
  const base = `/${encodeURIComponent(app)}/${encodeURIComponent(stream)}`;
  let stopped = false;
  let session: Session | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;

  const ended = (mine: number, why: End) => {
    if (stopped || mine !== attempt) return;
    attempt++; // a late event of this session changes nothing
    session?.close(false);
    session = null;
    clearMedia(video);
    onState(why.offline ? { kind: "offline" } : { kind: "error", message: why.message });
    timer = setTimeout(start, RETRY_MS);
  };

  async function start() {
    const mine = ++attempt;
    // "connecting" on the first attempt only: a retry keeps "offline" (or the error) on screen until it plays
    if (mine === 1) onState({ kind: "connecting" });
    const playing = () => {
      if (!stopped && mine === attempt) onState({ kind: "playing" });
    };
    const end = (why: End) => ended(mine, why);
    try {
      const s =
        mode === "webrtc"
          ? await whepSession(video, `${base}/whep`, playing, end, () => stopped || mine !== attempt)
          : await hlsSession(video, `${base}/index.m3u8`, playing, end);
      if (stopped || mine !== attempt) {
        s.close(false);
        return;
      }
      session = s;
    } catch (e) {
      end(e instanceof Offline ? { offline: true } : { offline: false, message: e instanceof Error ? e.message : String(e) });
    }
  }
  start();

  return {
    stop(keepalive = false) {
      stopped = true;
      clearTimeout(timer);
      session?.close(keepalive);
      session = null;
      clearMedia(video);
    },
    latency: () => session?.latency() ?? Promise.resolve(null),
  };
}

// hlsSession plays a live playlist with hls.js (or natively where there is no MediaSource).
async function hlsSession(
  video: HTMLVideoElement,
  url: string,
  playing: () => void,
  end: (why: End) => void,
): Promise<Session> {
  const H = await loadHls().catch(() => null);
  if (!H?.isSupported()) {
    if (nativeHls(video)) return nativeSession(video, url, playing, end);
    throw new Error("this browser plays neither hls.js (no MediaSource) nor HLS natively");
  }
  const hls = new H({ ...HLS_LIVE, ...serverLiveSettings });
  guardLiveRate(hls, H);

  // Recovery after a stall. Each stall (hls.js's BUFFER_STALLED_ERROR) makes hls.js add
  // liveSyncOnStallIncrease to its target latency for the rest of the session, and the catch-up rate
  // (maxLiveSyncPlaybackRate) wins back a gap of seconds only slowly. So once the video plays again after a
  // stall (a BUFFER_STALLED_ERROR, or a 'waiting' event that no seek caused), put the target latency back
  // to what it was before any stall (setting it clears hls.js's stall count) and, when more than
  // STALL_JUMP_SECONDS behind, seek to hls.liveSyncPosition. Only after playback resumed: a seek while the
  // buffer is empty would just stall again.
  let started = false;
  let stalled = false;
  let baseTarget: number | null = null;
  const onWaiting = () => {
    if (started && !video.seeking) stalled = true;
  };
  const onPlaying = () => {
    started = true;
    playing();
    if (!stalled) return;
    stalled = false;
    if (baseTarget !== null) hls.targetLatency = baseTarget;
    const pos = hls.liveSyncPosition;
    if (pos !== null && pos - video.currentTime > STALL_JUMP_SECONDS) video.currentTime = pos;
  };
  const onEnded = () => end({ offline: true }); // the publisher stopped (the playlist ended)
  video.addEventListener("waiting", onWaiting);
  video.addEventListener("playing", onPlaying);
  video.addEventListener("ended", onEnded);

  hls.on(H.Events.LEVEL_UPDATED, () => {
    if (baseTarget === null && !stalled) baseTarget = hls.targetLatency;
  });
  hls.on(H.Events.MANIFEST_PARSED, () => play(video));
  let recovered = false;
  hls.on(H.Events.ERROR, (_e, d: ErrorData) => {
    if (d.details === H.ErrorDetails.BUFFER_STALLED_ERROR && started) stalled = true;
    if (!d.fatal) return;
    if (d.type === H.ErrorTypes.MEDIA_ERROR && !recovered) {
      recovered = true;
      hls.recoverMediaError();
      return;
    }
    const status = d.response?.code;
    // a playlist that is not there (or no longer): the stream is not live
    if (offlineStatus(status)) end({ offline: true });
    else end({ offline: false, message: `hls.js: ${d.details}${status ? ` (HTTP ${status})` : ""}` });
  });
  hls.loadSource(url);
  hls.attachMedia(video);

  return {
    close() {
      video.removeEventListener("waiting", onWaiting);
      video.removeEventListener("playing", onPlaying);
      video.removeEventListener("ended", onEnded);
      hls.destroy();
    },
    latency: async () => (hls.latency > 0 ? hls.latency : null),
  };
}

// nativeSession: Safari's own HLS. The page does not see the playlist's status: after an error it asks for
// the playlist itself to tell an offline stream from a failure.
function nativeSession(video: HTMLVideoElement, url: string, playing: () => void, end: (why: End) => void): Session {
  const onError = async () => {
    let status = 0;
    try {
      const res = await fetch(url, { cache: "no-store" });
      status = res.status;
      await res.body?.cancel();
    } catch {
      // a network failure: status 0
    }
    if (offlineStatus(status)) end({ offline: true });
    else end({ offline: false, message: `native HLS: ${video.error?.message || "media error"}${status ? ` (HTTP ${status})` : ""}` });
  };
  const onEnded = () => end({ offline: true });
  video.addEventListener("error", onError);
  video.addEventListener("playing", playing);
  video.addEventListener("ended", onEnded);
  video.src = url;
  play(video);
  return {
    close() {
      video.removeEventListener("error", onError);
      video.removeEventListener("playing", playing);
      video.removeEventListener("ended", onEnded);
    },
    async latency() {
      const r = video.seekable;
      return r.length > 0 ? Math.max(0, r.end(r.length - 1) - video.currentTime) : null;
    },
  };
}

// how long a WHEP session may stay disconnected before the page connects again (a short network hiccup comes
// back within seconds; a node that ended the session leaves the browser disconnected)
const DISCONNECTED_MS = 4000;

// whepSession: a plain WHEP exchange. Receive-only audio and video, the offer (with its ICE candidates) in a
// POST, the manager's 307 to a node followed by fetch, the answer set; DELETE of the Location when done.
async function whepSession(
  video: HTMLVideoElement,
  url: string,
  playing: () => void,
  end: (why: End) => void,
  cancelled: () => boolean,
): Promise<Session> {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  let resource: string | null = null;
  let closed = false;
  const close = (keepalive: boolean) => {
    if (closed) return;
    closed = true;
    void hangUp(pc, resource, keepalive);
    video.removeEventListener("playing", playing);
  };
  try {
    const remote = receiveOnly(pc);
    pc.addEventListener("connectionstatechange", () => {
      const st = pc.connectionState;
      if (closed) return;
      if (st === "failed" || st === "closed") {
        end({ offline: false, message: `WebRTC connection ${st}` });
      } else if (st === "disconnected") {
        setTimeout(() => {
          if (!closed && pc.connectionState === "disconnected") end({ offline: false, message: "WebRTC connection lost" });
        }, DISCONNECTED_MS);
      }
    });

    try {
      resource = await exchange(pc, url, { init: { cache: "no-store", redirect: "follow" }, cancelled });
      if (cancelled()) throw new Error("cancelled"); // closed below, with its resource
    } catch (e) {
      if (e instanceof SessionRefused) {
        if (offlineStatus(e.status)) throw new Offline();
        throw new Error(`WHEP: ${e.message}`);
      }
      throw e;
    }
    video.addEventListener("playing", playing);
    video.srcObject = remote;
    play(video);
  } catch (e) {
    close(false);
    throw e;
  }

  return {
    close,
    // what the browser holds back (jitter buffer) plus half the round trip: an estimate of the delay
    async latency() {
      const stats = await pc.getStats();
      let jitter: number | null = null;
      let rtt = 0;
      stats.forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "video" && r.jitterBufferEmittedCount > 0) {
          jitter = r.jitterBufferDelay / r.jitterBufferEmittedCount;
        }
        if (r.type === "candidate-pair" && r.nominated && typeof r.currentRoundTripTime === "number") {
          rtt = r.currentRoundTripTime;
        }
      });
      return jitter === null ? null : jitter + rtt / 2;
    },
  };
}
