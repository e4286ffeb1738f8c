// Form inputs named by their JSON field, each with its label and the API's error for that field.
import type { ComponentChildren } from "preact";
import { FieldError } from "../components";

export interface FieldProps {
  label: string;
  name: string;
  value: string;
  onInput: (v: string) => void;
  error: unknown;
  target: string | null;
  type?: "text" | "number" | "url";
  required?: boolean;
  disabled?: boolean;
  placeholder?: string;
  min?: number;
  max?: number;
  hint?: string;
  class?: string;
}

export function Field(p: FieldProps) {
  const invalid = p.target === p.name;
  return (
    <div class={`field ${p.class ?? ""}`}>
      <label>
      <span class="label">{p.label}</span>
      <input
        name={p.name}
        type={p.type ?? "text"}
        value={p.value}
        required={p.required}
        disabled={p.disabled}
        placeholder={p.placeholder}
        min={p.min}
        max={p.max}
        step={p.type === "number" ? 1 : undefined}
        inputMode={p.type === "number" ? "numeric" : undefined}
        aria-invalid={invalid ? "true" : undefined}
        onInput={(e) => p.onInput(e.currentTarget.value)}
      />
      </label>
      {p.hint && <span class="hint">{p.hint}</span>}
      <FieldError name={p.name} error={p.error} target={p.target} />
    </div>
  );
}

export function Select(p: {
  label: string;
  name: string;
  value: string;
  options: string[];
  onInput: (v: string) => void;
  error: unknown;
  target: string | null;
  disabled?: boolean;
  blank?: string;
  class?: string;
}) {
  const opts = p.value && !p.options.includes(p.value) ? [p.value, ...p.options] : p.options;
  return (
    <div class={`field ${p.class ?? ""}`}>
      <label>
      <span class="label">{p.label}</span>
      <select
        name={p.name}
        value={p.value}
        disabled={p.disabled}
        aria-invalid={p.target === p.name ? "true" : undefined}
        onChange={(e) => p.onInput(e.currentTarget.value)}
      >
        {p.blank !== undefined && <option value="">{p.blank}</option>}
        {opts.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
      </label>
      <FieldError name={p.name} error={p.error} target={p.target} />
    </div>
  );
}

/** Rows is an editable list of rows (targets, properties) with add and remove buttons. */
export function Rows<T>(p: {
  legend: string;
  name: string;
  rows: T[];
  onChange: (rows: T[]) => void;
  blank: () => T;
  render: (row: T, i: number, set: (r: T) => void) => ComponentChildren;
  error: unknown;
  target: string | null;
  addLabel: string;
}) {
  return (
    <fieldset class="rows">
      <legend>{p.legend}</legend>
      {/* a hidden input carries the list's name so that an error about the whole list shows here */}
      <input type="hidden" name={p.name} value="" />
      <FieldError name={p.name} error={p.error} target={p.target} />
      {p.rows.length === 0 && <p class="muted small">None.</p>}
      {p.rows.map((r, i) => (
        <div class="row" key={i}>
          {p.render(r, i, (nr) => p.onChange(p.rows.map((x, j) => (j === i ? nr : x))))}
          <button
            type="button"
            class="small remove"
            aria-label={`Remove ${p.legend} row ${i + 1}`}
            onClick={() => p.onChange(p.rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <button type="button" class="small" onClick={() => p.onChange([...p.rows, p.blank()])}>
        {p.addLabel}
      </button>
    </fieldset>
  );
}

/** the properties of D that hold a string */
type StringKeys<D> = { [K in keyof D]: D[K] extends string ? K : never }[keyof D] & string;

/** fieldProps binds a Field or Select to a string property of a form's draft: its name (the JSON field),
 * its value, its setter and the form's error. */
export function fieldProps<D>(d: D, setD: (d: D) => void, form: { fieldError: { error: unknown; target: string | null } }) {
  return (k: StringKeys<D>) => ({
    name: k,
    value: d[k] as string,
    onInput: (v: string) => setD({ ...d, [k]: v }),
    ...form.fieldError,
  });
}

/** FormButtons are a form's submit (Saving… while busy) and Cancel buttons. */
export function FormButtons(props: { busy: boolean; onCancel: () => void; label?: string }) {
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

export function num(s: string): number {
  const t = s.trim();
  if (!t) return 0;
  return Number(t);
}

export function str(n: number | undefined | null): string {
  return n === undefined || n === null ? "" : String(n);
}
