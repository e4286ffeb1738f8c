// A WHIP publisher: the camera or the screen of this browser, sent to any stream name. A publish token
// (POST /api/v1/tokens/publish) names the WHIP URL; the offer goes there as application/sdp, the answer
// comes back; stopping DELETEs the session's Location.
import { useEffect, useRef, useState } from "preact/hooks";
import { exchange, hangUp, SessionRefused } from "../../common/webrtc";
import { errorText, post, streamPath } from "../api";
import { useDraft } from "../drafts";
import { BASE, Link } from "../router";
import type { PublishToken } from "../types";

type Source = "camera" | "screen";

interface Session {
  pc: RTCPeerConnection;
  media: MediaStream;
  location: string | null;
}

export function PublishView() {
  const [name, setName] = useDraft<string>("publish:name", () => "live/cam1");
  const [source, setSource] = useDraft<Source>("publish:source", () => "camera");
  const [status, setStatus] = useState("idle");
  const [err, setErr] = useState("");
  const [running, setRunning] = useState(false);
  const sess = useRef<Session | null>(null);
  const preview = useRef<HTMLVideoElement>(null);

  const stop = async () => {
    const s = sess.current;
    sess.current = null;
    setRunning(false);
    if (!s) return;
    s.media.getTracks().forEach((t) => t.stop());
    if (preview.current) preview.current.srcObject = null;
    await hangUp(s.pc, s.location);
    setStatus("stopped");
  };

  useEffect(
    () => () => {
      void stop();
    },
    [],
  );

  const start = async () => {
    setErr("");
    const stream = name.trim().replace(/^\/+|\/+$/g, "");
    if (!/^[^/]+\/[^/]+$/.test(stream)) {
      setErr("The stream name is <app>/<stream>, e.g. live/cam1.");
      return;
    }
    let media: MediaStream | null = null;
    let pc: RTCPeerConnection | null = null;
    try {
      setStatus(source === "camera" ? "asking for the camera…" : "asking for the screen…");
      media =
        source === "camera"
          ? await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: true })
          : await navigator.mediaDevices.getDisplayMedia({ video: true, audio: true });
      if (preview.current) preview.current.srcObject = media;
      setStatus("getting a publish token…");
      const tok = await post<PublishToken>("/api/v1/tokens/publish", { stream, ttlSeconds: 3600 });
      pc = new RTCPeerConnection();
      for (const t of media.getTracks()) pc.addTransceiver(t, { direction: "sendonly", streams: [media] });
      const ms = media;
      const conn = pc;
      sess.current = { pc: conn, media: ms, location: null };
      conn.addEventListener("connectionstatechange", () => {
        if (sess.current?.pc !== conn) return;
        setStatus(`connection ${conn.connectionState}`);
        if (conn.connectionState === "failed") setErr("The connection failed.");
      });
      // stopping the screen share from the browser's own bar stops publishing
      ms.getTracks().forEach((t) => t.addEventListener("ended", () => sess.current?.pc === conn && void stop()));
      setStatus("sending the offer…");
      let location: string | null;
      try {
        location = await exchange(conn, tok.whip, { textMax: 300 });
      } catch (e) {
        if (e instanceof SessionRefused) throw new Error(`WHIP answered ${e.status}: ${e.text}`);
        throw e;
      }
      if (sess.current?.pc === conn) sess.current.location = location;
      setRunning(true);
      setStatus("publishing");
    } catch (e) {
      setErr(errorText(e));
      if (sess.current) await stop();
      else {
        media?.getTracks().forEach((t) => t.stop());
        pc?.close();
      }
      setStatus("idle");
    }
  };

  const trimmed = name.trim().replace(/^\/+|\/+$/g, "");
  return (
    <section class="publish">
      <h1>Publish from this browser</h1>
      <p class="muted">WebRTC (WHIP) from the camera or the screen to any stream name.</p>
      <form
        class="card form"
        data-testid="publish-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!running) void start();
        }}
      >
        <div class="inline-fields">
          <div class="field">
            <label>
              <span class="label">Stream name</span>
              <input name="stream" value={name} onInput={(e) => setName(e.currentTarget.value)} disabled={running} data-testid="publish-stream" />
            </label>
          </div>
          <fieldset class="field radios" disabled={running}>
            <legend>Source</legend>
            <label>
              <input type="radio" name="source" value="camera" checked={source === "camera"} onChange={() => setSource("camera")} /> Camera
            </label>
            <label>
              <input type="radio" name="source" value="screen" checked={source === "screen"} onChange={() => setSource("screen")} /> Screen
            </label>
          </fieldset>
        </div>
        <div class="actions">
          {/* keys: two elements, not one whose type flips to submit while its click is handled (which then
              submits the form and publishes again) */}
          {!running ? (
            <button key="start" type="submit" class="primary" data-testid="publish-start" disabled={status.endsWith("…")}>
              Start publishing
            </button>
          ) : (
            <button key="stop" type="button" class="danger" onClick={() => void stop()} data-testid="publish-stop">
              Stop
            </button>
          )}
          <span role="status" data-testid="publish-status">
            {status}
          </span>
        </div>
        {err && (
          <p class="error" role="alert">
            {err}
          </p>
        )}
      </form>
      <video ref={preview} class="preview" muted autoplay playsInline data-testid="publish-preview" />
      {running && trimmed && (
        <p>
          Watch it: <Link href={`${BASE}/streams/${streamPath(trimmed)}`}>{trimmed}</Link>
        </p>
      )}
    </section>
  );
}
