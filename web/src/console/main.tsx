// The operator console (/console): sign-in, then the cluster, streams, configuration, the VOD library and
// a WHIP publisher. docs/web.md is the contract with the manager.
import { render } from "preact";
import "./styles.css";
import { App } from "./app";
import { check } from "./session";

void check();
render(<App />, document.getElementById("app")!);
