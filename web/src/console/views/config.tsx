// Configuration: scale policies, launch configurations, node groups and alarm thresholds. A form's draft
// and which form is open live outside the component tree (drafts.ts), so a 401 in the middle of editing
// comes back to the same form after signing in again.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { del, enc, errorText, get, post, put } from "../api";
import { FormError, ListTable, useConfirm, useFocusFirst, useForm, type Column, type ConfirmSpec } from "../components";
import { useDraft } from "../drafts";
import { dateTime } from "../format";
import { ROLES, type AlarmThreshold, type KV, type LaunchConfig, type NodeGroup, type Role, type ScalePolicy } from "../types";
import { Field, FormButtons, Rows, Select, fieldProps, num, str } from "./fields";

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

/** ResourceSection is one kind of item (scale policies, launch configurations, node groups): the heading
 * with its New button, the list's error, a table row per item and, below it, the open form (children). */
function ResourceSection<T>(props: {
  id: string;
  title: string;
  newLabel: string;
  newTestId: string;
  onNew: () => void;
  list: ListState<T>;
  heads: Column[];
  row: (item: T) => JSX.Element;
  empty: string;
  children: ComponentChildren;
}) {
  const items = props.list.items;
  return (
    <section id={props.id} class="cfg">
      <div class="section-head">
        <h2>{props.title}</h2>
        <button type="button" onClick={props.onNew} data-testid={props.newTestId}>
          {props.newLabel}
        </button>
      </div>
      <ListError err={props.list.err} />
      {items && <ListTable heads={props.heads} items={items} row={props.row} empty={props.empty} />}
      {props.children}
    </section>
  );
}

/** NameCell is a row's heading: the item's name, its description below. */
function NameCell(props: { item: { name: string; description?: string } }) {
  return (
    <th scope="row">
      {props.item.name}
      {props.item.description && <div class="muted small">{props.item.description}</div>}
    </th>
  );
}

/** RowActions are a row's Edit button (when its items can be edited) and its Delete button. */
function RowActions(props: { onEdit?: () => void; onDelete: () => void; deleting?: boolean }) {
  return (
    <td class="row-actions">
      {props.onEdit && (
        <>
          <button type="button" class="small" onClick={props.onEdit}>
            Edit
          </button>{" "}
        </>
      )}
      <button type="button" class="small danger" disabled={props.deleting} onClick={props.onDelete}>
        Delete
      </button>
    </td>
  );
}

/** deletion asks whether to delete an item; yes DELETEs its path and loads the list again. */
function deletion(title: string, path: string, reload: () => void): ConfirmSpec {
  return {
    title,
    confirmLabel: "Delete",
    danger: true,
    run: async () => {
      await del(path);
      reload();
    },
  };
}

/** useEditing keeps, as a draft, which form of a section is open: a new item's or an existing one's (by
 * name; it closes when that item is gone). done closes it, and loads the list again after a save. */
function useEditing<T extends { name: string }>(key: string, list: ListState<T>) {
  const [editing, setEditing] = useDraft<Editing>(key, () => null);
  const current = editing?.mode === "edit" ? list.items?.find((x) => x.name === editing.name) : undefined;
  return {
    open: !!editing && (editing.mode === "new" || !!current),
    current,
    formKey: editing?.mode === "edit" ? `edit:${editing.name}` : "new",
    startNew: () => setEditing({ mode: "new" }),
    edit: (name: string) => setEditing({ mode: "edit", name }),
    done: (saved: boolean) => {
      setEditing(null);
      if (saved) list.reload();
    },
  };
}

