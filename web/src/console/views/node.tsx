// One node: its stats (live from the watch stream, else GET /api/v1/nodes/{id}) and lifecycle history.
import { useEffect, useState } from "preact/hooks";
import { enc, errorText, get, streamPath } from "../api";
import { StateBadge, useConfirm } from "../components";
import { age, bytes, dateTime, duration, httpBase, pct } from "../format";
import { BASE, Link } from "../router";
import { live } from "../sse";
import { useStore } from "../store";
import type { Node, NodeEvent } from "../types";
import { LoadBar, NodeActions, loadPct } from "./cluster";

export function NodeView(props: { id: string }) {
  const l = useStore(live);
  const fromSnap = l.snapshot?.nodes?.find((n) => n.id === props.id);
  const [fetched, setFetched] = useState<Node | null>(null);
  const [fetchErr, setFetchErr] = useState("");
  const [events, setEvents] = useState<NodeEvent[] | null>(null);
  const [evErr, setEvErr] = useState("");
  const [confirmEl, ask] = useConfirm();
  const node = fromSnap ?? fetched;
  const state = node?.state;

  useEffect(() => {
    if (fromSnap || !l.snapshot) return;
    get<Node>(`/api/v1/nodes/${enc(props.id)}`)
      .then((n) => {
        setFetched(n);
        setFetchErr("");
      })
      .catch((e) => setFetchErr(errorText(e)));
  }, [!!fromSnap, !!l.snapshot, props.id]);

  // the history again whenever the node changes state, and every 10 s
  useEffect(() => {
    let stop = false;
    const load = () =>
      get<NodeEvent[]>(`/api/v1/nodes/${enc(props.id)}/events`)
        .then((ev) => {
          if (!stop) {
            setEvents(ev ?? []);
            setEvErr("");
          }
        })
        .catch((e) => !stop && setEvErr(errorText(e)));
    void load();
    const t = setInterval(load, 10000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [props.id, state]);

  const base = httpBase(node?.addresses?.http, node?.addresses?.tls);
  return (
    <section class="node">
      <p class="crumbs">
        <Link href={`${BASE}/cluster`}>Cluster</Link> › node
      </p>
      <h1>
        {props.id} {node && <StateBadge state={node.state} />}
      </h1>
      {!node && !fetchErr && <p aria-busy="true">Loading…</p>}
      {!node && fetchErr && (
        <p class="error" role="alert">
          {fetchErr}
        </p>
      )}
      {node && (
        <>
          <div class="actions">
            <NodeActions n={node} ask={ask} />
            {base && (
              <a class="button small" href={`${base}/metrics`}>
                {base}/metrics
              </a>
            )}
          </div>
          <div class="cols">
            <dl class="facts">
              <dt>Group</dt>
              <dd>{node.group || "–"}</dd>
              <dt>Role</dt>
              <dd>{node.role}</dd>
              <dt>Region / zone</dt>
              <dd>
                {node.region || "–"} / {node.zone || "–"}
              </dd>
              <dt>Version</dt>
              <dd>{node.version || "–"}</dd>
              {node.parent && (
                <>
                  <dt>Pulls from</dt>
                  <dd>
                    <Link href={`${BASE}/nodes/${enc(node.parent)}`}>{node.parent}</Link>
                  </dd>
                </>
              )}
              <dt>Addresses</dt>
              <dd>
                {(["http", "rtmp", "rtmps", "srt"] as const)
                  .filter((k) => node.addresses?.[k])
                  .map((k) => `${k} ${node.addresses[k]}`)
                  .join(" · ") || "–"}
                {node.addresses?.tls ? " (TLS)" : ""}
              </dd>
              <dt>Created</dt>
              <dd>
                {dateTime(node.createdAt)} ({age(node.createdAt)} ago)
              </dd>
              <dt>Last report</dt>
              <dd>
                {dateTime(node.lastReport)} ({age(node.lastReport)} ago)
              </dd>
            </dl>
            <dl class="facts">
              <dt>Load</dt>
              <dd>
                <LoadBar value={loadPct(node)} />
              </dd>
              <dt>Connections</dt>
              <dd>
                {node.stats?.connections ?? 0} of {node.capacity || "–"} ({node.stats?.publishers ?? 0} publishers,{" "}
                {node.stats?.subscribers ?? 0} subscribers)
              </dd>
              <dt>CPU</dt>
              <dd>{pct(node.stats?.cpuPercent, 1)}</dd>
              <dt>Memory</dt>
              <dd>
                {bytes(node.stats?.memoryBytes)} ({pct(node.stats?.memoryUsedPercent, 1)})
              </dd>
              <dt>Traffic</dt>
              <dd>
                in {bytes(node.stats?.bytesIn)} · out {bytes(node.stats?.bytesOut)}
              </dd>
              <dt>Uptime</dt>
              <dd>{duration(node.stats?.uptimeSeconds)}</dd>
              {node.stats?.overloaded && (
                <>
                  <dt>Overloaded</dt>
                  <dd class="warn-text">{node.stats.overloaded}</dd>
                </>
              )}
              <dt>Streams</dt>
              <dd>
                {(node.stats?.streams ?? []).length === 0
                  ? "none"
                  : (node.stats?.streams ?? []).map((s, i) => (
                      <span key={s}>
                        {i > 0 && ", "}
                        <Link href={`${BASE}/streams/${streamPath(s)}`}>{s}</Link>
                      </span>
                    ))}
              </dd>
            </dl>
          </div>
        </>
      )}
      <h2>Lifecycle</h2>
      {evErr && (
        <p class="error" role="alert">
          {evErr}
        </p>
      )}
      {events === null && !evErr && <p aria-busy="true">Loading…</p>}
      {events && events.length === 0 && <p class="muted">No events.</p>}
      {events && events.length > 0 && (
        <ol class="timeline" data-testid="node-events">
          {events.map((e) => (
            <li key={e.id} data-testid="node-event">
              <time dateTime={e.at}>{dateTime(e.at)}</time> {e.from ? <StateBadge state={e.from} /> : <span class="muted">new</span>}{" "}
              → <StateBadge state={e.to} /> <span>{e.cause}</span>
            </li>
          ))}
        </ol>
      )}
      {confirmEl}
    </section>
  );
}
