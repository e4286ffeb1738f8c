// The cluster, live from the watch stream: node groups with their autoscaling charts, and every node in
// a filtered, paginated table (only the page is rendered, so a thousand nodes stay responsive).
import { useMemo, useState } from "preact/hooks";
import { del, enc, post } from "../api";
import { ListTable, Pager, StateBadge, useConfirm, usePages, type ConfirmSpec } from "../components";
import { age, bytes, httpBase, pct } from "../format";
import { BASE, Link } from "../router";
import { live } from "../sse";
import { useStore } from "../store";
import { ROLES, type AutoscaleView, type Node, type NodeGroup, type Role, type ScaleEvent } from "../types";
import { AutoscalePanel, ScaleEventItem } from "./autoscale";

const PAGE_SIZE = 50;
const EMPTY_EVENTS: ScaleEvent[] = [];

export function ClusterView() {
  const l = useStore(live);
  const [confirmEl, ask] = useConfirm();
  const snap = l.snapshot;
  if (!snap) {
    return (
      <section>
        <h1>Cluster</h1>
        <p aria-busy="true">Waiting for the manager's cluster picture…</p>
      </section>
    );
  }
  const groups = snap.groups ?? [];
  const nodes = snap.nodes ?? [];
  const autoscale = snap.autoscale ?? [];
  const events = snap.scaleEvents ?? [];
  const counts = countStates(nodes);
  return (
    <section class="cluster">
      <div class="page-head">
        <h1>Cluster</h1>
        <p class="muted">
          {groups.length} group{groups.length === 1 ? "" : "s"}, {nodes.length} node{nodes.length === 1 ? "" : "s"}
          {Object.keys(counts).length > 0 && " — "}
          {Object.entries(counts)
            .map(([s, n]) => `${n} ${s}`)
            .join(", ")}
          {" · "}
          <a href="#nodes">node table</a>
          {" · "}
          <a href="/metrics">manager /metrics</a>
          {" · "}Grafana dashboard: deploy/grafana/nagare.json in the repository
        </p>
      </div>
      {groups.length === 0 && <p>No node groups yet: create one under <Link href={`${BASE}/config`}>Configuration</Link>.</p>}
      {groups.map((g) => (
        <GroupSection
          key={g.name}
          group={g}
          nodes={nodes}
          autoscale={autoscale}
          events={events}
          defaultOpen={groups.length <= 8}
          ask={ask}
        />
      ))}
      <OtherEvents groups={groups} autoscale={autoscale} events={events} />
      <NodeTable nodes={nodes} groups={groups} ask={ask} />
      {confirmEl}
    </section>
  );
}

function countStates(nodes: Node[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of nodes) c[n.state] = (c[n.state] ?? 0) + 1;
  return c;
}

