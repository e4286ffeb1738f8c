// One live stream: a player (LL-HLS or WebRTC from the manager, which sends the player to the best node),
// the latency and decoded-frames readouts, and the viewers per edge.
import { useState } from "preact/hooks";
import { enc, streamPath } from "../api";
import { useConfirm } from "../components";
import { age, bitrate, sumViewers } from "../format";
import { Player, type PlayerStats } from "../player";
import { BASE, Link } from "../router";
import { live } from "../sse";
import { useStore } from "../store";
import { StreamActions, viewersText } from "./streams";

export function StreamView(props: { app: string; stream: string }) {
  const name = `${props.app}/${props.stream}`;
  const l = useStore(live);
  const s = l.snapshot?.streams?.find((x) => x.name === name);
  const [stats, setStats] = useState<PlayerStats | null>(null);
  const [confirmEl, ask] = useConfirm();
  const [via, setVia] = useState<"hls" | "whep">("hls");
  const src = via === "hls" ? `/${streamPath(name)}/index.m3u8` : `/${streamPath(name)}/whep`;
  const edges = s?.edges ?? [];
  return (
    <section class="stream">
      <p class="crumbs">
        <Link href={`${BASE}/streams`}>Streams</Link> › stream
      </p>
      <h1>{name}</h1>
      {l.snapshot && !s && <p class="note">This stream is not live now (the player keeps trying).</p>}
      <div class="cols player-cols">
        <div>
          <div class="toolbar" role="group" aria-label="Play with">
            <button type="button" class="small" aria-pressed={via === "hls"} onClick={() => setVia("hls")} data-testid="play-hls-live">
              LL-HLS
            </button>{" "}
            <button type="button" class="small" aria-pressed={via === "whep"} onClick={() => setVia("whep")} data-testid="play-webrtc">
              WebRTC
            </button>
          </div>
          <Player key={via} src={src} kind={via} live onStats={setStats} />
          <dl class="facts readouts" aria-live="off">
            <dt>Latency</dt>
            <dd data-testid="latency">
              {stats?.latency !== undefined ? `${stats.latency.toFixed(2)} s behind the live edge` : "–"}
              {stats?.behindClock !== undefined && ` · ${stats.behindClock.toFixed(2)} s behind the wall clock`}
            </dd>
            <dt>Frames decoded</dt>
            <dd data-testid="frames-decoded">
              {stats?.decoded !== undefined ? stats.decoded : "–"}
              {stats?.dropped ? ` (${stats.dropped} dropped)` : ""}
            </dd>
            <dt>Rendition</dt>
            <dd>{stats?.level ?? "–"}</dd>
            <dt>Player</dt>
            <dd>
              {stats?.engine ?? "–"} · <a href={src}>{src}</a>
            </dd>
          </dl>
        </div>
        <div>
          <dl class="facts">
            <dt>Viewers</dt>
            <dd>
              <strong data-testid="viewer-count">{sumViewers(s?.viewers)}</strong>
              {s?.viewers && Object.keys(s.viewers).length > 0 && <span class="muted"> ({viewersText(s.viewers)})</span>}
            </dd>
            {s && (
              <>
                <dt>Origin</dt>
                <dd>
                  <Link href={`${BASE}/nodes/${enc(s.nodeId)}`}>{s.nodeId}</Link> via {s.protocol}
                </dd>
                <dt>Live for</dt>
                <dd>{age(s.startedAt)}</dd>
                <dt>Codecs</dt>
                <dd>{s.codecs || "–"}</dd>
                <dt>Picture</dt>
                <dd>{s.width && s.height ? `${s.width}×${s.height}` : "–"}</dd>
                <dt>Bit rate</dt>
                <dd>{bitrate(s.bitrate)}</dd>
                <dt>Renditions</dt>
                <dd>{(s.renditions ?? []).join(", ") || "–"}</dd>
                <dt>Recording</dt>
                <dd>{s.recording ? "yes" : "no"}</dd>
              </>
            )}
          </dl>
          {s && (
            <div class="actions">
              <StreamActions s={s} ask={ask} />
            </div>
          )}
          <h2>Viewers per edge</h2>
          {edges.length === 0 ? (
            <p class="muted">No edge reports viewers.</p>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Edge</th>
                    <th scope="col" class="num">HLS</th>
                    <th scope="col" class="num">WebRTC</th>
                    <th scope="col" class="num">Total</th>
                  </tr>
                </thead>
                <tbody>
                  {edges.map((e) => {
                    let total = 0;
                    for (const [k, v] of Object.entries(e)) if (k !== "nodeId" && typeof v === "number") total += v;
                    return (
                      <tr key={e.nodeId} data-testid="edge-row" data-node-id={e.nodeId}>
                        <th scope="row">
                          <Link href={`${BASE}/nodes/${enc(e.nodeId)}`}>{e.nodeId}</Link>
                        </th>
                        <td class="num">{e.hls ?? 0}</td>
                        <td class="num">{e.webrtc ?? 0}</td>
                        <td class="num">{total}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </div>
      </div>
      {confirmEl}
    </section>
  );
}
