// Configuration: scale policies, launch configurations, node groups and alarm thresholds. A form's draft
// and which form is open live outside the component tree (drafts.ts), so a 401 in the middle of editing
// comes back to the same form after signing in again.
import { useEffect, useRef, useState } from "preact/hooks";
import { del, enc, errorText, get, post, put } from "../api";
import { FormError, useConfirm, useErrorTarget, useFocusFirst, type ConfirmSpec } from "../components";
import { useDraft } from "../drafts";
import { dateTime } from "../format";
import { ROLES, type AlarmThreshold, type KV, type LaunchConfig, type NodeGroup, type Role, type ScalePolicy } from "../types";
import { Field, Rows, Select, num, str } from "./fields";

type Editing = null | { mode: "new" } | { mode: "edit"; name: string };

function useList<T>(path: string): { items: T[] | null; err: string; reload: () => void } {
  const [items, setItems] = useState<T[] | null>(null);
  const [err, setErr] = useState("");
  const [n, setN] = useState(0);
  useEffect(() => {
    let stop = false;
    get<T[] | Record<string, unknown>>(path)
      .then((r) => {
        if (stop) return;
        setItems(asList<T>(r));
        setErr("");
      })
      .catch((e) => !stop && setErr(errorText(e)));
    return () => {
      stop = true;
    };
  }, [path, n]);
  return { items, err, reload: () => setN((x) => x + 1) };
}

/** asList accepts a bare array or an object holding one. */
function asList<T>(r: unknown): T[] {
  if (Array.isArray(r)) return r as T[];
  if (r && typeof r === "object") for (const v of Object.values(r)) if (Array.isArray(v)) return v as T[];
  return [];
}

export function ConfigView() {
  const policies = useList<ScalePolicy>("/api/v1/scalepolicies");
  const configs = useList<LaunchConfig>("/api/v1/launchconfigs");
  const groups = useList<NodeGroup>("/api/v1/nodegroups");
  const alarms = useList<AlarmThreshold>("/api/v1/alarms");
  const [confirmEl, ask] = useConfirm();
  return (
    <section class="config">
      <h1>Configuration</h1>
      <nav class="toc" aria-label="Sections">
        <a href="#policies">Scale policies</a> · <a href="#launchconfigs">Launch configurations</a> ·{" "}
        <a href="#groups">Node groups</a> · <a href="#alarms">Alarm thresholds</a>
      </nav>
      <PoliciesSection list={policies} ask={ask} />
      <LaunchConfigsSection list={configs} ask={ask} />
      <GroupsSection
        list={groups}
        ask={ask}
        configs={(configs.items ?? []).map((c) => c.name)}
        policies={(policies.items ?? []).map((p) => p.name)}
      />
      <AlarmsSection list={alarms} />
      {confirmEl}
    </section>
  );
}

type ListState<T> = ReturnType<typeof useList<T>>;

function ListError(props: { err: string }) {
  return props.err ? (
    <p class="error" role="alert">
      {props.err}
    </p>
  ) : null;
}

// ---- scale policies ----

interface TargetDraft {
  role: string;
  minLimit: string;
  maxLimit: string;
  scaleAdjustment: string;
}
interface PolicyDraft {
  name: string;
  description: string;
  warmUpMs: string;
  coolDownMs: string;
  targets: TargetDraft[];
}

function policyDraft(p?: ScalePolicy): PolicyDraft {
  return {
    name: p?.name ?? "",
    description: p?.description ?? "",
    warmUpMs: str(p?.warmUpMs),
    coolDownMs: str(p?.coolDownMs),
    targets: (p?.targets ?? [{ role: "edge", minLimit: 1, maxLimit: 10, scaleAdjustment: 1 }]).map((t) => ({
      role: t.role,
      minLimit: str(t.minLimit),
      maxLimit: str(t.maxLimit),
      scaleAdjustment: str(t.scaleAdjustment),
    })),
  };
}