/** save creates an item (POST to its collection) or, given the name of one, replaces that (PUT). */
function save(collection: string, name: string | undefined, body: unknown): Promise<unknown> {
  return name === undefined ? post(collection, body) : put(`${collection}/${enc(name)}`, body);
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
  const ed = useEditing("policy:editing", props.list);
  return (
    <ResourceSection
      id="policies"
      title="Scale policies"
      newLabel="New policy"
      newTestId="new-policy"
      onNew={ed.startNew}
      list={props.list}
      heads={["Name", "Targets (role min–max ±step)", "Warm-up / cool-down", "Updated", "Actions"]}
      empty="No scale policies."
      row={(p) => (
        <tr key={p.name} data-testid="policy-row" data-name={p.name}>
          <NameCell item={p} />
          <td>{(p.targets ?? []).map((t) => `${t.role} ${t.minLimit}–${t.maxLimit} ±${t.scaleAdjustment}`).join("; ")}</td>
          <td>
            {p.warmUpMs ? `${p.warmUpMs} ms` : "default"} / {p.coolDownMs ? `${p.coolDownMs} ms` : "default"}
          </td>
          <td>{dateTime(p.updatedAt || p.createdAt)}</td>
          <RowActions
            onEdit={() => ed.edit(p.name)}
            onDelete={() => props.ask(deletion(`Delete scale policy ${p.name}?`, `/api/v1/scalepolicies/${enc(p.name)}`, props.list.reload))}
          />
        </tr>
      )}
    >
      {ed.open && <PolicyForm key={ed.formKey} initial={ed.current} onDone={ed.done} />}
    </ResourceSection>
  );
}

