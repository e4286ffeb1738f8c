// App: the site's frame (header with the site name, footer) around the view of the route; the embed pages
// get the player alone, filling the viewport.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api";
import { setServerLiveSettings } from "../player";
import { paths, useLocation } from "../router";
import { Home } from "./Home";
import { Link } from "./Link";
import { Live } from "./Live";
import { NotFound } from "./NotFound";
import { Watch } from "./Watch";

export function App() {
  const { route, search } = useLocation();
  const [siteName, setSiteName] = useState("nagare");
  const embed = (route.kind === "watch" || route.kind === "live") && route.embed;

  useEffect(() => {
    api.config().then(
      (c) => {
        if (c.siteName) setSiteName(c.siteName);
        setServerLiveSettings(c.hls);
      },
      () => {}, // the defaults serve
    );
  }, []);

  useEffect(() => {
    document.documentElement.classList.toggle("embed", embed);
  }, [embed]);

  // after an in-site navigation, the keyboard and screen readers start at the new page's content
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus({ preventScroll: true });
  }, [route]);

  let view;
  switch (route.kind) {
    case "home":
      view = <Home siteName={siteName} />;
      break;
    case "watch":
      view = <Watch key={route.id} id={route.id} search={search} embed={route.embed} siteName={siteName} />;
      break;
    case "live":
      view = <Live key={`${route.app}/${route.stream}`} app={route.app} stream={route.stream} embed={route.embed} siteName={siteName} />;
      break;
    default:
      view = <NotFound embed={false} message="There is no page at this address." />;
  }
  if (embed) return <main class="embed-main">{view}</main>;

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="site-header">
        <Link href={paths.home()} class="site-name">
          {siteName}
        </Link>
      </header>
      <main id="main" class="site-main" tabIndex={-1} ref={main}>
        {view}
      </main>
      <footer class="site-footer">
        <span>{siteName}</span>
        <span class="muted"> · powered by nagare</span>
      </footer>
    </>
  );
}
