import { render } from "preact";
render(<p>site</p>, document.getElementById("app")!);
