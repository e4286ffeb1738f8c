// Watch: a video's page (/watch/<id>) or its embeddable player (/embed/watch/<id>). The page's query string
// goes to the API as is: a private video's share link carries its signature there (?exp=...&sig=...).
import { useEffect, useState } from "preact/hooks";
import { ApiError, api, isAbort } from "../api";
import { date, duration } from "../format";
import { paths } from "../router";
import type { Video } from "../types";
import { NotFound } from "./NotFound";
import { Share } from "./Share";
import { VodPlayer } from "./VodPlayer";

type Load = { state: "loading" } | { state: "missing" } | { state: "error"; message: string } | { state: "ok"; video: Video };

export function Watch(props: { id: string; search: string; embed: boolean; siteName: string }) {
  const { id, search, embed } = props;
  const [load, setLoad] = useState<Load>({ state: "loading" });

  useEffect(() => {
    const ctl = new AbortController();
    setLoad({ state: "loading" });
    api.video(id, search, ctl.signal).then(
      (video) => setLoad({ state: "ok", video }),
      (e) => {
        if (isAbort(e)) return;
        if (e instanceof ApiError && e.status === 404) setLoad({ state: "missing" });
        else setLoad({ state: "error", message: e instanceof Error ? e.message : String(e) });
      },
    );
    return () => ctl.abort();
  }, [id, search]);

  useEffect(() => {
    if (load.state === "ok") document.title = `${load.video.title || "Untitled"} · ${props.siteName}`;
    else if (load.state === "missing") document.title = `Not found · ${props.siteName}`;
  }, [load, props.siteName]);

  if (load.state === "loading") {
    return <div class={embed ? "embed-message" : "player player-empty"} aria-busy="true" />;
  }
  if (load.state === "missing") {
    return <NotFound embed={embed} message="This video does not exist or is private." />;
  }
  if (load.state === "error") {
    return (
      <p class={embed ? "embed-message" : "error"} role="alert">
        Could not load the video: {load.message}
      </p>
    );
  }

  const v = load.video;
  const title = v.title || "Untitled";
  const player = v.playback ? (
    <VodPlayer playback={v.playback} title={title} durationSeconds={v.durationSeconds} />
  ) : (
    <div class="player player-empty">
      <p class="player-message">
        {v.status === "failed"
          ? "This video could not be processed."
          : `This video is not ready yet${v.progress ? ` (${Math.round(v.progress)}%)` : ""}.`}
      </p>
    </div>
  );
  if (embed) return player;

  const origin = location.origin;
  return (
    <article class="watch">
      {player}
      <h1 class="watch-title">{title}</h1>
      <p class="muted watch-meta">
        {[duration(v.durationSeconds), date(v.createdAt)].filter((s) => s).join(" · ")}
      </p>
      {v.description && <p class="description">{v.description}</p>}
      <Share
        title={title}
        shareURL={origin + paths.watch(v.id) + search}
        embedURL={origin + paths.watch(v.id, true) + search}
      />
    </article>
  );
}
