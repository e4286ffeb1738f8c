// Live streams, from the watch stream: origin, protocol, codecs, picture, bit rate, viewers, renditions and
// recording; play, record and stop the publisher.
import { useMemo, useState } from "preact/hooks";
import { del, enc, put, streamPath } from "../api";
import { ListTable, Pager, useConfirm, usePages, type ConfirmSpec } from "../components";
import { age, bitrate, sumViewers } from "../format";
import { BASE, Link } from "../router";
import { live } from "../sse";
import { useStore } from "../store";
import type { LiveStream } from "../types";

const PAGE_SIZE = 50;

export function StreamsView() {
  const l = useStore(live);
  const [q, setQ] = useState("");
  const [confirmEl, ask] = useConfirm();
  const streams = l.snapshot?.streams ?? [];
  const filtered = useMemo(() => {
    const w = q.trim().toLowerCase();
    return [...streams]
      .filter((s) => !w || s.name.toLowerCase().includes(w) || s.nodeId.toLowerCase().includes(w) || s.protocol.includes(w))
      .sort((a, b) => a.name.localeCompare(b.name));
  }, [streams, q]);
  const { rows, page, pages, setPage } = usePages(filtered, PAGE_SIZE);
  return (
    <section class="streams">
      <h1>Live streams</h1>
      {!l.snapshot && <p aria-busy="true">Waiting for the manager's cluster picture…</p>}
      {l.snapshot && (
        <>
          <div class="toolbar">
            <label for="stream-filter">Filter</label>
            <input
              id="stream-filter"
              type="search"
              placeholder="name, origin, protocol"
              value={q}
              onInput={(e) => {
                setQ(e.currentTarget.value);
                setPage(0);
              }}
            />
            <span class="muted">
              {filtered.length} of {streams.length}
            </span>
            <Link href={`${BASE}/publish`} class="button">
              Publish from this browser
            </Link>
          </div>
          <ListTable
            heads={["Stream", "Origin", "Protocol", "Codecs", "Picture", { label: "Bit rate", num: true }, "Viewers", "Renditions", "Recording", { label: "Live for", num: true }, "Actions"]}
            items={rows}
            empty={streams.length === 0 ? "Nothing is live." : "No stream matches."}
            row={(s) => <StreamRow key={s.name} s={s} ask={ask} />}
          />
          <Pager page={page} pages={pages} onPage={setPage} label="Stream pages" />
        </>
      )}
      {confirmEl}
    </section>
  );
}

export function viewersText(v: Record<string, number> | undefined): string {
  if (!v || Object.keys(v).length === 0) return "0";
  return Object.entries(v)
    .map(([k, n]) => `${k} ${n}`)
    .join(" · ");
}

function StreamRow(props: { s: LiveStream; ask: (c: ConfirmSpec) => void }) {
  const s = props.s;
  const href = `${BASE}/streams/${streamPath(s.name)}`;
  return (
    <tr data-testid="stream-row" data-stream={s.name}>
      <th scope="row">
        <Link href={href}>{s.name}</Link>
      </th>
      <td>
        <Link href={`${BASE}/nodes/${enc(s.nodeId)}`}>{s.nodeId}</Link>
      </td>
      <td>{s.protocol}</td>
      <td>{s.codecs || "–"}</td>
      <td>{s.width && s.height ? `${s.width}×${s.height}` : "–"}</td>
      <td class="num">{bitrate(s.bitrate)}</td>
      <td>
        <strong>{sumViewers(s.viewers)}</strong>
        {s.viewers && Object.keys(s.viewers).length > 0 && <span class="muted small"> ({viewersText(s.viewers)})</span>}
      </td>
      <td>{(s.renditions ?? []).join(", ") || "–"}</td>
      <td>{s.recording ? <span class="badge rec">● recording</span> : <span class="muted">off</span>}</td>
      <td class="num">{age(s.startedAt)}</td>
      <td class="row-actions">
        <StreamActions s={s} ask={props.ask} play />
      </td>
    </tr>
  );
}

export function StreamActions(props: { s: LiveStream; ask: (c: ConfirmSpec) => void; play?: boolean }) {
  const s = props.s;
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState("");
  const rec = `/api/v1/streams/${streamPath(s.name)}/recording`;
  const toggle = async () => {
    setBusy(true);
    setErr("");
    try {
      if (s.recording) await del(rec);
      else await put(rec);
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      {props.play && (
        <>
          <Link href={`${BASE}/streams/${streamPath(s.name)}`} class="button small" data-testid="play-stream">
            Play
          </Link>{" "}
        </>
      )}
      <button type="button" class="small" onClick={toggle} disabled={busy} data-testid="record-toggle">
        {s.recording ? "Stop recording" : "Record"}
      </button>{" "}
      <button
        type="button"
        class="small danger"
        data-testid="stop-publisher"
        onClick={() =>
          props.ask({
            title: `Stop the publisher of ${s.name}?`,
            body: <p>The publisher is disconnected from {s.nodeId}; viewers see the stream end.</p>,
            confirmLabel: "Stop publisher",
            danger: true,
            run: async () => {
              await del(`/api/v1/streams/${streamPath(s.name)}/publisher`);
            },
          })
        }
      >
        Stop publisher
      </button>
      {err && (
        <span class="error small" role="alert">
          {" "}
          {err}
        </span>
      )}
    </>
  );
}
