// common.js: what the publisher and subscriber pages share: Red5's query parameters, the event log that
// window.nagare exposes to operators and tests, and the WHIP/WHEP offer/answer exchange (RFC 9725) through
// the manager, which answers 307 to the chosen origin or edge.

// NAME is what nagare accepts as an app or stream name.
export const NAME = /^[A-Za-z0-9_-]{1,128}$/;

// MAX_EVENTS bounds the log of a page left open for days (a subscriber retrying all night).
const MAX_EVENTS = 1000;

// readConfig reads the page's query: host, protocol, app, streamName, verbose, view, token (Red5's names,
// plus token). problems lists what is wrong, for the page to show.
export function readConfig(kind) {
  const q = new URLSearchParams(location.search);
  const problems = [];
  const protocol = (q.get('protocol') || location.protocol.replace(/:$/, '')).toLowerCase();
  if (protocol !== 'http' && protocol !== 'https') problems.push(`protocol must be http or https, not "${protocol}"`);
  const host = q.get('host') || location.host;
  if (!/^[A-Za-z0-9.\-:[\]]+$/.test(host)) problems.push(`host "${host}" is not a host or host:port`);
  const app = q.get('app') || decodeURIComponent(location.pathname.split('/').filter(Boolean)[0] || 'live');
  if (!NAME.test(app)) problems.push(`app "${app}" is not a valid name ([A-Za-z0-9_-], 1 to 128 characters)`);
  const streamName = q.get('streamName') || '';
  if (streamName === '') problems.push('streamName is required: add ?streamName=<name> to the address');
  else if (!NAME.test(streamName)) problems.push(`streamName "${streamName}" is not a valid name ([A-Za-z0-9_-], 1 to 128 characters)`);
  const view = (q.get('view') || 'rtc').toLowerCase();
  if (kind === 'subscriber' && view !== 'rtc' && view !== 'hls') problems.push(`view must be rtc or hls, not "${view}"`);
  if (location.protocol === 'https:' && protocol === 'http') {
    problems.push('this page was loaded over https: the browser refuses protocol=http requests from it (mixed content)');
  }
  const verbose = ['1', 'true', 'yes'].includes((q.get('verbose') || '').toLowerCase());
  return {
    kind, protocol, host, app, streamName, view, verbose,
    token: q.get('token') || '',
    base: `${protocol}://${host}`,
    problems,
  };
}

// Page keeps the state that window.nagare shows and draws it: the state line, the node, the error and, with
// verbose=1, every event with its time.
export class Page {
  constructor(cfg) {
    this.cfg = cfg;
    this.started = performance.now();
    this.el = {
      state: document.getElementById('state'),
      node: document.getElementById('node'),
      error: document.getElementById('error'),
      events: document.getElementById('events'),
      stream: document.getElementById('stream'),
    };
    // the token is a secret: keep it out of what the page exposes
    const {token, problems, ...shown} = cfg;
    this.nagare = {
      state: 'Init', node: null, events: [], pc: null, framesRendered: 0, error: null,
      config: {...shown, token: token ? '(set)' : ''},
    };
    window.nagare = this.nagare;
    if (this.el.stream) this.el.stream.textContent = `${cfg.app}/${cfg.streamName || '?'}`;
    if (cfg.verbose && this.el.events) this.el.events.hidden = false;
  }

  // event records what happened; a state (Publish.Start, Subscribe.Start, ...) also becomes the page's state.
  event(type, detail = '', {state = false} = {}) {
    const ev = {time: new Date().toISOString(), ms: Math.round(performance.now() - this.started), type, detail: String(detail)};
    const evs = this.nagare.events;
    evs.push(ev);
    if (evs.length > MAX_EVENTS) evs.splice(0, evs.length - MAX_EVENTS);
    if (state) {
      this.nagare.state = type;
      if (this.el.state) this.el.state.textContent = type;
    }
    if (this.cfg.verbose) {
      console.log(`[nagare ${this.cfg.kind}] ${ev.time} +${ev.ms}ms ${type}${ev.detail ? ': ' + ev.detail : ''}`);
      if (this.el.events) {
        const li = document.createElement('li');
        const t = document.createElement('time');
        t.textContent = `${ev.time} (+${ev.ms} ms)`;
        const b = document.createElement('b');
        b.textContent = ` ${type}`;
        li.append(t, b, ev.detail ? ` ${ev.detail}` : '');
        this.el.events.append(li);
        while (this.el.events.childElementCount > MAX_EVENTS) this.el.events.firstElementChild.remove();
      }
    }
  }

  setNode(node) {
    this.nagare.node = node;
    if (this.el.node) this.el.node.textContent = node || '–';
  }

  // fail shows an error; one the page retries is a warning in the console, one it gives up on an error.
  fail(message, {retrying = false} = {}) {
    this.nagare.error = message;
    if (this.el.error) {
      this.el.error.textContent = message;
      this.el.error.hidden = false;
    }
    (retrying ? console.warn : console.error)(`[nagare ${this.cfg.kind}] ${message}`);
  }

  clearError() {
    this.nagare.error = null;
    if (this.el.error) {
      this.el.error.textContent = '';
      this.el.error.hidden = true;
    }
  }
}

// HTTPError is a WHIP/WHEP answer other than 201.
export class HTTPError extends Error {
  constructor(status, statusText, body, retryAfterMs, url) {
    super(`HTTP ${status}${statusText ? ' ' + statusText : ''}${body ? ': ' + body : ''}`);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.url = url;
  }
}

