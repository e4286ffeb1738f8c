// Home: the streams live now (refreshed every 5 s) and the latest public videos, with a search by title and
// "more" pages.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { date, duration, since } from "../format";
import { paths } from "../router";
import type { LiveStream, VideoSummary } from "../types";
import { Link } from "./Link";

const LIVE_REFRESH_MS = 5000;
const SEARCH_DEBOUNCE_MS = 300;

export function Home(props: { siteName: string }) {
  useEffect(() => {
    document.title = props.siteName;
  }, [props.siteName]);
  return (
    <>
      <LiveNow />
      <LatestVideos />
    </>
  );
}

function LiveNow() {
  const [streams, setStreams] = useState<LiveStream[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const r = await api.live(ctl.signal);
        setStreams(r.streams ?? []);
        setError("");
      } catch (e) {
        if (isAbort(e)) return;
        setError(e instanceof Error ? e.message : String(e)); // keep the last list
      }
      timer = setTimeout(load, LIVE_REFRESH_MS);
    };
    load();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, []);

  return (
    <section class="live-now" aria-labelledby="live-h">
      <h2 id="live-h">Live now</h2>
      {error && <p class="error">Could not load the live streams: {error}</p>}
      {streams === null && !error && <p class="muted">Loading…</p>}
      {streams !== null && streams.length === 0 && <p class="muted">Nobody is live right now.</p>}
      {streams !== null && streams.length > 0 && (
        <ul class="live-list">
          {streams.map((s) => {
            const href = paths.liveName(s.name);
            if (!href) return null;
            return (
              <li key={s.name}>
                <Link href={href} class="live-item" data-testid="live-item" data-stream={s.name}>
                  <span class="badge live">LIVE</span>
                  <span class="live-name">{s.name}</span>
                  <span class="muted live-meta">
                    {!!s.viewers && `${s.viewers} watching`}
                    {!!s.viewers && s.startedAt && " · "}
                    {s.startedAt && since(s.startedAt)}
                  </span>
                </Link>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function LatestVideos() {
  const [input, setInput] = useState("");
  const [query, setQuery] = useState("");
  const [videos, setVideos] = useState<VideoSummary[]>([]);
  const [next, setNext] = useState("");
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState("");
  const ctl = useRef<AbortController | null>(null);

  // the query follows the search box SEARCH_DEBOUNCE_MS after the last key
  useEffect(() => {
    const t = setTimeout(() => setQuery(input.trim()), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [input]);

  const load = async (q: string, pageToken: string) => {
    ctl.current?.abort();
    const mine = new AbortController();
    ctl.current = mine;
    setLoading(true);
    setError("");
    try {
      const r = await api.videos(q, pageToken, mine.signal);
      setVideos((v) => (pageToken ? [...v, ...(r.videos ?? [])] : r.videos ?? []));
      setNext(r.nextPageToken ?? "");
    } catch (e) {
      if (isAbort(e)) return;
      setError(e instanceof Error ? e.message : String(e));
    }
    if (ctl.current === mine) setLoading(false);
  };

  useEffect(() => {
    load(query, "");
    return () => ctl.current?.abort();
  }, [query]);

  return (
    <section class="latest" aria-labelledby="latest-h">
      <div class="section-head">
        <h2 id="latest-h">{query ? "Search results" : "Latest videos"}</h2>
        <form
          class="search"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            setQuery(input.trim());
          }}
        >
          <label for="search">Search by title</label>
          <input
            id="search"
            data-testid="search"
            type="search"
            value={input}
            placeholder="Search videos"
            autocomplete="off"
            onInput={(e) => setInput(e.currentTarget.value)}
          />
        </form>
      </div>
      {error && <p class="error">Could not load the videos: {error}</p>}
      {!loading && !error && videos.length === 0 && (
        <p class="muted">{query ? `No video has "${query}" in its title.` : "No videos yet."}</p>
      )}
      <ul class="grid" aria-busy={loading}>
        {videos.map((v) => (
          <li key={v.id}>
            <VideoCard video={v} />
          </li>
        ))}
      </ul>
      {loading && <p class="muted">Loading…</p>}
      {next && !loading && (
        <div class="more">
          <button type="button" onClick={() => load(query, next)}>
            More videos
          </button>
        </div>
      )}
    </section>
  );
}

function VideoCard({ video }: { video: VideoSummary }) {
  const [broken, setBroken] = useState(false);
  const d = duration(video.durationSeconds);
  return (
    <Link href={paths.watch(video.id)} class="card" data-testid="video-card" data-video-id={video.id}>
      <span class="thumb">
        {video.poster && !broken ? (
          <img src={video.poster} alt="" loading="lazy" decoding="async" onError={() => setBroken(true)} />
        ) : (
          <span class="placeholder" aria-hidden="true">
            ▶
          </span>
        )}
        {d && (
          <span class="duration" aria-label={`duration ${d}`}>
            {d}
          </span>
        )}
      </span>
      <span class="card-title">{video.title || "Untitled"}</span>
      {video.createdAt && <span class="muted card-meta">{date(video.createdAt)}</span>}
    </Link>
  );
}
