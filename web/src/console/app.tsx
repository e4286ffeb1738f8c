// The console's frame: the sign-in form while there is no session, else the header, the connection banner
// and the page the path names.
import { useEffect } from "preact/hooks";
import { clearDrafts } from "./drafts";
import { BASE, Link, navigate, segments, usePath } from "./router";
import { check, session, signOut } from "./session";
import { live, startWatch, stopWatch } from "./sse";
import { useStore } from "./store";
import { ClusterView } from "./views/cluster";
import { ConfigView } from "./views/config";
import { NodeView } from "./views/node";
import { PublishView } from "./views/publish";
import { SignIn } from "./views/signin";
import { StreamView } from "./views/stream";
import { StreamsView } from "./views/streams";
import { VodView } from "./views/vod";

const NAV: [string, string][] = [
  ["cluster", "Cluster"],
  ["streams", "Streams"],
  ["config", "Configuration"],
  ["vod", "VOD library"],
  ["publish", "Publish"],
];

export function App() {
  const s = useStore(session);
  useEffect(() => {
    if (s.kind === "signedIn") startWatch();
    else if (s.kind === "signedOut") stopWatch();
  }, [s.kind]);
  // the watch stream does not end when the session does (signed out in another tab, expired): ask now and
  // then, when the tab comes back into view and when the session is due to expire
  const expiresAt = s.kind === "signedIn" ? s.expiresAt : "";
  useEffect(() => {
    if (!expiresAt) return;
    const every = window.setInterval(() => void check(), 60_000);
    const onVisible = () => {
      if (document.visibilityState === "visible") void check();
    };
    document.addEventListener("visibilitychange", onVisible);
    const due = Date.parse(expiresAt) - Date.now() + 1000;
    const at = due > 0 && due < 2 ** 31 - 1 ? window.setTimeout(() => void check(), due) : undefined;
    return () => {
      clearInterval(every);
      clearTimeout(at);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [expiresAt]);
  if (s.kind === "checking") {
    return (
      <main class="center" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  }
  if (s.kind === "signedOut") return <SignIn reason={s.reason} />;
  return <Shell />;
}

function Shell() {
  const p = usePath();
  const seg = segments(p);
  const l = useStore(live);
  useEffect(() => {
    if (seg.length === 0) navigate(`${BASE}/cluster`, true);
  }, [seg.length]);
  const top = seg[0] ?? "cluster";
  useEffect(() => {
    const name = NAV.find(([k]) => k === top)?.[1] ?? (top === "nodes" ? "Node" : "");
    document.title = name ? `${name} · nagare console` : "nagare console";
  }, [top]);
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href={`${BASE}/cluster`} class="brand">
          nagare <span>console</span>
        </Link>
        <nav aria-label="Console">
          <ul>
            {NAV.map(([k, label]) => (
              <li key={k}>
                <Link
                  href={`${BASE}/${k}`}
                  aria-current={top === k || (k === "cluster" && top === "nodes") ? "page" : undefined}
                >
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="signout"
          data-testid="signout"
          onClick={() => {
            clearDrafts();
            void signOut();
          }}
        >
          Sign out
        </button>
      </header>
      {l.down && (
        <div class="banner" role="status" data-testid="conn-banner">
          manager unreachable — reconnecting
        </div>
      )}
      <main id="main" tabIndex={-1}>
        <Page seg={seg} />
      </main>
    </div>
  );
}

function Page(props: { seg: string[] }) {
  const [a, b, c] = props.seg;
  switch (a) {
    case undefined:
    case "cluster":
      return <ClusterView />;
    case "nodes":
      if (b && props.seg.length === 2) return <NodeView key={b} id={b} />;
      break;
    case "streams":
      if (!b) return <StreamsView />;
      if (b && c && props.seg.length === 3) return <StreamView key={`${b}/${c}`} app={b} stream={c} />;
      break;
    case "config":
      return <ConfigView />;
    case "vod":
      return <VodView />;
    case "publish":
      return <PublishView />;
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        The console has no page here. <Link href={`${BASE}/cluster`}>Go to the cluster</Link>.
      </p>
    </section>
  );
}
