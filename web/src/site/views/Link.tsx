// Link: an in-site link, a real <a href> (keyboard, middle click and "open in new tab" work) that
// navigates with history.pushState on a plain click.
import type { ComponentChildren } from "preact";
import { onLinkClick } from "../router";

export function Link(props: { href: string; class?: string; children: ComponentChildren; [k: string]: unknown }) {
  const { href, children, ...rest } = props;
  return (
    <a href={href} onClick={onLinkClick} {...rest}>
      {children}
    </a>
  );
}
