// router.ts: the site's routes, read from location.pathname. The Go side serves site.html at every one of
// them, so a reload or a shared link lands on the same view; links inside the site use history.pushState.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { kind: "home" }
  | { kind: "watch"; id: string; embed: boolean }
  | { kind: "live"; app: string; stream: string; embed: boolean }
  | { kind: "unknown" };

function decode(segment: string): string | null {
  try {
    const s = decodeURIComponent(segment);
    return s === "" ? null : s;
  } catch {
    return null;
  }
}

export function parseRoute(pathname: string): Route {
  let parts = pathname.split("/").filter((p) => p !== "");
  if (parts.length === 0) return { kind: "home" };
  const embed = parts[0] === "embed";
  if (embed) parts = parts.slice(1);
  if (parts[0] === "watch" && parts.length === 2) {
    const id = decode(parts[1]);
    if (id) return { kind: "watch", id, embed };
  }
  if (parts[0] === "live" && parts.length === 3) {
    const app = decode(parts[1]);
    const stream = decode(parts[2]);
    if (app && stream) return { kind: "live", app, stream, embed };
  }
  return { kind: "unknown" };
}

/** the paths of the site's pages, each segment escaped */
export const paths = {
  home: () => "/",
  watch: (id: string, embed = false) => `${embed ? "/embed" : ""}/watch/${encodeURIComponent(id)}`,
  live: (app: string, stream: string, embed = false) =>
    `${embed ? "/embed" : ""}/live/${encodeURIComponent(app)}/${encodeURIComponent(stream)}`,
  /** a stream's "<app>/<stream>" name as a path; null when it is not of that form */
  liveName(name: string, embed = false): string | null {
    const i = name.indexOf("/");
    if (i <= 0 || i === name.length - 1) return null;
    return paths.live(name.slice(0, i), name.slice(i + 1), embed);
  },
};

const listeners = new Set<() => void>();

/** navigate shows another page of the site without loading the document again. */
export function navigate(href: string): void {
  const url = new URL(href, location.href);
  if (url.origin !== location.origin) {
    location.assign(url.href);
    return;
  }
  if (url.pathname + url.search + url.hash !== location.pathname + location.search + location.hash) {
    history.pushState(null, "", url.pathname + url.search + url.hash);
  }
  window.scrollTo(0, 0);
  listeners.forEach((l) => l());
}

export interface Location {
  route: Route;
  search: string;
}

function current(): Location {
  return { route: parseRoute(location.pathname), search: location.search };
}

/** useLocation is the route of the page, updated on navigate and on the browser's back and forward. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => setLoc(current());
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return loc;
}

/** onLinkClick turns a plain click on an in-site link into navigate (a click with a modifier key, or with
 * the middle button, keeps the browser's behaviour: a new tab or window). */
export function onLinkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.currentTarget as HTMLAnchorElement;
  if (a.target && a.target !== "_self") return;
  e.preventDefault();
  navigate(a.href);
}
