// A video player: HLS through hls.js where MediaSource exists (live streams with nagare's live settings),
// the browser's own HLS otherwise (Safari on iOS), a plain file (MP4), or WebRTC (a WHEP session).
import type Hls from "hls.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { guardLiveRate, HLS_LIVE } from "../common/hls-live";
import { exchange, hangUp, receiveOnly } from "../common/webrtc";

// hls.js (a sixth of a megabyte gzipped) is loaded when a player first needs it, not with the console
let hlsModule: Promise<typeof Hls> | undefined;
const loadHls = () => (hlsModule ??= import("hls.js").then((m) => m.default));

export interface PlayerStats {
  /** seconds behind the live edge (hls.js's latency), if known */
  latency?: number;
  /** seconds behind the wall clock by PROGRAM-DATE-TIME, if the playlist carries it */
  behindClock?: number;
  decoded?: number;
  dropped?: number;
  engine: "hls.js" | "native" | "file" | "webrtc" | "none";
  level?: string;
}

export function Player(props: {
  src: string;
  /** whep: src is the stream's WHEP endpoint (the manager's, which redirects to a node) */
  kind: "hls" | "mp4" | "whep";
  live?: boolean;
  poster?: string;
  testid?: string;
  onStats?: (s: PlayerStats) => void;
}) {
  const ref = useRef<HTMLVideoElement>(null);
  const [err, setErr] = useState("");
  const statsCb = useRef(props.onStats);
  statsCb.current = props.onStats;

  useEffect(() => {
    const video = ref.current!;
    let hls: Hls | null = null;
    let engine: PlayerStats["engine"] = "none";
    let retry: number | undefined;
    let whep: WHEPSession | null = null;
    let cancelled = false;
    setErr("");
    if (props.kind === "whep") {
      engine = "webrtc";
      whep = playWHEP(video, props.src, setErr);
    } else if (props.kind === "mp4") {
      engine = "file";
      video.src = props.src;
    } else {
      void loadHls().then((H) => {
        if (cancelled) return;
        if (H.isSupported()) {
          engine = "hls.js";
          const h = new H(props.live ? { ...HLS_LIVE } : {});
          if (props.live) guardLiveRate(h, H);
          hls = h;
          h.on(H.Events.ERROR, (_ev, data) => {
            if (!data.fatal) return;
            if (data.type === H.ErrorTypes.MEDIA_ERROR) {
              h.recoverMediaError();
              return;
            }
            setErr(`Playback error: ${data.details}. Retrying…`);
            clearTimeout(retry);
            retry = window.setTimeout(() => {
              h.loadSource(props.src);
              h.startLoad();
            }, 3000);
          });
          h.on(H.Events.FRAG_LOADED, () => setErr(""));
          h.loadSource(props.src);
          h.attachMedia(video);
        } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
          engine = "native";
          video.src = props.src;
        } else {
          setErr("This browser cannot play HLS.");
          return;
        }
        void video.play().catch(() => {
          /* autoplay refused: the controls are there */
        });
      });
    }
    void video.play().catch(() => {
      /* autoplay refused: the controls are there */
    });
    const tick = window.setInterval(() => {
      const cb = statsCb.current;
      if (!cb) return;
      const s: PlayerStats = { engine };
      const q = typeof video.getVideoPlaybackQuality === "function" ? video.getVideoPlaybackQuality() : null;
      if (q) {
        s.decoded = q.totalVideoFrames;
        s.dropped = q.droppedVideoFrames;
      } else {
        const wk = (video as unknown as { webkitDecodedFrameCount?: number }).webkitDecodedFrameCount;
        if (typeof wk === "number") s.decoded = wk;
      }
      if (hls) {
        if (props.live && Number.isFinite(hls.latency) && hls.latency > 0) s.latency = hls.latency;
        const pd = hls.playingDate;
        if (pd) s.behindClock = (Date.now() - pd.getTime()) / 1000;
        const lv = hls.levels?.[hls.currentLevel];
        if (lv) s.level = `${lv.width}×${lv.height} @ ${Math.round(lv.bitrate / 1000)} kbit/s`;
      } else if (engine === "native" && props.live) {
        // Safari: the playlist's PROGRAM-DATE-TIME as video.getStartDate()
        const sd = (video as unknown as { getStartDate?: () => Date }).getStartDate?.();
        if (sd && !isNaN(sd.getTime())) s.behindClock = (Date.now() - (sd.getTime() + video.currentTime * 1000)) / 1000;
        if (video.seekable.length > 0) s.latency = video.seekable.end(video.seekable.length - 1) - video.currentTime;
      }
      cb(s);
    }, 1000);
    return () => {
      cancelled = true;
      clearInterval(tick);
      clearTimeout(retry);
      hls?.destroy();
      whep?.stop();
      video.srcObject = null;
      video.removeAttribute("src");
      video.load();
    };
  }, [props.src, props.kind, props.live]);

  return (
    <div class="player">
      <video
        ref={ref}
        data-testid={props.testid ?? "player"}
        controls
        muted
        autoplay
        playsInline
        poster={props.poster}
      />
      {err && (
        <p class="error small" role="alert">
          {err}
        </p>
      )}
    </div>
  );
}

interface WHEPSession {
  stop(): void;
}

/** playWHEP receives the stream over WebRTC: a receive-only offer with its candidates POSTed to url (fetch
 * follows the manager's 307 to a node), the answer set, the media shown; stop ends the session with a DELETE
 * of its Location. A failure is told through setErr (the operator chooses HLS again, or reloads). */
function playWHEP(video: HTMLVideoElement, url: string, setErr: (e: string) => void): WHEPSession {
  const pc = new RTCPeerConnection();
  let resource: string | null = null;
  let stopped = false;
  const stream = receiveOnly(pc);
  pc.addEventListener("track", () => (video.srcObject = stream));
  const end = () => {
    void hangUp(pc, resource, true);
    resource = null;
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") setErr("WebRTC: the connection failed.");
  };
  void (async () => {
    try {
      resource = await exchange(pc, url, { cancelled: () => stopped });
      if (stopped) end();
    } catch (e) {
      if (!stopped) setErr(`WebRTC: ${e instanceof Error ? e.message : String(e)}`);
      else end();
    }
  })();
  return {
    stop() {
      stopped = true;
      end();
    },
  };
}
