import { paths } from "../router";
import { Link } from "./Link";

export function NotFound(props: { embed: boolean; message: string }) {
  if (props.embed) {
    return (
      <p class="embed-message" data-testid="not-found" role="alert">
        {props.message}
      </p>
    );
  }
  return (
    <section class="not-found" data-testid="not-found">
      <h1>Not found</h1>
      <p>{props.message}</p>
      <p>
        <Link href={paths.home()}>Back to the home page</Link>
      </p>
    </section>
  );
}
