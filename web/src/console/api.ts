// The fetch wrapper of the native API: same-origin JSON, X-CSRF-Token on every write, errors as ApiError
// ({"error", "field"} bodies), and a 401 anywhere sends the console back to its sign-in form.
import { ApiError, errorBody } from "../common/api-error";
import { csrf, expire } from "./session";

export { ApiError };

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export async function api<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r: Response;
  try {
    r = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `The manager cannot be reached (${e instanceof Error ? e.message : String(e)}).`);
  }
  if (r.status === 401) {
    expire();
    throw new ApiError(401, "Not signed in.");
  }
  const text = await r.text();
  if (!r.ok) {
    const b = errorBody(text);
    let msg = `${method} ${path}: ${r.status} ${r.statusText}`;
    if (b?.error !== undefined) msg = b.error;
    else if (!b && text.trim()) msg = text.trim().slice(0, 300); // not JSON: the text itself
    throw new ApiError(r.status, msg, b?.field);
  }
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    return text as unknown as T;
  }
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body);
export const put = <T>(path: string, body?: unknown) => api<T>("PUT", path, body);
export const patch = <T>(path: string, body?: unknown) => api<T>("PATCH", path, body);
export const del = <T>(path: string) => api<T>("DELETE", path);

/** enc escapes one path segment. */
export const enc = encodeURIComponent;

/** streamPath turns the stream name "<app>/<stream>" into the two path segments, each escaped (a slash
 * after the first belongs to the stream's part and is escaped with it). */
export function streamPath(name: string): string {
  const i = name.indexOf("/");
  if (i < 0) return enc(name);
  return `${enc(name.slice(0, i))}/${enc(name.slice(i + 1))}`;
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
