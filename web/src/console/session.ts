// The console session: the csrf token lives in memory only (the session itself is the HttpOnly cookie
// nagare_console). On load GET /console/api/session tells whether the cookie is still good: 200
// {"signedIn": true, "csrf", "expiresAt"} or 200 {"signedIn": false, "reason"} (a 401 is taken the same way).
import { errorBody } from "../common/api-error";
import { createStore } from "./store";
import type { Session } from "./types";

export type SessionState =
  | { kind: "checking" }
  | { kind: "signedOut"; reason?: string }
  | { kind: "signedIn"; csrf: string; expiresAt: string };

export const session = createStore<SessionState>({ kind: "checking" });

export function csrf(): string {
  const s = session.get();
  return s.kind === "signedIn" ? s.csrf : "";
}

/** expire is what any 401 leads to: back to the sign-in form (the page's drafts are kept). */
export function expire(reason = "Your session has ended; sign in again."): void {
  if (session.get().kind !== "signedOut") session.set({ kind: "signedOut", reason });
}

/** check asks the manager whether the cookie's session is valid. A network failure leaves the state alone
 * (the manager may be restarting) unless nothing is known yet. Answers whether the session is valid. */
export async function check(): Promise<boolean | undefined> {
  let r: Response;
  try {
    r = await fetch("/console/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch {
    if (session.get().kind === "checking") session.set({ kind: "signedOut", reason: "The manager cannot be reached." });
    return undefined;
  }
  let s: Session | null = null;
  if (r.ok) {
    try {
      s = (await r.json()) as Session;
    } catch {
      s = null;
    }
  }
  if (s && s.signedIn !== false && s.csrf) {
    const cur = session.get();
    if (cur.kind !== "signedIn" || cur.csrf !== s.csrf) session.set({ kind: "signedIn", csrf: s.csrf, expiresAt: s.expiresAt ?? "" });
    return true;
  }
  if (r.status === 401 || (s && s.signedIn === false)) {
    if (session.get().kind === "checking") session.set({ kind: "signedOut" });
    else expire(s?.reason ? `Your session has ended (${s.reason}); sign in again.` : undefined);
    return false;
  }
  if (session.get().kind === "checking") session.set({ kind: "signedOut", reason: `The manager answered ${r.status}.` });
  return undefined;
}

/** signIn posts the admin token; it resolves to an error message, or "" when signed in. */
export async function signIn(token: string): Promise<string> {
  let r: Response;
  try {
    r = await fetch("/console/api/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token }),
    });
  } catch {
    return "The manager cannot be reached.";
  }
  if (r.ok) {
    const s = (await r.json()) as Session;
    if (!s.csrf) return "The manager's answer carries no csrf token.";
    session.set({ kind: "signedIn", csrf: s.csrf, expiresAt: s.expiresAt ?? "" });
    return "";
  }
  if (r.status === 403) return "That token is not the admin token.";
  const b = errorBody(await r.text().catch(() => ""));
  return b?.error || `Sign-in failed (${r.status}).`;
}

export async function signOut(): Promise<void> {
  try {
    await fetch("/console/api/session", {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() },
    });
  } catch {
    /* signed out here anyway */
  }
  session.set({ kind: "signedOut", reason: "Signed out." });
}
