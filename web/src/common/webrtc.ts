// The HTTP half of a WHIP (console: publish) or WHEP (console and site: watch) session: the offer goes in a
// POST as application/sdp with its ICE candidates, the answer comes back, and the session's Location is
// what a DELETE ends.

/** iceGathered waits until ICE gathering is complete (a plain WHIP/WHEP offer carries its candidates), or
 * for ms at the most (then the offer goes with the candidates gathered so far). */
export function iceGathered(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const t = setTimeout(done, ms);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** postOffer POSTs the peer connection's local description (the offer) to url; init adds fetch options. */
export function postOffer(url: string, pc: RTCPeerConnection, init?: RequestInit): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp" },
    body: pc.localDescription!.sdp,
    ...init,
  });
}

/** sessionURL is the session's resource from the answer's Location (resolved against the URL that answered,
 * or the one asked when that is unknown); null without one. */
export function sessionURL(res: Response, asked: string): string | null {
  const loc = res.headers.get("Location");
  return loc ? new URL(loc, res.url || asked).href : null;
}

/** receiveOnly asks pc for video and audio, receive-only (a WHEP viewer), and returns the stream their
 * tracks arrive in. */
export function receiveOnly(pc: RTCPeerConnection): MediaStream {
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.addEventListener("track", (e) => stream.addTrack(e.track));
  return stream;
}

/** SessionRefused is an answer to an offer that is not a session: its HTTP status and the start of its
 * text (each caller tells it in its own words). */
export class SessionRefused extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(`HTTP ${status}${text ? `: ${text}` : ""}`);
  }
}

/** exchange makes pc's offer, waits for its ICE candidates (2 s at the most), POSTs it to url (fetch
 * follows the manager's 307 to a node) and sets the answer; it returns the session's resource. An answer
 * that is not a 2xx is thrown as SessionRefused (its text cut to textMax). When cancelled says so before
 * the POST, the exchange ends with an Error("cancelled"); after it, the answer is not set and the resource
 * is returned all the same, for the caller to hang up. */
export async function exchange(
  pc: RTCPeerConnection,
  url: string,
  opts: { init?: RequestInit; cancelled?: () => boolean; textMax?: number } = {},
): Promise<string | null> {
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc, 2000);
  if (opts.cancelled?.()) throw new Error("cancelled");
  const res = await postOffer(url, pc, opts.init);
  if (!res.ok) {
    const text = (await res.text().catch(() => "")).trim();
    throw new SessionRefused(res.status, text.slice(0, opts.textMax ?? 200));
  }
  const answer = await res.text();
  const resource = sessionURL(res, url);
  if (!opts.cancelled?.()) await pc.setRemoteDescription({ type: "answer", sdp: answer });
  return resource;
}

/** hangUp ends a session: the DELETE of its resource first, and pc closes once it is answered, so that the
 * node does not see the connection go (and drop the session) before the DELETE arrives, which it would
 * then answer 404. keepalive lets the DELETE outlive the page. */
export function hangUp(pc: RTCPeerConnection, resource: string | null, keepalive = false): Promise<void> {
  if (!resource) {
    pc.close();
    return Promise.resolve();
  }
  return fetch(resource, { method: "DELETE", keepalive, cache: "no-store" }).then(
    () => pc.close(),
    () => pc.close(),
  );
}
