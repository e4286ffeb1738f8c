// A tiny observable value and the hook that re-renders a component when it changes. State that must
// outlive the component tree (the session, the cluster picture, form drafts, uploads) lives in these.
import { useEffect, useState } from "preact/hooks";

export interface Store<T> {
  get(): T;
  set(v: T): void;
  update(f: (v: T) => T): void;
  subscribe(f: (v: T) => void): () => void;
}

export function createStore<T>(initial: T): Store<T> {
  let value = initial;
  const subs = new Set<(v: T) => void>();
  return {
    get: () => value,
    set(v: T) {
      if (Object.is(v, value)) return;
      value = v;
      for (const f of [...subs]) f(v);
    },
    update(f) {
      this.set(f(value));
    },
    subscribe(f) {
      subs.add(f);
      return () => subs.delete(f);
    },
  };
}

export function useStore<T>(s: Store<T>): T {
  const [v, setV] = useState(s.get());
  useEffect(() => {
    setV(s.get());
    return s.subscribe(setV);
  }, [s]);
  return v;
}