function PolicyForm(props: { initial?: ScalePolicy; onDone: (saved: boolean) => void }) {
  const edit = !!props.initial;
  const [d, setD, clear] = useDraft<PolicyDraft>(`policy:${props.initial?.name ?? "\u0000new"}`, () => policyDraft(props.initial));
  const form = useForm();
  useFocusFirst(form.ref);
  const f = fieldProps(d, setD, form);
  const fe = form.fieldError;
  return (
    <form
      ref={form.ref}
      class="card form"
      data-testid="policy-form"
      noValidate
      onSubmit={form.onSubmit(async () => {
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
        await save("/api/v1/scalepolicies", props.initial?.name, body);
        clear();
        props.onDone(true);
      })}
    >
      <h3>{edit ? `Edit scale policy ${props.initial!.name}` : "New scale policy"}</h3>
      <FormError error={form.err} target={form.target} />
      <Field label="Name" {...f("name")} disabled={edit} required />
      <Field label="Description" {...f("description")} />
      <Rows<TargetDraft>
        legend="Targets"
        name="targets"
        rows={d.targets}
        onChange={(targets) => setD({ ...d, targets })}
        blank={() => ({ role: "edge", minLimit: "1", maxLimit: "10", scaleAdjustment: "1" })}
        {...fe}
        addLabel="Add target"
        render={(t, i, set) => (
          <>
            <Select label="Role" name={`targets[${i}].role`} value={t.role} options={ROLES} onInput={(v) => set({ ...t, role: v })} {...fe} />
            <Field label="Min" type="number" name={`targets[${i}].minLimit`} value={t.minLimit} onInput={(v) => set({ ...t, minLimit: v })} {...fe} />
            <Field label="Max" type="number" name={`targets[${i}].maxLimit`} value={t.maxLimit} onInput={(v) => set({ ...t, maxLimit: v })} {...fe} />
            <Field
              label="Step"
              type="number"
              name={`targets[${i}].scaleAdjustment`}
              value={t.scaleAdjustment}
              onInput={(v) => set({ ...t, scaleAdjustment: v })}
              {...fe}
            />
          </>
        )}
      />
      <div class="inline-fields">
        <Field label="Warm-up (ms)" type="number" {...f("warmUpMs")} hint="0: the manager's default" />
        <Field label="Cool-down (ms)" type="number" {...f("coolDownMs")} hint="0: the manager's default" />
      </div>
      <FormButtons busy={form.busy} onCancel={() => (clear(), props.onDone(false))} />
    </form>
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
  const ed = useEditing("lc:editing", props.list);
  return (
    <ResourceSection
      id="launchconfigs"
      title="Launch configurations"
      newLabel="New launch configuration"
      newTestId="new-launchconfig"
      onNew={ed.startNew}
      list={props.list}
      heads={["Name", "Image / version", "Targets (role type capacity)", "Properties", "Actions"]}
      empty="No launch configurations."
      row={(c) => (
        <tr key={c.name} data-testid="launchconfig-row" data-name={c.name}>
          <NameCell item={c} />
          <td>
            {c.image || "–"} / {c.version || "–"}
          </td>
          <td>{(c.targets ?? []).map((t) => `${t.role} ${t.instanceType || "–"} ${t.connectionCapacity}`).join("; ")}</td>
          <td>{(c.properties ?? []).map((kv) => `${kv.key}=${kv.value}`).join(", ") || "–"}</td>
          <RowActions
            onEdit={() => ed.edit(c.name)}
            onDelete={() => props.ask(deletion(`Delete launch configuration ${c.name}?`, `/api/v1/launchconfigs/${enc(c.name)}`, props.list.reload))}
          />
        </tr>
      )}
    >
      {ed.open && <LaunchConfigForm key={ed.formKey} initial={ed.current} onDone={ed.done} />}
    </ResourceSection>
  );
}

function KVRows(props: { legend: string; name: "properties" | "metadata"; rows: KV[]; onChange: (r: KV[]) => void; error: unknown; target: string | null }) {
  const fe = { error: props.error, target: props.target };
  return (
    <Rows<KV>
      legend={props.legend}
      name={props.name}
      rows={props.rows}
      onChange={props.onChange}
      blank={() => ({ key: "", value: "" })}
      {...fe}
      addLabel={`Add ${props.name === "properties" ? "property" : "metadata entry"}`}
      render={(kv, i, set) => (
        <>
          <Field label="Key" name={`${props.name}[${i}].key`} value={kv.key} onInput={(v) => set({ ...kv, key: v })} {...fe} />
          <Field label="Value" name={`${props.name}[${i}].value`} value={kv.value} onInput={(v) => set({ ...kv, value: v })} {...fe} />
        </>
      )}
    />
  );
}

function LaunchConfigForm(props: { initial?: LaunchConfig; onDone: (saved: boolean) => void }) {
  const edit = !!props.initial;
  const [d, setD, clear] = useDraft<LCDraft>(`lc:${props.initial?.name ?? "\u0000new"}`, () => lcDraft(props.initial));
  const form = useForm();
  useFocusFirst(form.ref);
  const f = fieldProps(d, setD, form);
  const fe = form.fieldError;
  return (
    <form
      ref={form.ref}
      class="card form"
      data-testid="launchconfig-form"
      noValidate
      onSubmit={form.onSubmit(async () => {
        const body = {
          name: d.name.trim(),
          description: d.description,
          image: d.image,
          version: d.version,
          targets: d.targets.map((t) => ({ role: t.role as Role, instanceType: t.instanceType, connectionCapacity: num(t.connectionCapacity) })),
          properties: d.properties,
          metadata: d.metadata,
        };
        await save("/api/v1/launchconfigs", props.initial?.name, body);
        clear();
        props.onDone(true);
      })}
    >
      <h3>{edit ? `Edit launch configuration ${props.initial!.name}` : "New launch configuration"}</h3>
      <FormError error={form.err} target={form.target} />
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
        {...fe}
        addLabel="Add target"
        render={(t, i, set) => (
          <>
            <Select label="Role" name={`targets[${i}].role`} value={t.role} options={ROLES} onInput={(v) => set({ ...t, role: v })} {...fe} />
            <Field label="Instance type" name={`targets[${i}].instanceType`} value={t.instanceType} onInput={(v) => set({ ...t, instanceType: v })} {...fe} />
            <Field
              label="Connection capacity"
              type="number"
              name={`targets[${i}].connectionCapacity`}
              value={t.connectionCapacity}
              onInput={(v) => set({ ...t, connectionCapacity: v })}
              {...fe}
            />
          </>
        )}
      />
      <KVRows legend="Properties" name="properties" rows={d.properties} onChange={(properties) => setD({ ...d, properties })} {...fe} />
      <KVRows legend="Metadata" name="metadata" rows={d.metadata} onChange={(metadata) => setD({ ...d, metadata })} {...fe} />
      <FormButtons busy={form.busy} onCancel={() => (clear(), props.onDone(false))} />
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
  // groups are created, never edited: the section's only form is a new group's
  const [open, setOpen] = useDraft<boolean>("group:open", () => false);
  return (
    <ResourceSection
      id="groups"
      title="Node groups"
      newLabel="New node group"
      newTestId="new-group"
      onNew={() => setOpen(true)}
      list={props.list}
      heads={["Name", "Regions", "Launch configuration", "Scale policy", "Created", "Actions"]}
      empty="No node groups."
      row={(g) => (
        <tr key={g.name} data-testid="group-row" data-name={g.name}>
          <th scope="row">
            {g.name} {g.deleting && <span class="badge state-terminating">deleting</span>}
          </th>
          <td>{(g.regions ?? []).join(", ") || "–"}</td>
          <td>{g.launchConfig}</td>
          <td>{g.scalePolicy}</td>
          <td>{dateTime(g.createdAt)}</td>
          <RowActions
            deleting={g.deleting}
            onDelete={() =>
              props.ask({
                ...deletion(`Delete group ${g.name}?`, `/api/v1/nodegroups/${enc(g.name)}`, props.list.reload),
                body: <p>Its nodes are terminated first. This cannot be undone.</p>,
                confirmLabel: "Delete group",
              })
            }
          />
        </tr>
      )}
    >
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
    </ResourceSection>
  );
}

function GroupForm(props: { configs: string[]; policies: string[]; onDone: (saved: boolean) => void }) {
  const [d, setD, clear] = useDraft<GroupDraft>("group:new", () => ({ name: "", regions: "", launchConfig: props.configs[0] ?? "", scalePolicy: props.policies[0] ?? "" }));
  const form = useForm();
  useFocusFirst(form.ref);
  const f = fieldProps(d, setD, form);
  return (
    <form
      ref={form.ref}
      class="card form"
      data-testid="group-form"
      noValidate
      onSubmit={form.onSubmit(async () => {
        const body = {
          ...(d.name.trim() ? { name: d.name.trim() } : {}),
          regions: d.regions
            .split(/[,\s]+/)
            .map((r) => r.trim())
            .filter(Boolean),
          launchConfig: d.launchConfig,
          scalePolicy: d.scalePolicy,
        };
        await post("/api/v1/nodegroups", body);
        clear();
        props.onDone(true);
      })}
    >
      <h3>New node group</h3>
      <FormError error={form.err} target={form.target} />
      <Field label="Name" {...f("name")} hint="empty: the manager makes one up" />
      <Field label="Regions" {...f("regions")} hint="comma-separated, e.g. eu-west-1, us-east-1" />
      <Select label="Launch configuration" {...f("launchConfig")} options={props.configs} blank="(choose)" />
      <Select label="Scale policy" {...f("scalePolicy")} options={props.policies} blank="(choose)" />
      <FormButtons busy={form.busy} label="Create" onCancel={() => (clear(), props.onDone(false))} />
    </form>
  );
}

// ---- alarm thresholds ----

function AlarmsSection(props: { list: ListState<AlarmThreshold> }) {
  const [d, setD, clear] = useDraft<{ role: string; threshold: string }>("alarm", () => ({ role: "edge", threshold: "" }));
  const form = useForm();
  const [saved, setSaved] = useState("");
  const f = fieldProps(d, setD, form);
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
        ref={form.ref}
        class="card form inline-form"
        data-testid="alarm-form"
        noValidate
        onSubmit={form.onSubmit(async () => {
          setSaved("");
          await put(`/api/v1/alarms/${enc(d.role)}`, { threshold: num(d.threshold) });
          setSaved(`${d.role}: ${d.threshold} % saved.`);
          clear();
          props.list.reload();
        })}
      >
        <FormError error={form.err} target={form.target} />
        <div class="inline-fields">
          <Select label="Role" {...f("role")} options={ROLES} />
          <Field label="Threshold (%)" type="number" {...f("threshold")} min={1} max={100} />
          <div class="field">
            <button type="submit" class="primary" disabled={form.busy} data-testid="form-submit">
              {form.busy ? "Saving…" : "Set threshold"}
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
