// Form drafts kept outside the component tree: when a call answers 401 the console shows its sign-in form
// instead of the page, and after signing in again the page's form comes back with what was typed.
import { useState } from "preact/hooks";

const drafts = new Map<string, unknown>();

/** useDraft is useState whose value survives the component's unmounting, keyed by the form. */
export function useDraft<T>(key: string, init: () => T): [T, (v: T) => void, () => void] {
  const [v, setV] = useState<T>(() => (drafts.has(key) ? (drafts.get(key) as T) : init()));
  const set = (nv: T) => {
    drafts.set(key, nv);
    setV(nv);
  };
  const clear = () => {
    drafts.delete(key);
  };
  return [v, set, clear];
}

export function clearDrafts(): void {
  drafts.clear();
}
