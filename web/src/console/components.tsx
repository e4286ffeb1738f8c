// Small shared pieces: a confirmation dialog, a form's state and error display, list tables, pagination.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError, errorText } from "./api";

/** Confirm asks before an action; it is a modal <dialog> (focus trapped, Escape cancels). */
export function Confirm(props: {
  title: string;
  children?: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<void> | void;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState("");
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) {
      if (typeof d.showModal === "function") d.showModal();
      else d.setAttribute("open", "");
    }
  }, []);
  const run = async () => {
    setBusy(true);
    setErr("");
    try {
      await props.onConfirm();
      props.onClose();
    } catch (e) {
      setErr(errorText(e));
      setBusy(false);
    }
  };
  return (
    <dialog
      ref={ref}
      class="confirm"
      data-testid="confirm-dialog"
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) props.onClose();
      }}
    >
      <h2 id="confirm-title">{props.title}</h2>
      <div class="confirm-body">{props.children}</div>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      <div class="actions">
        <button type="button" onClick={() => props.onClose()} disabled={busy} data-testid="confirm-cancel">
          Cancel
        </button>
        <button
          type="button"
          class={props.danger ? "danger" : "primary"}
          onClick={run}
          disabled={busy}
          data-testid="confirm-ok"
        >
          {busy ? "Working…" : props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** useConfirm keeps which confirmation is open; render its element where the dialog should live. */
export function useConfirm(): [JSX.Element | null, (c: ConfirmSpec) => void] {
  const [spec, setSpec] = useState<ConfirmSpec | null>(null);
  const el = spec ? (
    <Confirm
      title={spec.title}
      confirmLabel={spec.confirmLabel}
      danger={spec.danger}
      onConfirm={spec.run}
      onClose={() => setSpec(null)}
    >
      {spec.body}
    </Confirm>
  ) : null;
  return [el, setSpec];
}

export interface ConfirmSpec {
  title: string;
  body?: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  run: () => Promise<void> | void;
}

/** useErrorTarget finds the input that shows a validation error: the input named by the error's field,
 * or else the one named by its nearest parent path ("regions[2]" → "regions"); null when the form has
 * none (then the error shows above the form). It looks at the rendered form, before the browser paints. */
export function useErrorTarget(error: unknown, formRef: { current: HTMLFormElement | null }): string | null {
  const [target, setTarget] = useState<string | null>(null);
  useLayoutEffect(() => {
    const form = formRef.current;
    if (!(error instanceof ApiError) || !error.field || !form) {
      setTarget(null);
      return;
    }
    const names = new Set<string>();
    for (const el of Array.from(form.elements)) {
      const n = (el as HTMLInputElement).name;
      if (n) names.add(n);
    }
    let f: string = error.field;
    let found: string | null = null;
    for (;;) {
      if (names.has(f)) {
        found = f;
        break;
      }
      const m = f.match(/^(.*)(\[\d+\]|\.[^.[\]]+)$/);
      if (!m || !m[1]) break;
      f = m[1];
    }
    setTarget(found);
    if (found) {
      const el = Array.from(form.elements).find((x) => (x as HTMLInputElement).name === found) as HTMLElement | undefined;
      el?.focus();
    }
  }, [error]);
  return target;
}

/** useForm is what every console form keeps: the API's error of the last save, busy while saving, the input
 * the error is about (fieldError: the two as a Field's props). onSubmit(save) is the form's submit handler:
 * it runs save and keeps what it throws. */
export function useForm() {
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLFormElement>(null);
  const target = useErrorTarget(err, ref);
  const onSubmit = (save: () => Promise<void>) => async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      await save();
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  return { ref, err, busy, target, fieldError: { error: err, target }, onSubmit };
}

/** FieldError shows the API's validation error next to the input it names. */
export function FieldError(props: { name: string; error: unknown; target: string | null }) {
  const e = props.error;
  if (!(e instanceof ApiError) || !e.field || props.target !== props.name) return null;
  return (
    <span class="field-error" role="alert" data-testid="field-error" data-field={e.field}>
      {e.message}
    </span>
  );
}

/** FormError is the error above a form: any error without a field, or whose field no input shows. */
export function FormError(props: { error: unknown; target: string | null }) {
  const e = props.error;
  if (!e) return null;
  if (e instanceof ApiError && e.field && props.target) {
    return (
      <p class="error form-error" role="alert">
        Check the field marked below.
      </p>
    );
  }
  return (
    <p class="error form-error" role="alert" data-testid="form-error">
      {errorText(e)}
      {e instanceof ApiError && e.field ? ` (${e.field})` : ""}
    </p>
  );
}

/** A column head of ListTable: its text, or its text and num for a column of numbers (aligned right). */
export type Column = string | { label: string; num: true };

/** ListTable is a scrolling table: the column heads, a row per item, and one line saying so when there are
 * no items. */
export function ListTable<T>(props: { heads: Column[]; items: T[]; row: (item: T) => JSX.Element; empty: string; labelledBy?: string }) {
  return (
    <div class="table-wrap">
      <table aria-labelledby={props.labelledBy}>
        <thead>
          <tr>
            {props.heads.map((h) =>
              typeof h === "string" ? (
                <th key={h} scope="col">
                  {h}
                </th>
              ) : (
                <th key={h.label} scope="col" class="num">
                  {h.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>
          {props.items.map(props.row)}
          {props.items.length === 0 && (
            <tr>
              <td colSpan={props.heads.length} class="muted">
                {props.empty}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

/** usePages shows a long list a page at a time: the page's rows, the page (kept within the list when it
 * shrinks), how many pages there are, and setPage. */
export function usePages<T>(list: T[], size: number) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(list.length / size));
  const p = Math.min(page, pages - 1);
  return { rows: list.slice(p * size, (p + 1) * size), page: p, pages, setPage };
}

export function Pager(props: { page: number; pages: number; onPage: (p: number) => void; label: string }) {
  if (props.pages <= 1) return null;
  return (
    <nav class="pager" aria-label={props.label}>
      <button type="button" onClick={() => props.onPage(0)} disabled={props.page === 0}>
        « First
      </button>
      <button type="button" onClick={() => props.onPage(props.page - 1)} disabled={props.page === 0} data-testid="page-prev">
        ‹ Previous
      </button>
      <span aria-live="polite">
        Page {props.page + 1} of {props.pages}
      </span>
      <button
        type="button"
        onClick={() => props.onPage(props.page + 1)}
        disabled={props.page >= props.pages - 1}
        data-testid="page-next"
      >
        Next ›
      </button>
      <button type="button" onClick={() => props.onPage(props.pages - 1)} disabled={props.page >= props.pages - 1}>
        Last »
      </button>
    </nav>
  );
}

export function StateBadge(props: { state: string }) {
  return <span class={`badge state-${props.state.replace(/[^a-z]/g, "")}`}>{props.state}</span>;
}

/** useFocusFirst moves the focus into a form that just opened (keyboard users land in it). */
export function useFocusFirst(formRef: { current: HTMLFormElement | null }): void {
  useEffect(() => {
    const f = formRef.current;
    if (!f) return;
    f.scrollIntoView({ block: "nearest" });
    const first = f.querySelector<HTMLElement>("input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea");
    first?.focus({ preventScroll: true });
  }, []);
}
