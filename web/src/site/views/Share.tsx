// Share: a page's link with a copy button, and the <iframe> snippet of its embeddable player.
import { useRef, useState } from "preact/hooks";

// attr escapes a value for an HTML attribute in double quotes (the snippet is HTML the reader pastes)
function attr(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function embedSnippet(embedURL: string, title: string): string {
  return (
    `<iframe src="${attr(embedURL)}" width="640" height="360" title="${attr(title)}" ` +
    `frameborder="0" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>`
  );
}

async function copy(text: string, fallback: HTMLInputElement | HTMLTextAreaElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no clipboard API (plain HTTP, an older browser): select the text and copy it the old way
    if (!fallback) return false;
    fallback.focus();
    fallback.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
}

export function Share(props: { shareURL: string; embedURL: string; title: string }) {
  const link = useRef<HTMLInputElement>(null);
  const code = useRef<HTMLTextAreaElement>(null);
  const [status, setStatus] = useState("");
  const snippet = embedSnippet(props.embedURL, props.title);
  const doCopy = async (text: string, el: HTMLInputElement | HTMLTextAreaElement | null, what: string) => {
    setStatus((await copy(text, el)) ? `${what} copied` : "Copy failed: select the text and copy it");
  };
  return (
    <section class="share" aria-labelledby="share-h">
      <h2 id="share-h">Share</h2>
      <div class="share-row">
        <label for="share-link">Link</label>
        <input
          id="share-link"
          ref={link}
          data-testid="share-link"
          type="text"
          readOnly
          value={props.shareURL}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={() => doCopy(props.shareURL, link.current, "Link")}>
          Copy link
        </button>
      </div>
      <div class="share-row">
        <label for="embed-code">Embed</label>
        <textarea
          id="embed-code"
          ref={code}
          data-testid="embed-code"
          readOnly
          rows={3}
          value={snippet}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={() => doCopy(snippet, code.current, "Embed code")}>
          Copy code
        </button>
      </div>
      <p class="status" role="status" aria-live="polite">
        {status}
      </p>
    </section>
  );
}
