// Live: a live stream's page (/live/<app>/<stream>) or its embeddable player (/embed/live/<app>/<stream>).
// LL-HLS by default, WebRTC (WHEP) on request; while the stream is not live the player says so and tries
// again every 3 s.
import { useEffect, useState } from "preact/hooks";
import { RETRY_MS, playLive, type LiveMode, type LiveState } from "../player";
import { paths } from "../router";
import { Share } from "./Share";

export function Live(props: { app: string; stream: string; embed: boolean; siteName: string }) {
  const { app, stream, embed } = props;
  const name = `${app}/${stream}`;
  const [mode, setMode] = useState<LiveMode>("hls");
  const [video, setVideo] = useState<HTMLVideoElement | null>(null);
  const [state, setState] = useState<LiveState>({ kind: "connecting" });
  const [latency, setLatency] = useState<number | null>(null);
  // a page restored from the back-forward cache plays again (pagehide stopped it)
  const [restarts, setRestarts] = useState(0);
  useEffect(() => {
    const onShow = (e: PageTransitionEvent) => e.persisted && setRestarts((n) => n + 1);
    addEventListener("pageshow", onShow);
    return () => removeEventListener("pageshow", onShow);
  }, []);

  useEffect(() => {
    document.title = `${name} · ${props.siteName}`;
  }, [name, props.siteName]);

  useEffect(() => {
    if (!video) return;
    let live = true;
    const p = playLive(video, app, stream, mode, (s) => live && setState(s));
    const timer = setInterval(async () => {
      const l = await p.latency().catch(() => null);
      if (live) setLatency(l);
    }, 1000);
    // leaving the page: end the WHEP session with a DELETE that outlives the page
    const onHide = () => p.stop(true);
    addEventListener("pagehide", onHide);
    return () => {
      live = false;
      clearInterval(timer);
      removeEventListener("pagehide", onHide);
      p.stop();
      setLatency(null);
    };
  }, [video, app, stream, mode, restarts]);

  const playing = state.kind === "playing";
  const player = (
    <div class="player">
      <video ref={setVideo} data-testid="player" controls playsInline aria-label={`${name}, live`} />
      {playing && <span class="badge live player-badge">LIVE</span>}
      {state.kind === "offline" && (
        <p class="player-message" data-testid="offline" role="status">
          This stream is offline. Trying again every {RETRY_MS / 1000} s…
        </p>
      )}
      {state.kind === "error" && (
        <p class="player-message" role="status">
          Playback failed ({state.message}). Trying again in {RETRY_MS / 1000} s…
        </p>
      )}
    </div>
  );
  if (embed) return player;

  const origin = location.origin;
  return (
    <article class="watch">
      {player}
      <div class="live-head">
        <h1 class="watch-title">{name}</h1>
        {playing ? <span class="badge live">LIVE</span> : <span class="badge">{state.kind === "error" ? "retrying" : state.kind}</span>}
      </div>
      <div class="live-tools">
        <fieldset class="mode">
          <legend>Playback</legend>
          <label>
            <input type="radio" name="mode" value="hls" checked={mode === "hls"} onChange={() => setMode("hls")} />
            LL-HLS
          </label>
          <label>
            <input type="radio" name="mode" value="webrtc" checked={mode === "webrtc"} onChange={() => setMode("webrtc")} />
            WebRTC
          </label>
        </fieldset>
        <p class="latency" aria-live="off">
          Latency: <span data-testid="latency">{latency !== null && playing ? formatLatency(latency) : "–"}</span>
        </p>
      </div>
      <Share title={name} shareURL={origin + paths.live(app, stream)} embedURL={origin + paths.live(app, stream, true)} />
    </article>
  );
}

function formatLatency(s: number): string {
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(1)} s`;
}
