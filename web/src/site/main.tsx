// The public site: /, /watch/<id>, /live/<app>/<stream> and their /embed/... players (docs/web.md).
import { render } from "preact";
import "./styles.css";
import { App } from "./views/App";

render(<App />, document.getElementById("app")!);
