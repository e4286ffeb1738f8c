// The VOD library: the videos page by page, uploads with progress (tus, resumable), processing progress,
// playback, editing, deletion and share links.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, del, enc, errorText, get, patch } from "../api";
import { FieldError, FormError, ListTable, useConfirm, useFocusFirst, useForm, type ConfirmSpec } from "../components";
import { useDraft } from "../drafts";
import { bytes, dateTime, duration } from "../format";
import { Player } from "../player";
import { useStore } from "../store";
import type { Video, VideoPage, Visibility } from "../types";
import { cancelUpload, pauseUpload, resumeUpload, startUpload, uploads } from "../uploads";
import { Field, FormButtons, Select, fieldProps } from "./fields";

const PAGE_SIZE = 20;
const VISIBILITIES: Visibility[] = ["public", "unlisted", "private"];

export function VodView() {
  // tokens of the pages before this one, and this one's
  const [stack, setStack] = useState<string[]>([]);
  const [token, setToken] = useState("");
  const [page, setPage] = useState<VideoPage | null>(null);
  const [err, setErr] = useState("");
  const [n, setN] = useState(0);
  const [playing, setPlaying] = useState<{ id: string; kind: "hls" | "mp4" } | null>(null);
  const [editing, setEditing] = useDraft<string | null>("vod:editing", () => null);
  const [confirmEl, ask] = useConfirm();
  const reload = () => setN((x) => x + 1);

  useEffect(() => {
    let stop = false;
    get<VideoPage>(`/api/v1/vod/videos?pageToken=${enc(token)}&pageSize=${PAGE_SIZE}`)
      .then((p) => {
        if (stop) return;
        setPage(p);
        setErr("");
      })
      .catch((e) => !stop && setErr(errorText(e)));
    return () => {
      stop = true;
    };
  }, [token, n]);

  const videos = page?.videos ?? [];
  const busy = videos.some((v) => v.status === "processing" || v.status === "uploading");
  // poll every 2 s while something is being processed
  useEffect(() => {
    if (!busy) return;
    const t = setTimeout(reload, 2000);
    return () => clearTimeout(t);
  }, [busy, page]);

  const playingVideo = playing ? videos.find((v) => v.id === playing.id) : undefined;
  return (
    <section class="vod">
      <h1>VOD library</h1>
      <UploadBox onUploaded={reload} />
      {playing && playingVideo?.playback && (
        <div class="card now-playing">
          <div class="section-head">
            <h2>{playingVideo.title || playingVideo.id}</h2>
            <button type="button" class="small" onClick={() => setPlaying(null)}>
              Close player
            </button>
          </div>
          <Player
            key={`${playing.id}:${playing.kind}`}
            src={(playing.kind === "hls" ? playingVideo.playback.hls : playingVideo.playback.mp4) ?? ""}
            kind={playing.kind}
            poster={playingVideo.playback.poster}
            testid="vod-player"
          />
        </div>
      )}
      <h2>Videos</h2>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {!page && !err && <p aria-busy="true">Loading…</p>}
      {page && (
        <>
          <ListTable
            heads={["Title", "Status", "Visibility", { label: "Length", num: true }, "Picture", { label: "Size", num: true }, "Created", "Actions"]}
            items={videos}
            empty="No videos."
            row={(v) => (
              <VideoRow
                key={v.id}
                v={v}
                editing={editing === v.id}
                onEdit={() => setEditing(editing === v.id ? null : v.id)}
                onEdited={() => {
                  setEditing(null);
                  reload();
                }}
                onPlay={(kind) => setPlaying({ id: v.id, kind })}
                onDeleted={() => {
                  if (playing?.id === v.id) setPlaying(null);
                  reload();
                }}
                ask={ask}
              />
            )}
          />
          <nav class="pager" aria-label="Video pages">
            <button type="button" disabled={stack.length === 0} onClick={() => (setStack([]), setToken(""))}>
              « First
            </button>
            <button
              type="button"
              disabled={stack.length === 0}
              data-testid="page-prev"
              onClick={() => {
                const s = [...stack];
                const prev = s.pop() ?? "";
                setStack(s);
                setToken(prev);
              }}
            >
              ‹ Previous
            </button>
            <span>Page {stack.length + 1}</span>
            <button
              type="button"
              disabled={!page.nextPageToken}
              data-testid="page-next"
              onClick={() => {
                setStack([...stack, token]);
                setToken(page.nextPageToken);
              }}
            >
              Next ›
            </button>
          </nav>
        </>
      )}
      {confirmEl}
    </section>
  );
}

