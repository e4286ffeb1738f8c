// Browser uploads to the VOD library over tus (resumable): kept outside the component tree so that they
// go on, and stay listed, while the operator moves between pages or signs in again.
import * as tus from "tus-js-client";
import { csrf, expire } from "./session";
import { createStore } from "./store";

export interface UploadItem {
  key: number;
  fileName: string;
  title: string;
  sent: number;
  total: number;
  state: "uploading" | "paused" | "done" | "failed";
  error?: string;
  resumed?: boolean;
  upload: tus.Upload;
}

export const uploads = createStore<UploadItem[]>([]);

/** the headers of every tus request; tus-js-client reads them per request, so the getter gives the
 * current token */
const csrfHeaders: Record<string, string> = {
  get "X-CSRF-Token"() {
    return csrf();
  },
};
let seq = 0;

function patchItem(key: number, p: Partial<UploadItem>): void {
  uploads.update((l) => l.map((u) => (u.key === key ? { ...u, ...p } : u)));
}

export async function startUpload(file: File, title: string, onDone: () => void): Promise<void> {
  const key = ++seq;
  const upload = new tus.Upload(file, {
    endpoint: "/api/v1/vod/uploads",
    // read at every request: the csrf token of the session now (it changes when the operator signs in
    // again, and an upload resumes under the new session)
    headers: csrfHeaders,
    metadata: { filename: file.name, title: title || file.name.replace(/\.[^.]+$/, ""), filetype: file.type || "application/octet-stream" },
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    chunkSize: 8 * 1024 * 1024,
    onShouldRetry: (err) => {
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      if (status === 401 || status === 403 || status === 413 || status === 415 || status === 400) return false;
      return true;
    },
    onProgress: (sent, total) => patchItem(key, { sent, total }),
    onSuccess: () => {
      patchItem(key, { state: "done", sent: file.size, total: file.size });
      onDone();
    },
    onError: (err) => {
      const d = err as tus.DetailedError;
      const status = d.originalResponse ? d.originalResponse.getStatus() : 0;
      if (status === 401) {
        patchItem(key, { state: "paused", error: "Signed out: sign in again and resume." });
        expire();
        return;
      }
      let msg = err.message;
      const body = d.originalResponse?.getBody();
      if (body) {
        try {
          const b = JSON.parse(body) as { error?: string };
          if (b.error) msg = b.error;
        } catch {
          /* not JSON */
        }
      }
      patchItem(key, { state: "failed", error: msg });
    },
  });
  const item: UploadItem = { key, fileName: file.name, title, sent: 0, total: file.size, state: "uploading", upload };
  uploads.update((l) => [item, ...l]);
  try {
    const prev = await upload.findPreviousUploads();
    if (prev.length > 0) {
      upload.resumeFromPreviousUpload(prev[0]!);
      patchItem(key, { resumed: true });
    }
  } catch {
    /* no storage: start afresh */
  }
  upload.start();
}

export function pauseUpload(key: number): void {
  const u = uploads.get().find((x) => x.key === key);
  if (!u || u.state !== "uploading") return;
  void u.upload.abort(false);
  patchItem(key, { state: "paused" });
}

export function resumeUpload(key: number): void {
  const u = uploads.get().find((x) => x.key === key);
  if (!u || (u.state !== "paused" && u.state !== "failed")) return;
  patchItem(key, { state: "uploading", error: undefined });
  u.upload.start();
}

export function cancelUpload(key: number): void {
  const u = uploads.get().find((x) => x.key === key);
  if (!u) return;
  if (u.state !== "done") void u.upload.abort(true).catch(() => undefined);
  uploads.update((l) => l.filter((x) => x.key !== key));
}
