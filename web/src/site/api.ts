// api.ts: same-origin JSON calls to the public site's API. A failure is an ApiError with the HTTP status
// (0 for a network failure) and the server's {"error": "..."} message when it sent one.
import { ApiError, errorBody } from "../common/api-error";
import type { LiveList, SiteConfig, Video, VideoList } from "./types";

export { ApiError };

export async function getJSON<T>(url: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { Accept: "application/json" }, signal, cache: "no-store" });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, `network error: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!res.ok) {
    // a body that is not JSON (or not there) leaves the status line
    const body = errorBody(await res.text().catch(() => ""));
    throw new ApiError(res.status, body?.error || `${res.status} ${res.statusText}`.trim(), body?.field);
  }
  return (await res.json()) as T;
}

/** isAbort tells a cancelled request (a view that went away) from a failure worth showing. */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

export const api = {
  config: (signal?: AbortSignal) => getJSON<SiteConfig>("/site/api/config", signal),
  live: (signal?: AbortSignal) => getJSON<LiveList>("/site/api/live", signal),
  videos(q: string, pageToken: string, signal?: AbortSignal) {
    const p = new URLSearchParams();
    if (q) p.set("q", q);
    if (pageToken) p.set("pageToken", pageToken);
    const qs = p.toString();
    return getJSON<VideoList>(`/site/api/videos${qs ? "?" + qs : ""}`, signal);
  },
  /** search is the page's query string as is (a private video's ?exp=...&sig=...) */
  video: (id: string, search: string, signal?: AbortSignal) =>
    getJSON<Video>(`/site/api/videos/${encodeURIComponent(id)}${search}`, signal),
};