function UploadBox(props: { onUploaded: () => void }) {
  const list = useStore(uploads);
  const [title, setTitle] = useDraft<string>("vod:upload-title", () => "");
  const file = useRef<HTMLInputElement>(null);
  return (
    <div class="card upload">
      <h2>Upload</h2>
      <div class="inline-fields">
        <div class="field">
          <label>
            <span class="label">Title (optional)</span>
            <input type="text" name="title" value={title} onInput={(e) => setTitle(e.currentTarget.value)} data-testid="vod-title" />
          </label>
        </div>
        <div class="field">
          <label>
            <span class="label">Video file (starts uploading when chosen)</span>
            <input
              ref={file}
              type="file"
              accept="video/*,audio/*,.mp4,.mov,.mkv,.webm,.ts"
              data-testid="vod-file"
              onChange={(e) => {
                const files = Array.from(e.currentTarget.files ?? []);
                for (const f of files) void startUpload(f, title, props.onUploaded);
                setTitle("");
                e.currentTarget.value = "";
              }}
            />
          </label>
        </div>
      </div>
      {list.length > 0 && (
        <ul class="uploads">
          {list.map((u) => {
            const pct = u.total ? Math.floor((100 * u.sent) / u.total) : 0;
            return (
              <li key={u.key} data-testid="upload-item" data-state={u.state}>
                <span class="upload-name">{u.title || u.fileName}</span>
                <progress data-testid="upload-progress" max={u.total || 1} value={u.sent} aria-label={`Upload of ${u.fileName}`} />
                <span class="num">
                  {pct} % of {bytes(u.total)}
                </span>{" "}
                <span class="muted">
                  {u.state === "done" ? "uploaded, processing follows" : u.state}
                  {u.resumed ? " (resumed)" : ""}
                </span>
                {u.error && (
                  <span class="error small" role="alert">
                    {" "}
                    {u.error}
                  </span>
                )}{" "}
                {u.state === "uploading" && (
                  <button type="button" class="small" onClick={() => pauseUpload(u.key)}>
                    Pause
                  </button>
                )}
                {(u.state === "paused" || u.state === "failed") && (
                  <button type="button" class="small" onClick={() => resumeUpload(u.key)}>
                    Resume
                  </button>
                )}{" "}
                <button type="button" class="small" onClick={() => cancelUpload(u.key)}>
                  {u.state === "done" ? "Dismiss" : "Cancel"}
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

/** shareLink is the public watch page of a video. A private video's page opens only with the signature
 * the manager makes for it (POST /api/v1/vod/videos/{id}/share, valid for 30 days), so that link is asked
 * for when it is copied. */
export async function shareLink(v: Video): Promise<string> {
  if (v.visibility !== "private") return new URL(`/watch/${enc(v.id)}`, location.origin).toString();
  const got = await api<{ url: string }>("POST", `/api/v1/vod/videos/${enc(v.id)}/share`);
  return new URL(got.url, location.origin).toString();
}

function VideoRow(props: {
  v: Video;
  editing: boolean;
  onEdit: () => void;
  onEdited: () => void;
  onPlay: (k: "hls" | "mp4") => void;
  onDeleted: () => void;
  ask: (c: ConfirmSpec) => void;
}) {
  const v = props.v;
  const [copied, setCopied] = useState("");
  const publicLink = `/watch/${enc(v.id)}`;
  return (
    <>
      <tr data-testid="video-row" data-video-id={v.id} data-status={v.status}>
        <th scope="row">
          <span class="video-title">{v.title || "(untitled)"}</span>
          <div class="muted small">
            {v.fileName}
            {v.stream ? ` · recorded from ${v.stream}` : ""}
          </div>
        </th>
        <td>
          <span class={`badge status-${v.status}`}>{v.status}</span>
          {(v.status === "processing" || v.status === "uploading") && (
            <>
              {" "}
              <progress max={100} value={v.progress ?? 0} aria-label="processing" data-testid="processing-progress" />{" "}
              <span class="num small">{v.progress ?? 0} %</span>
            </>
          )}
          {v.status === "failed" && v.failure && <div class="error small">{v.failure}</div>}
        </td>
        <td>{v.visibility}</td>
        <td class="num">{duration(v.durationSeconds)}</td>
        <td>{v.width && v.height ? `${v.width}×${v.height}` : "–"}</td>
        <td class="num">{bytes(v.size)}</td>
        <td>{dateTime(v.createdAt)}</td>
        <td class="row-actions">
          {v.playback?.hls && (
            <button type="button" class="small" onClick={() => props.onPlay("hls")} data-testid="play-hls">
              Play HLS
            </button>
          )}{" "}
          {v.playback?.mp4 && (
            <button type="button" class="small" onClick={() => props.onPlay("mp4")} data-testid="play-mp4">
              Play MP4
            </button>
          )}{" "}
          <button type="button" class="small" onClick={props.onEdit} aria-expanded={props.editing} data-testid="edit-video">
            Edit
          </button>{" "}
          <button
            type="button"
            class="small"
            data-testid="copy-link"
            onClick={async () => {
              let link = "";
              try {
                link = await shareLink(v);
                await navigator.clipboard.writeText(link);
                setCopied(v.visibility === "private" ? "Signed link copied (30 days)" : "Link copied");
              } catch (e) {
                setCopied(link || errorText(e));
              }
              setTimeout(() => setCopied(""), 4000);
            }}
          >
            Copy share link
          </button>{" "}
          <a href={publicLink} class="small" target="_blank" rel="noopener">
            Watch page
          </a>{" "}
          <button
            type="button"
            class="small danger"
            data-testid="delete-video"
            onClick={() =>
              props.ask({
                title: `Delete ${v.title || v.id}?`,
                body: <p>The video and all its renditions are deleted. This cannot be undone.</p>,
                confirmLabel: "Delete",
                danger: true,
                run: async () => {
                  await del(`/api/v1/vod/videos/${enc(v.id)}`);
                  props.onDeleted();
                },
              })
            }
          >
            Delete
          </button>
          {copied && (
            <span class="ok small" role="status">
              {" "}
              {copied}
            </span>
          )}
        </td>
      </tr>
      {props.editing && (
        <tr class="edit-row">
          <td colSpan={8}>
            <VideoForm key={v.id} v={v} onDone={(saved) => (saved ? props.onEdited() : props.onEdit())} />
          </td>
        </tr>
      )}
    </>
  );
}

function VideoForm(props: { v: Video; onDone: (saved: boolean) => void }) {
  const v = props.v;
  const [d, setD, clear] = useDraft(`video:${v.id}`, () => ({ title: v.title, description: v.description ?? "", visibility: v.visibility as string }));
  const form = useForm();
  useFocusFirst(form.ref);
  const f = fieldProps(d, setD, form);
  return (
    <form
      ref={form.ref}
      class="form"
      data-testid="video-form"
      noValidate
      onSubmit={form.onSubmit(async () => {
        await patch(`/api/v1/vod/videos/${enc(v.id)}`, { title: d.title, description: d.description, visibility: d.visibility });
        clear();
        props.onDone(true);
      })}
    >
      <FormError error={form.err} target={form.target} />
      <Field label="Title" {...f("title")} />
      <div class="field">
        <label>
          <span class="label">Description</span>
          <textarea name="description" rows={3} value={d.description} onInput={(e) => setD({ ...d, description: e.currentTarget.value })} />
        </label>
        <FieldError name="description" {...form.fieldError} />
      </div>
      <Select label="Visibility" {...f("visibility")} options={VISIBILITIES} />
      <FormButtons busy={form.busy} onCancel={() => (clear(), props.onDone(false))} />
    </form>
  );
}