function PoliciesSection(props: { list: ListState<ScalePolicy>; ask: (c: ConfirmSpec) => void }) {
  const [editing, setEditing] = useDraft<Editing>("policy:editing", () => null);
  const items = props.list.items;
  const current = editing?.mode === "edit" ? items?.find((p) => p.name === editing.name) : undefined;
  return (
    <section id="policies" class="cfg">
      <div class="section-head">
        <h2>Scale policies</h2>
        <button type="button" onClick={() => setEditing({ mode: "new" })} data-testid="new-policy">
          New policy
        </button>
      </div>
      <ListError err={props.list.err} />
      {items && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Targets (role min–max ±step)</th>
                <th scope="col">Warm-up / cool-down</th>
                <th scope="col">Updated</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((p) => (
                <tr key={p.name} data-testid="policy-row" data-name={p.name}>
                  <th scope="row">
                    {p.name}
                    {p.description && <div class="muted small">{p.description}</div>}
                  </th>
                  <td>{(p.targets ?? []).map((t) => `${t.role} ${t.minLimit}–${t.maxLimit} ±${t.scaleAdjustment}`).join("; ")}</td>
                  <td>
                    {p.warmUpMs ? `${p.warmUpMs} ms` : "default"} / {p.coolDownMs ? `${p.coolDownMs} ms` : "default"}
                  </td>
                  <td>{dateTime(p.updatedAt || p.createdAt)}</td>
                  <td class="row-actions">
                    <button type="button" class="small" onClick={() => setEditing({ mode: "edit", name: p.name })}>
                      Edit
                    </button>{" "}
                    <button
                      type="button"
                      class="small danger"
                      onClick={() =>
                        props.ask({
                          title: `Delete scale policy ${p.name}?`,
                          confirmLabel: "Delete",
                          danger: true,
                          run: async () => {
                            await del(`/api/v1/scalepolicies/${enc(p.name)}`);
                            props.list.reload();
                          },
                        })
                      }
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
              {items.length === 0 && (
                <tr>
                  <td colSpan={5} class="muted">
                    No scale policies.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {editing && (editing.mode === "new" || current) && (
        <PolicyForm
          key={editing.mode === "new" ? "new" : `edit:${editing.name}`}
          initial={current}
          onDone={(saved) => {
            setEditing(null);
            if (saved) props.list.reload();
          }}
        />
      )}
    </section>
  );
}

function PolicyForm(props: { initial?: ScalePolicy; onDone: (saved: boolean) => void }) {
  const edit = !!props.initial;
  const [d, setD, clear] = useDraft<PolicyDraft>(`policy:${props.initial?.name ?? "\u0000new"}`, () => policyDraft(props.initial));
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const target = useErrorTarget(err, form);
  useFocusFirst(form);
  const f = (k: keyof Omit<PolicyDraft, "targets">) => ({
    name: k,
    value: d[k],
    onInput: (v: string) => setD({ ...d, [k]: v }),
    error: err,
    target,
  });
  return (
    <form
      ref={form}
      class="card form"
      data-testid="policy-form"
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setErr(null);
        const body: ScalePolicy = {
          name: d.name.trim(),
          description: d.description,
          targets: d.targets.map((t) => ({
            role: t.role as Role,
            minLimit: num(t.minLimit),
            maxLimit: num(t.maxLimit),
            scaleAdjustment: num(t.scaleAdjustment),
          })),
          warmUpMs: num(d.warmUpMs),
          coolDownMs: num(d.coolDownMs),
        };
        try {
          if (edit) await put(`/api/v1/scalepolicies/${enc(props.initial!.name)}`, body);
          else await post("/api/v1/scalepolicies", body);
          clear();
          props.onDone(true);
        } catch (x) {
          setErr(x);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h3>{edit ? `Edit scale policy ${props.initial!.name}` : "New scale policy"}</h3>
      <FormError error={err} target={target} />
      <Field label="Name" {...f("name")} disabled={edit} required />
      <Field label="Description" {...f("description")} />
      <Rows<TargetDraft>
        legend="Targets"
        name="targets"
        rows={d.targets}
        onChange={(targets) => setD({ ...d, targets })}
        blank={() => ({ role: "edge", minLimit: "1", maxLimit: "10", scaleAdjustment: "1" })}
        error={err}
        target={target}
        addLabel="Add target"
        render={(t, i, set) => (
          <>
            <Select label="Role" name={`targets[${i}].role`} value={t.role} options={ROLES} onInput={(v) => set({ ...t, role: v })} error={err} target={target} />
            <Field label="Min" type="number" name={`targets[${i}].minLimit`} value={t.minLimit} onInput={(v) => set({ ...t, minLimit: v })} error={err} target={target} />
            <Field label="Max" type="number" name={`targets[${i}].maxLimit`} value={t.maxLimit} onInput={(v) => set({ ...t, maxLimit: v })} error={err} target={target} />
            <Field
              label="Step"
              type="number"
              name={`targets[${i}].scaleAdjustment`}
              value={t.scaleAdjustment}
              onInput={(v) => set({ ...t, scaleAdjustment: v })}
              error={err}
              target={target}
            />
          </>
        )}
      />
      <div class="inline-fields">
        <Field label="Warm-up (ms)" type="number" {...f("warmUpMs")} hint="0: the manager's default" />
        <Field label="Cool-down (ms)" type="number" {...f("coolDownMs")} hint="0: the manager's default" />
      </div>
      <FormButtons busy={busy} onCancel={() => (clear(), props.onDone(false))} />
    </form>
  );
}

function FormButtons(props: { busy: boolean; onCancel: () => void; label?: string }) {
  return (
    <div class="actions">
      <button type="submit" class="primary" disabled={props.busy} data-testid="form-submit">
        {props.busy ? "Saving…" : props.label ?? "Save"}
      </button>
      <button type="button" onClick={props.onCancel} disabled={props.busy}>
        Cancel
      </button>
    </div>
  );
}

// ---- launch configurations ----

interface LTDraft {
  role: string;
  instanceType: string;
  connectionCapacity: string;
}
interface LCDraft {
  name: string;
  description: string;
  image: string;
  version: string;
  targets: LTDraft[];
  properties: KV[];
  metadata: KV[];
}

function lcDraft(c?: LaunchConfig): LCDraft {
  return {
    name: c?.name ?? "",
    description: c?.description ?? "",
    image: c?.image ?? "",
    version: c?.version ?? "",
    targets: (c?.targets ?? [{ role: "edge", instanceType: "", connectionCapacity: 1000 }]).map((t) => ({
      role: t.role,
      instanceType: t.instanceType,
      connectionCapacity: str(t.connectionCapacity),
    })),
    properties: (c?.properties ?? []).map((kv) => ({ ...kv })),
    metadata: (c?.metadata ?? []).map((kv) => ({ ...kv })),
  };
}

function LaunchConfigsSection(props: { list: ListState<LaunchConfig>; ask: (c: ConfirmSpec) => void }) {
  const [editing, setEditing] = useDraft<Editing>("lc:editing", () => null);
  const items = props.list.items;
  const current = editing?.mode === "edit" ? items?.find((p) => p.name === editing.name) : undefined;
  return (
    <section id="launchconfigs" class="cfg">
      <div class="section-head">
        <h2>Launch configurations</h2>
        <button type="button" onClick={() => setEditing({ mode: "new" })} data-testid="new-launchconfig">
          New launch configuration
        </button>
      </div>
      <ListError err={props.list.err} />
      {items && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Image / version</th>
                <th scope="col">Targets (role type capacity)</th>
                <th scope="col">Properties</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.name} data-testid="launchconfig-row" data-name={c.name}>
                  <th scope="row">
                    {c.name}
                    {c.description && <div class="muted small">{c.description}</div>}
                  </th>
                  <td>
                    {c.image || "–"} / {c.version || "–"}
                  </td>
                  <td>{(c.targets ?? []).map((t) => `${t.role} ${t.instanceType || "–"} ${t.connectionCapacity}`).join("; ")}</td>
                  <td>{(c.properties ?? []).map((kv) => `${kv.key}=${kv.value}`).join(", ") || "–"}</td>
                  <td class="row-actions">
                    <button type="button" class="small" onClick={() => setEditing({ mode: "edit", name: c.name })}>
                      Edit
                    </button>{" "}
                    <button
                      type="button"
                      class="small danger"
                      onClick={() =>
                        props.ask({
                          title: `Delete launch configuration ${c.name}?`,
                          confirmLabel: "Delete",
                          danger: true,
                          run: async () => {
                            await del(`/api/v1/launchconfigs/${enc(c.name)}`);
                            props.list.reload();
                          },
                        })
                      }
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
              {items.length === 0 && (
                <tr>
                  <td colSpan={5} class="muted">
                    No launch configurations.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {editing && (editing.mode === "new" || current) && (
        <LaunchConfigForm
          key={editing.mode === "new" ? "new" : `edit:${editing.name}`}
          initial={current}
          onDone={(saved) => {
            setEditing(null);
            if (saved) props.list.reload();
          }}
        />
      )}
    </section>
  );
}

function KVRows(props: { legend: string; name: "properties" | "metadata"; rows: KV[]; onChange: (r: KV[]) => void; err: unknown; target: string | null }) {
  return (
    <Rows<KV>
      legend={props.legend}
      name={props.name}
      rows={props.rows}
      onChange={props.onChange}
      blank={() => ({ key: "", value: "" })}
      error={props.err}
      target={props.target}
      addLabel={`Add ${props.name === "properties" ? "property" : "metadata entry"}`}
      render={(kv, i, set) => (
        <>
          <Field label="Key" name={`${props.name}[${i}].key`} value={kv.key} onInput={(v) => set({ ...kv, key: v })} error={props.err} target={props.target} />
          <Field label="Value" name={`${props.name}[${i}].value`} value={kv.value} onInput={(v) => set({ ...kv, value: v })} error={props.err} target={props.target} />
        </>
      )}
    />
  );
}

function LaunchConfigForm(props: { initial?: LaunchConfig; onDone: (saved: boolean) => void }) {
  const edit = !!props.initial;
  const [d, setD, clear] = useDraft<LCDraft>(`lc:${props.initial?.name ?? "\u0000new"}`, () => lcDraft(props.initial));
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const target = useErrorTarget(err, form);
  useFocusFirst(form);
  const f = (k: "name" | "description" | "image" | "version") => ({
    name: k,
    value: d[k],
    onInput: (v: string) => setD({ ...d, [k]: v }),
    error: err,
    target,
  });
  return (
    <form
      ref={form}
      class="card form"
      data-testid="launchconfig-form"
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setErr(null);
        const body = {
          name: d.name.trim(),
          description: d.description,
          image: d.image,
          version: d.version,
          targets: d.targets.map((t) => ({ role: t.role as Role, instanceType: t.instanceType, connectionCapacity: num(t.connectionCapacity) })),
          properties: d.properties,
          metadata: d.metadata,
        };
        try {
          if (edit) await put(`/api/v1/launchconfigs/${enc(props.initial!.name)}`, body);
          else await post("/api/v1/launchconfigs", body);
          clear();
          props.onDone(true);
        } catch (x) {
          setErr(x);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h3>{edit ? `Edit launch configuration ${props.initial!.name}` : "New launch configuration"}</h3>
      <FormError error={err} target={target} />
      <Field label="Name" {...f("name")} disabled={edit} required />
      <Field label="Description" {...f("description")} />
      <div class="inline-fields">
        <Field label="Image" {...f("image")} />
        <Field label="Version" {...f("version")} />
      </div>
      <Rows<LTDraft>
        legend="Targets"
        name="targets"
        rows={d.targets}
        onChange={(targets) => setD({ ...d, targets })}
        blank={() => ({ role: "edge", instanceType: "", connectionCapacity: "1000" })}
        error={err}
        target={target}
        addLabel="Add target"
        render={(t, i, set) => (
          <>
            <Select label="Role" name={`targets[${i}].role`} value={t.role} options={ROLES} onInput={(v) => set({ ...t, role: v })} error={err} target={target} />
            <Field label="Instance type" name={`targets[${i}].instanceType`} value={t.instanceType} onInput={(v) => set({ ...t, instanceType: v })} error={err} target={target} />
            <Field
              label="Connection capacity"
              type="number"
              name={`targets[${i}].connectionCapacity`}
              value={t.connectionCapacity}
              onInput={(v) => set({ ...t, connectionCapacity: v })}
              error={err}
              target={target}
            />
          </>
        )}
      />
      <KVRows legend="Properties" name="properties" rows={d.properties} onChange={(properties) => setD({ ...d, properties })} err={err} target={target} />
      <KVRows legend="Metadata" name="metadata" rows={d.metadata} onChange={(metadata) => setD({ ...d, metadata })} err={err} target={target} />
      <FormButtons busy={busy} onCancel={() => (clear(), props.onDone(false))} />
    </form>
  );
}

// ---- node groups ----

interface GroupDraft {
  name: string;
  regions: string;
  launchConfig: string;
  scalePolicy: string;
}

function GroupsSection(props: { list: ListState<NodeGroup>; ask: (c: ConfirmSpec) => void; configs: string[]; policies: string[] }) {
  const [open, setOpen] = useDraft<boolean>("group:open", () => false);
  const items = props.list.items;
  return (
    <section id="groups" class="cfg">
      <div class="section-head">
        <h2>Node groups</h2>
        <button type="button" onClick={() => setOpen(true)} data-testid="new-group">
          New node group
        </button>
      </div>
      <ListError err={props.list.err} />
      {items && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Regions</th>
                <th scope="col">Launch configuration</th>
                <th scope="col">Scale policy</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((g) => (
                <tr key={g.name} data-testid="group-row" data-name={g.name}>
                  <th scope="row">
                    {g.name} {g.deleting && <span class="badge state-terminating">deleting</span>}
                  </th>
                  <td>{(g.regions ?? []).join(", ") || "–"}</td>
                  <td>{g.launchConfig}</td>
                  <td>{g.scalePolicy}</td>
                  <td>{dateTime(g.createdAt)}</td>
                  <td class="row-actions">
                    <button
                      type="button"
                      class="small danger"
                      disabled={g.deleting}
                      onClick={() =>
                        props.ask({
                          title: `Delete group ${g.name}?`,
                          body: <p>Its nodes are terminated first. This cannot be undone.</p>,
                          confirmLabel: "Delete group",
                          danger: true,
                          run: async () => {
                            await del(`/api/v1/nodegroups/${enc(g.name)}`);
                            props.list.reload();
                          },
                        })
                      }
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
              {items.length === 0 && (
                <tr>
                  <td colSpan={6} class="muted">
                    No node groups.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {open && (
        <GroupForm
          configs={props.configs}
          policies={props.policies}
          onDone={(saved) => {
            setOpen(false);
            if (saved) props.list.reload();
          }}
        />
      )}
    </section>
  );
}

function GroupForm(props: { configs: string[]; policies: string[]; onDone: (saved: boolean) => void }) {
  const [d, setD, clear] = useDraft<GroupDraft>("group:new", () => ({ name: "", regions: "", launchConfig: props.configs[0] ?? "", scalePolicy: props.policies[0] ?? "" }));
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const target = useErrorTarget(err, form);
  useFocusFirst(form);
  return (
    <form
      ref={form}
      class="card form"
      data-testid="group-form"
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setErr(null);
        const body = {
          ...(d.name.trim() ? { name: d.name.trim() } : {}),
          regions: d.regions
            .split(/[,\s]+/)
            .map((r) => r.trim())
            .filter(Boolean),
          launchConfig: d.launchConfig,
          scalePolicy: d.scalePolicy,
        };
        try {
          await post("/api/v1/nodegroups", body);
          clear();
          props.onDone(true);
        } catch (x) {
          setErr(x);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h3>New node group</h3>
      <FormError error={err} target={target} />
      <Field label="Name" name="name" value={d.name} onInput={(v) => setD({ ...d, name: v })} error={err} target={target} hint="empty: the manager makes one up" />
      <Field label="Regions" name="regions" value={d.regions} onInput={(v) => setD({ ...d, regions: v })} error={err} target={target} hint="comma-separated, e.g. eu-west-1, us-east-1" />
      <Select label="Launch configuration" name="launchConfig" value={d.launchConfig} options={props.configs} blank="(choose)" onInput={(v) => setD({ ...d, launchConfig: v })} error={err} target={target} />
      <Select label="Scale policy" name="scalePolicy" value={d.scalePolicy} options={props.policies} blank="(choose)" onInput={(v) => setD({ ...d, scalePolicy: v })} error={err} target={target} />
      <FormButtons busy={busy} label="Create" onCancel={() => (clear(), props.onDone(false))} />
    </form>
  );
}

// ---- alarm thresholds ----

function AlarmsSection(props: { list: ListState<AlarmThreshold> }) {
  const [d, setD, clear] = useDraft<{ role: string; threshold: string }>("alarm", () => ({ role: "edge", threshold: "" }));
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState("");
  const form = useRef<HTMLFormElement>(null);
  const target = useErrorTarget(err, form);
  const items = props.list.items;
  return (
    <section id="alarms" class="cfg">
      <h2>Alarm thresholds</h2>
      <p class="muted">A role scales out when its load reaches its threshold (percent of its in-service capacity).</p>
      <ListError err={props.list.err} />
      {items && (
        <ul class="alarms">
          {items.map((a) => (
            <li key={a.role} data-testid="alarm-row" data-role={a.role}>
              <strong>{a.role}</strong> {a.threshold} %{" "}
              <button type="button" class="small" onClick={() => setD({ role: a.role, threshold: String(a.threshold) })}>
                Edit
              </button>
            </li>
          ))}
          {items.length === 0 && <li class="muted">No thresholds set.</li>}
        </ul>
      )}
      <form
        ref={form}
        class="card form inline-form"
        data-testid="alarm-form"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setErr(null);
          setSaved("");
          try {
            await put(`/api/v1/alarms/${enc(d.role)}`, { threshold: num(d.threshold) });
            setSaved(`${d.role}: ${d.threshold} % saved.`);
            clear();
            props.list.reload();
          } catch (x) {
            setErr(x);
          } finally {
            setBusy(false);
          }
        }}
      >
        <FormError error={err} target={target} />
        <div class="inline-fields">
          <Select label="Role" name="role" value={d.role} options={ROLES} onInput={(v) => setD({ ...d, role: v })} error={err} target={target} />
          <Field label="Threshold (%)" type="number" name="threshold" min={1} max={100} value={d.threshold} onInput={(v) => setD({ ...d, threshold: v })} error={err} target={target} />
          <div class="field">
            <button type="submit" class="primary" disabled={busy} data-testid="form-submit">
              {busy ? "Saving…" : "Set threshold"}
            </button>
          </div>
        </div>
        {saved && (
          <p class="ok" role="status">
            {saved}
          </p>
        )}
      </form>
    </section>
  );
}
