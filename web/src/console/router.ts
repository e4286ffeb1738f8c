// A tiny history.pushState router: the console's pages live under /console/...; <Link> and navigate()
// change the path without a reload, the back button works through popstate.
import { createElement, type ComponentChildren, type JSX } from "preact";
import { createStore, useStore } from "./store";

export const BASE = "/console";

export const path = createStore<string>(location.pathname);

window.addEventListener("popstate", () => path.set(location.pathname));

export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  path.set(location.pathname);
  if (!replace) window.scrollTo(0, 0);
}

export function usePath(): string {
  return useStore(path);
}

/** route is the path below /console split into decoded segments. */
export function segments(p: string): string[] {
  let rest = p.startsWith(BASE) ? p.slice(BASE.length) : p;
  rest = rest.replace(/^\/+|\/+$/g, "");
  if (!rest) return [];
  return rest.split("/").map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
}

type AnchorProps = JSX.HTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren };

/** Link is an <a href> that navigates in place on a plain left click (new tabs still work). */
export function Link(props: AnchorProps) {
  const { href, onClick, ...rest } = props;
  return createElement("a", {
    ...rest,
    href,
    onClick: (e: JSX.TargetedMouseEvent<HTMLAnchorElement>) => {
      if (typeof onClick === "function") onClick(e);
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      if (!href.startsWith(BASE)) return;
      e.preventDefault();
      navigate(href);
    },
  });
}