// iceGathered waits until the offer carries every candidate, for at most ms (then the candidates gathered so
// far are sent; the server also learns the others' addresses from their connectivity checks).
export function iceGathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve(true);
  return new Promise(resolve => {
    const check = () => {
      if (pc.iceGatheringState === 'complete') done(true);
    };
    const timer = setTimeout(() => done(false), ms);
    function done(complete) {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve(complete);
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}

// retryAfterMs reads Retry-After (seconds or an HTTP date); null when absent or unreadable (a node must list
// it in Access-Control-Expose-Headers for a page to see it).
function retryAfterMs(res) {
  const v = res.headers.get('Retry-After');
  if (!v) return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

// errorText turns an error body into one line: nagare's {"error"}, Red5's {"errorMessage"}, or the text.
async function errorText(res) {
  let text = '';
  try {
    text = (await res.text()).trim();
  } catch {
    return '';
  }
  if ((res.headers.get('Content-Type') || '').includes('json')) {
    try {
      const j = JSON.parse(text);
      text = j.error || j.errorMessage || j.message || text;
      if (typeof text !== 'string') text = JSON.stringify(text);
    } catch { /* not JSON after all: show the text */ }
  }
  return text.length > 500 ? text.slice(0, 500) + '…' : text;
}

// exchange POSTs the local offer to url (the manager's /<app>/<stream>/whip or /whep; fetch follows its 307
// to the node, body included) and returns the answer, the session's resource URL (the Location, resolved
// against the node's URL) and the node reached.
export async function exchange(page, pc, url, token) {
  const complete = await iceGathered(pc, 2000);
  page.event('ICE.Gathered', complete ? 'complete' : 'timed out after 2 s, sending the candidates so far');
  const sdp = pc.localDescription.sdp;
  const post = target => {
    const headers = {'Content-Type': 'application/sdp'};
    if (token) headers.Authorization = `Bearer ${token}`;
    return fetch(target, {method: 'POST', headers, body: sdp, cache: 'no-store', redirect: 'follow'});
  };
  page.event('HTTP.Offer', `POST ${url}`);
  let res = await post(url);
  if (res.redirected) page.event('HTTP.Redirected', res.url);
  // Browsers drop Authorization when a redirect crosses origins (Fetch: "CORS non-wildcard request-header
  // name"): the node saw no token. Send the same offer to the node itself, which keeps the header.
  if (res.status === 401 && token && res.redirected && new URL(res.url).origin !== new URL(url).origin) {
    page.event('HTTP.Resend', `401 from ${new URL(res.url).host} after a cross-origin redirect dropped the token: POST ${res.url}`);
    await res.body?.cancel();
    res = await post(res.url);
  }
  if (res.status !== 201) {
    throw new HTTPError(res.status, res.statusText, await errorText(res), retryAfterMs(res), res.url);
  }
  const answer = await res.text();
  const location = res.headers.get('Location');
  const resource = location ? new URL(location, res.url).href : null;
  if (!resource) page.event('HTTP.NoLocation', 'no readable Location: the session cannot be ended with DELETE (the node must expose Location to pages)');
  return {answer, resource, node: new URL(res.url).host};
}

// hangUp ends a session with DELETE. keepalive lets the request outlive the page (pagehide).
export async function hangUp(page, resource, token, keepalive = false) {
  if (!resource) return;
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  page.event('HTTP.Delete', resource);
  try {
    const res = await fetch(resource, {method: 'DELETE', headers, keepalive, cache: 'no-store'});
    page.event('HTTP.Deleted', `${res.status}`);
  } catch (e) {
    page.event('HTTP.DeleteFailed', String(e));
  }
}

// retryable says whether an error may pass with time: a stream not live yet (a viewer's 404), an origin or
// edge busy or starting (503, 429), a publication still held by a previous session (409), a network
// failure. 400, 401 and 403 need the operator, and so does a publisher's 404 (no WHIP endpoint there).
export function retryable(err, kind) {
  if (!(err instanceof HTTPError)) return true;
  if (err.status === 404) return kind === 'subscriber';
  return [408, 409, 425, 429, 500, 502, 503, 504].includes(err.status);
}

// backoff is the delay before retry number attempt (0-based): 1 s doubling up to 15 s, with jitter so that a
// room of viewers does not come back in step; Retry-After wins when the server gave one.
export function backoff(attempt, err) {
  if (err instanceof HTTPError && err.retryAfterMs != null) return Math.min(err.retryAfterMs, 60000);
  const base = Math.min(1000 * 2 ** attempt, 15000);
  return Math.round(base * (0.8 + 0.4 * Math.random()));
}

// describe explains an error on the page: the HTTP status and body, or the browser's message.
export function describe(err, kind) {
  if (err instanceof HTTPError) {
    const hints = {
      401: ' (the token or stream key is missing or wrong: add &token=<key or token>)',
      403: ' (the token does not allow this stream)',
      404: kind === 'publisher' ? ' (no WHIP endpoint there: host must be the manager or an origin)' : ' (the stream is not live yet)',
      409: ' (the stream is already being published)',
      503: ' (no node can take it now)',
    };
    return err.message + (hints[err.status] || '');
  }
  if (err instanceof TypeError) return `network error: ${err.message} (server unreachable, or a CORS refusal: see the console)`;
  return err?.message || String(err);
}

// countFrames counts the frames the video element renders into window.nagare.framesRendered and calls
// onFrame for each; requestVideoFrameCallback where the browser has it, timeupdate otherwise.
export function countFrames(page, video, onFrame) {
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    const tick = (_now, meta) => {
      page.nagare.framesRendered++;
      onFrame(meta);
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
    return;
  }
  let last = -1;
  video.addEventListener('timeupdate', () => {
    if (video.currentTime !== last) {
      last = video.currentTime;
      page.nagare.framesRendered++;
      onFrame(null);
    }
  });
}

export const sleep = ms => new Promise(r => setTimeout(r, ms));