function GroupSection(props: {
  group: NodeGroup;
  nodes: Node[];
  autoscale: AutoscaleView[];
  events: ScaleEvent[];
  defaultOpen: boolean;
  ask: (c: ConfirmSpec) => void;
}) {
  const g = props.group;
  const [open, setOpen] = useState(props.defaultOpen);
  const [role, setRole] = useState<Role>("edge");
  const views = useMemo(() => props.autoscale.filter((a) => a.group === g.name), [props.autoscale, g.name]);
  const byRole = useMemo(() => {
    const m: Record<string, ScaleEvent[]> = {};
    for (const e of props.events) if (e.group === g.name) (m[e.role] ??= []).push(e);
    return m;
  }, [props.events, g.name]);
  const mine = props.nodes.filter((n) => n.group === g.name);
  const roleCounts: Record<string, number> = {};
  for (const n of mine) if (n.state !== "terminated") roleCounts[n.role] = (roleCounts[n.role] ?? 0) + 1;
  return (
    <details class="group" open={open} onToggle={(e) => setOpen(e.currentTarget.open)} data-testid="group" data-group={g.name}>
      <summary>
        <h2>
          {g.name}
          {g.deleting && <span class="badge state-terminating">deleting</span>}
        </h2>
        <span class="muted">
          {mine.length} node{mine.length === 1 ? "" : "s"}
          {Object.keys(roleCounts).length > 0 && ": "}
          {Object.entries(roleCounts)
            .map(([r, n]) => `${n} ${r}`)
            .join(", ")}
        </span>
      </summary>
      <dl class="facts">
        <dt>Regions</dt>
        <dd>{(g.regions ?? []).join(", ") || "–"}</dd>
        <dt>Launch configuration</dt>
        <dd>{g.launchConfig || "–"}</dd>
        <dt>Scale policy</dt>
        <dd>{g.scalePolicy || "–"}</dd>
      </dl>
      <div class="actions">
        <label>
          Role{" "}
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)} data-testid="launch-role">
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          data-testid="launch-node"
          disabled={g.deleting}
          onClick={() =>
            props.ask({
              title: `Launch a node in ${g.name}?`,
              body: (
                <p>
                  A new <strong>{role}</strong> node is launched in group <strong>{g.name}</strong>.
                </p>
              ),
              confirmLabel: "Launch",
              run: async () => {
                await post(`/api/v1/nodegroups/${enc(g.name)}/nodes/${enc(role)}`);
              },
            })
          }
        >
          Launch node
        </button>
        <button
          type="button"
          class="danger"
          data-testid="delete-group"
          disabled={g.deleting}
          onClick={() =>
            props.ask({
              title: `Delete group ${g.name}?`,
              body: (
                <p>
                  Its {mine.length} node{mine.length === 1 ? "" : "s"} will be terminated first. This cannot be undone.
                </p>
              ),
              confirmLabel: "Delete group",
              danger: true,
              run: async () => {
                await del(`/api/v1/nodegroups/${enc(g.name)}`);
              },
            })
          }
        >
          Delete group
        </button>
      </div>
      {open && (
        <div class="charts">
          {views.length === 0 && <p class="muted">The autoscaler has no samples for this group yet.</p>}
          {views.map((v) => (
            <AutoscalePanel key={v.role} view={v} events={byRole[v.role] ?? EMPTY_EVENTS} />
          ))}
        </div>
      )}
    </details>
  );
}

/** OtherEvents lists the scale events of groups and roles that have no chart (e.g. a deleted group). */
function OtherEvents(props: { groups: NodeGroup[]; autoscale: AutoscaleView[]; events: ScaleEvent[] }) {
  const charted = new Set(props.autoscale.filter((a) => props.groups.some((g) => g.name === a.group)).map((a) => `${a.group}\n${a.role}`));
  const rest = props.events.filter((e) => !charted.has(`${e.group}\n${e.role}`));
  if (rest.length === 0) return null;
  return (
    <section class="other-events">
      <h2>Other scale events</h2>
      <ol class="scale-events">
        {rest.slice(0, 20).map((e) => (
          <ScaleEventItem key={e.id} ev={e} showGroup />
        ))}
      </ol>
    </section>
  );
}

function matches(n: Node, q: string): boolean {
  if (!q) return true;
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every(
      (w) =>
        n.id.toLowerCase().includes(w) ||
        n.role.includes(w) ||
        n.state.includes(w) ||
        (n.region ?? "").toLowerCase().includes(w) ||
        (n.group ?? "").toLowerCase().includes(w),
    );
}

export function loadPct(n: Node): number | undefined {
  if (!n.capacity) return undefined;
  return (100 * (n.stats?.connections ?? 0)) / n.capacity;
}

