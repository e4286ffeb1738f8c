// VodPlayer: a ready video's player. With a storyboard it draws its own controls, whose seek bar shows the
// thumbnail of the hovered time; without one, the browser's controls.
import { useEffect, useRef, useState } from "preact/hooks";
import { duration as fmt } from "../format";
import { startVod } from "../player";
import { loadStoryboard, thumbAt, type Thumb } from "../storyboard";
import type { Playback } from "../types";
import { FullscreenIcon, MutedIcon, PauseIcon, PlayIcon, SoundIcon } from "./icons";

export function VodPlayer(props: { playback: Playback; title: string; durationSeconds?: number }) {
  const { playback } = props;
  // the elements as state: the controls render once the video element exists
  const [video, setVideo] = useState<HTMLVideoElement | null>(null);
  const [box, setBox] = useState<HTMLDivElement | null>(null);
  const [failure, setFailure] = useState("");
  const [thumbs, setThumbs] = useState<Thumb[]>([]);
  const custom = !!playback.storyboard;

  useEffect(() => {
    if (!video) return;
    setFailure("");
    const p = startVod(video, playback, setFailure);
    return () => p.stop();
  }, [video, playback.hls, playback.mp4]);

  useEffect(() => {
    setThumbs([]);
    if (!playback.storyboard) return;
    const ctl = new AbortController();
    // without thumbnails the seek bar still seeks
    loadStoryboard(playback.storyboard, ctl.signal).then(setThumbs, () => {});
    return () => ctl.abort();
  }, [playback.storyboard]);

  return (
    <div class="player" ref={setBox}>
      <video
        ref={setVideo}
        data-testid="player"
        poster={playback.poster}
        controls={!custom}
        playsInline
        preload="metadata"
        aria-label={props.title}
        onClick={custom ? (e) => togglePlay(e.currentTarget) : undefined}
      />
      {failure && (
        <p class="player-message" role="alert">
          This video cannot be played here: {failure}
        </p>
      )}
      {custom && video && <Controls video={video} box={box} thumbs={thumbs} durationSeconds={props.durationSeconds} />}
    </div>
  );
}

function togglePlay(v: HTMLVideoElement) {
  if (v.paused || v.ended) v.play().catch(() => {});
  else v.pause();
}

// useMediaState follows the video element's state (playing, time, duration, sound).
function useMediaState(v: HTMLVideoElement, fallbackDuration: number) {
  const read = () => ({
    paused: v.paused || v.ended,
    time: v.currentTime,
    duration: Number.isFinite(v.duration) && v.duration > 0 ? v.duration : fallbackDuration,
    muted: v.muted || v.volume === 0,
  });
  const [s, set] = useState(read);
  useEffect(() => {
    const update = () => set(read());
    const events = ["play", "pause", "ended", "timeupdate", "durationchange", "loadedmetadata", "volumechange", "seeking", "emptied"];
    events.forEach((e) => v.addEventListener(e, update));
    update();
    return () => events.forEach((e) => v.removeEventListener(e, update));
  }, [v, fallbackDuration]);
  return s;
}

function Controls(props: { video: HTMLVideoElement; box: HTMLDivElement | null; thumbs: Thumb[]; durationSeconds?: number }) {
  const v = props.video;
  const s = useMediaState(v, props.durationSeconds ?? 0);
  const fullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else props.box?.requestFullscreen?.().catch(() => {});
  };
  return (
    <div class={s.paused ? "controls" : "controls playing"}>
      <button type="button" class="icon" onClick={() => togglePlay(v)} aria-label={s.paused ? "Play" : "Pause"}>
        {s.paused ? <PlayIcon /> : <PauseIcon />}
      </button>
      <SeekBar video={v} time={s.time} duration={s.duration} thumbs={props.thumbs} />
      <span class="time" aria-hidden="true">
        {fmt(s.time)} / {fmt(s.duration)}
      </span>
      <button type="button" class="icon" onClick={() => (v.muted = !v.muted)} aria-label={s.muted ? "Unmute" : "Mute"}>
        {s.muted ? <MutedIcon /> : <SoundIcon />}
      </button>
      {document.fullscreenEnabled && (
        <button type="button" class="icon" onClick={fullscreen} aria-label="Full screen">
          <FullscreenIcon />
        </button>
      )}
    </div>
  );
}

// SeekBar: a range input over the video's duration. Hovering it (or moving it with the keyboard) shows the
// storyboard thumbnail of that time above the bar: a box whose background is the sprite, shifted to the cue's
// region (style set through the DOM, which the page's Content-Security-Policy allows).
function SeekBar(props: { video: HTMLVideoElement; time: number; duration: number; thumbs: Thumb[] }) {
  const wrap = useRef<HTMLDivElement>(null);
  const [preview, setPreview] = useState<number | null>(null); // the previewed time
  const dur = props.duration;

  const fromPointer = (e: PointerEvent) => {
    const r = wrap.current?.getBoundingClientRect();
    if (!r || r.width === 0 || dur <= 0) return;
    const frac = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    setPreview(frac * dur);
  };

  const thumb = preview !== null ? thumbAt(props.thumbs, preview) : null;
  let left = 0;
  if (preview !== null && wrap.current && dur > 0) {
    // centred on the previewed time, kept inside the bar
    const width = wrap.current.clientWidth;
    const half = (thumb?.w ?? 48) / 2;
    left = Math.min(Math.max((preview / dur) * width, half), Math.max(half, width - half));
  }

  return (
    <div class="seek" ref={wrap} onPointerMove={fromPointer} onPointerLeave={() => setPreview(null)}>
      {preview !== null && (
        <div class="seek-preview" style={{ left: `${left}px` }} aria-hidden="true">
          {thumb && (
            <div
              class="storyboard-thumb"
              data-testid="storyboard-thumb"
              style={{
                width: `${thumb.w}px`,
                height: `${thumb.h}px`,
                backgroundImage: `url("${thumb.image}")`,
                backgroundPosition: `-${thumb.x}px -${thumb.y}px`,
              }}
            />
          )}
          <span class="seek-time">{fmt(preview)}</span>
        </div>
      )}
      <input
        type="range"
        aria-label="Seek"
        aria-valuetext={`${fmt(props.time)} of ${fmt(dur)}`}
        min={0}
        max={dur > 0 ? dur : 0}
        step="any"
        value={Math.min(props.time, dur || 0)}
        disabled={dur <= 0}
        onInput={(e) => {
          const t = Number(e.currentTarget.value);
          props.video.currentTime = t;
          if (document.activeElement === e.currentTarget && !e.currentTarget.matches(":hover")) setPreview(t);
        }}
        onKeyDown={(e) => {
          // arrows step 5 s (a range with step "any" would move 1% of the video)
          const d = e.key === "ArrowRight" || e.key === "ArrowUp" ? 5 : e.key === "ArrowLeft" || e.key === "ArrowDown" ? -5 : 0;
          if (d === 0 || dur <= 0) return;
          e.preventDefault();
          const t = Math.min(dur, Math.max(0, props.video.currentTime + d));
          props.video.currentTime = t;
          setPreview(t);
        }}
        onBlur={() => setPreview(null)}
      />
    </div>
  );
}
