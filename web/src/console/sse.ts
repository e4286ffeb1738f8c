// The live cluster picture from GET /api/v1/watch (server-sent events, event "cluster"). EventSource
// reconnects by itself after a network error; a refused connection (a 401, a 5xx from a proxy) closes it,
// and then the session is checked and the stream opened again after a pause.
import { check } from "./session";
import { createStore } from "./store";
import type { ClusterSnapshot } from "./types";

export interface Live {
  snapshot: ClusterSnapshot | null;
  /** the stream failed and has not reopened yet: the banner shows */
  down: boolean;
  /** when the snapshot arrived (ms) */
  receivedAt: number;
}

export const live = createStore<Live>({ snapshot: null, down: false, receivedAt: 0 });

let es: EventSource | null = null;
let retry: number | undefined;
let checking = false;

export function startWatch(): void {
  if (es) return;
  open();
}

export function stopWatch(): void {
  if (retry !== undefined) clearTimeout(retry);
  retry = undefined;
  if (es) {
    es.close();
    es = null;
  }
  live.set({ snapshot: null, down: false, receivedAt: 0 });
}

function open(): void {
  const src = new EventSource("/api/v1/watch");
  es = src;
  src.addEventListener("open", () => {
    if (es !== src) return;
    if (live.get().down) live.update((l) => ({ ...l, down: false }));
  });
  src.addEventListener("cluster", (ev) => {
    if (es !== src) return;
    try {
      const snap = JSON.parse((ev as MessageEvent<string>).data) as ClusterSnapshot;
      live.set({ snapshot: snap, down: false, receivedAt: Date.now() });
    } catch {
      /* a malformed event: keep the previous picture */
    }
  });
  src.addEventListener("error", () => {
    if (es !== src) return;
    if (!live.get().down) live.update((l) => ({ ...l, down: true }));
    void onError(src);
  });
}

async function onError(src: EventSource): Promise<void> {
  if (checking) return;
  checking = true;
  try {
    // a 401 closes the EventSource without telling why: ask the session call (a 401 there signs out,
    // which stops the watch)
    const ok = await check();
    if (es !== src) return;
    if (ok === false) return;
    if (src.readyState === EventSource.CLOSED) {
      src.close();
      es = null;
      retry = window.setTimeout(() => {
        retry = undefined;
        if (!es) open();
      }, 3000);
    }
  } finally {
    checking = false;
  }
}
