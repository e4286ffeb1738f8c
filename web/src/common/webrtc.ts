// The HTTP half of a WHIP (console: publish) or WHEP (site: watch) session: the offer goes in a POST as
// application/sdp with its ICE candidates, the answer comes back, and the session's Location is what a
// DELETE ends.

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