function NodeTable(props: { nodes: Node[]; groups: NodeGroup[]; ask: (c: ConfirmSpec) => void }) {
  const [q, setQ] = useState("");
  const sorted = useMemo(
    () => [...props.nodes].sort((a, b) => (a.group ?? "").localeCompare(b.group ?? "") || a.id.localeCompare(b.id)),
    [props.nodes],
  );
  const filtered = useMemo(() => sorted.filter((n) => matches(n, q)), [sorted, q]);
  const { rows, page, pages, setPage } = usePages(filtered, PAGE_SIZE);
  const now = Date.now();
  return (
    <section class="nodes" id="nodes">
      <h2 id="nodes-title">Nodes</h2>
      <div class="toolbar">
        <label for="node-filter">Filter</label>
        <input
          id="node-filter"
          type="search"
          placeholder="id, role, state, region"
          value={q}
          data-testid="node-filter"
          onInput={(e) => {
            setQ(e.currentTarget.value);
            setPage(0);
          }}
        />
        <span class="muted" aria-live="polite">
          {filtered.length} of {props.nodes.length}
        </span>
      </div>
      <ListTable
        labelledBy="nodes-title"
        heads={[
          "Node", "Group", "Role", "State", "Region", "Address", "Version", "Load",
          { label: "Conns", num: true },
          { label: "CPU", num: true },
          { label: "Memory", num: true },
          { label: "Age", num: true },
          "Actions",
        ]}
        items={rows}
        empty="No node matches."
        row={(n) => <NodeRow key={n.id} n={n} now={now} ask={props.ask} />}
      />
      <Pager page={page} pages={pages} onPage={setPage} label="Node pages" />
    </section>
  );
}

function NodeRow(props: { n: Node; now: number; ask: (c: ConfirmSpec) => void }) {
  const n = props.n;
  const load = loadPct(n);
  const base = httpBase(n.addresses?.http, n.addresses?.tls);
  return (
    <tr data-testid="node-row" data-node-id={n.id} data-state={n.state}>
      <th scope="row">
        <Link href={`${BASE}/nodes/${enc(n.id)}`}>{n.id}</Link>
        {n.stats?.overloaded && (
          <span class="badge warn" title={n.stats.overloaded}>
            overloaded
          </span>
        )}
      </th>
      <td>{n.group || <span class="muted">none</span>}</td>
      <td>{n.role}</td>
      <td>
        <StateBadge state={n.state} />
      </td>
      <td>{n.region || "–"}</td>
      <td>
        {n.addresses?.http || "–"}
        {base && (
          <>
            {" "}
            <a href={`${base}/metrics`} class="small">
              metrics
            </a>
          </>
        )}
      </td>
      <td>{n.version || "–"}</td>
      <td>
        <LoadBar value={load} />
      </td>
      <td class="num">
        {n.stats?.connections ?? 0}/{n.capacity || "–"}
      </td>
      <td class="num">{pct(n.stats?.cpuPercent)}</td>
      <td class="num">{n.stats?.memoryBytes ? bytes(n.stats.memoryBytes) : pct(n.stats?.memoryUsedPercent)}</td>
      <td class="num">{age(n.createdAt, props.now)}</td>
      <td class="row-actions">
        <NodeActions n={n} ask={props.ask} />
      </td>
    </tr>
  );
}

export function NodeActions(props: { n: Node; ask: (c: ConfirmSpec) => void }) {
  const n = props.n;
  const gone = n.state === "terminating" || n.state === "terminated";
  return (
    <>
      <button
        type="button"
        class="small"
        data-testid="drain-node"
        disabled={gone || n.state === "draining"}
        onClick={() =>
          props.ask({
            title: `Drain ${n.id}?`,
            body: <p>The node takes nobody new and leaves when empty or at its deadline.</p>,
            confirmLabel: "Drain",
            run: async () => {
              await post(`/api/v1/nodes/${enc(n.id)}/drain`);
            },
          })
        }
      >
        Drain
      </button>{" "}
      <button
        type="button"
        class="small danger"
        data-testid="terminate-node"
        disabled={gone}
        onClick={() =>
          props.ask({
            title: `Terminate ${n.id}?`,
            body: <p>The node is stopped now; its {n.stats?.connections ?? 0} connections are cut.</p>,
            confirmLabel: "Terminate",
            danger: true,
            run: async () => {
              await post(`/api/v1/nodes/${enc(n.id)}/terminate`);
            },
          })
        }
      >
        Terminate
      </button>
    </>
  );
}

export function LoadBar(props: { value: number | undefined }) {
  const v = props.value;
  if (v === undefined) return <span class="muted">–</span>;
  const cls = v >= 90 ? "hot" : v >= 60 ? "warm" : "";
  return (
    <span class="load">
      <meter min={0} max={100} low={60} high={90} optimum={0} value={Math.min(100, v)} class={cls} aria-label="load" />
      <span class="num">{v.toFixed(0)} %</span>
    </span>
  );
}
