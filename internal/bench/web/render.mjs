#!/usr/bin/env node
// Time to first render of nagare's web pages, the browser side of `nagare bench web` (internal/bench/web.go
// starts the servers and runs this script). Debian's headless Chromium (never a downloaded browser), driven by
// playwright-core, loads each page --runs times, cold (a new browser context: empty cache, no connections)
// then warm (a new tab in the same context: its HTTP cache filled by the cold load), and reads the browser's
// own timings: PerformanceNavigationTiming, first-contentful-paint, and marks an init script sets when the
// page's view appears (an element with the page's data-testid), when its video element has its metadata, and
// when it has decoded its first frame (loadeddata). The bytes are counted on the wire through the DevTools
// protocol (Network.loadingFinished's encodedDataLength; for a request still running, such as the console's
// event stream, what it has received so far), so that cross-origin media without Timing-Allow-Origin counts too.
//
// node render.mjs --spec '<JSON>' [--modules .cache/players/node_modules] [--chromium /usr/bin/chromium]
//
// spec: {"base": "http://127.0.0.1:PORT", "token": "<admin token, for the console>", "runs": 5,
//        "timeoutSeconds": 20, "signIn": true,
//        "pages": [{"name": "console", "path": "/console/cluster", "view": "node-row", "session": true},
//                  {"name": "live", "path": "/live/live/web", "view": "player", "video": true}]}
// signIn adds, per run, the sign-in: /console in a new context, the token typed into the form and submitted,
// until the first node row (spec.signInView, default "node-row") is shown.
// Prints {"browser": "...", "loads": [Load...]} on stdout; a load that failed has "error".
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    spec: { type: 'string' },
    modules: { type: 'string', default: path.resolve(here, '../../../.cache/players/node_modules') },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
if (!opt.spec) {
  console.error('render.mjs: --spec is required');
  process.exit(2);
}
const spec = JSON.parse(opt.spec);
const runs = Number(spec.runs ?? 5);
const timeout = Number(spec.timeoutSeconds ?? 20) * 1000;
if (!spec.base || !Array.isArray(spec.pages) || !(runs >= 1)) {
  console.error('render.mjs: spec needs base, pages and runs ≥ 1');
  process.exit(2);
}

const require = createRequire(path.join(opt.modules, 'index.js'));
const { chromium } = require('playwright-core');

// marker runs in every document before the page's own scripts: it marks "view" when an element with the
// page's data-testid is in the document and a frame has been produced since (rAF, then a task: after the
// frame's paint), and follows the page's <video data-testid="player">.
function marker(view) {
  const mark = (name) => {
    if (performance.getEntriesByName(name, 'mark').length === 0) performance.mark(name);
  };
  const follow = (v) => {
    if (v.__benchFollowed) return;
    v.__benchFollowed = true;
    const on = (ev, name) => v.addEventListener(ev, () => mark(name), { once: true });
    on('loadedmetadata', 'player-ready');
    on('loadeddata', 'first-frame');
    on('playing', 'playing');
    if (v.readyState >= 1) mark('player-ready');
    if (v.readyState >= 2) mark('first-frame');
  };
  let seen = false;
  const check = () => {
    if (!seen && document.querySelector(`[data-testid="${view}"]`)) {
      seen = true;
      mark('view-dom');
      requestAnimationFrame(() => setTimeout(() => mark('view'), 0));
    }
    const v = document.querySelector('video[data-testid="player"]');
    if (v) follow(v);
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true });
  document.addEventListener('submit', () => mark('submit'), true);
}

// timings reads the page's own figures, in ms from the navigation's start.
function timings() {
  const nav = performance.getEntriesByType('navigation')[0];
  const at = (name) => performance.getEntriesByName(name, 'mark')[0]?.startTime ?? null;
  const fcp = performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint');
  const pos = (v) => (v > 0 ? v : null);
  return {
    ttfbMs: pos(nav?.responseStart), dclMs: pos(nav?.domContentLoadedEventEnd), loadMs: pos(nav?.loadEventEnd),
    fcpMs: fcp ? fcp.startTime : null, viewDomMs: at('view-dom'), viewMs: at('view'), playerReadyMs: at('player-ready'),
    firstFrameMs: at('first-frame'), playingMs: at('playing'), submitMs: at('submit'),
    navigationType: nav?.type ?? '',
  };
}

const mediaRe = /\.(m3u8|m4s|mp4|m4a|m4v|ts|aac)(\?|$)/i;
function isMedia(r) {
  return r.type === 'Media' || /mpegurl|^video\/|^audio\//i.test(r.mime ?? '') || mediaRe.test(r.url);
}

// wire follows a tab's requests through the DevTools protocol.
async function wire(ctx, tab) {
  const cdp = await ctx.newCDPSession(tab);
  const reqs = new Map();
  const get = (id) => {
    let r = reqs.get(id);
    if (!r) reqs.set(id, (r = { url: '', type: '', wire: 0, headers: 0, body: 0, decoded: 0, done: false, cached: false, encoding: '' }));
    return r;
  };
  cdp.on('Network.requestWillBeSent', (e) => {
    const r = get(e.requestId);
    if (e.redirectResponse) r.wire += e.redirectResponse.encodedDataLength ?? 0; // the hop: headers of the 3xx
    r.url = e.request.url;
    r.type = e.type ?? '';
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = get(e.requestId);
    const h = e.response.headers ?? {};
    r.mime = e.response.mimeType;
    r.status = e.response.status;
    r.encoding = Object.entries(h).find(([k]) => k.toLowerCase() === 'content-encoding')?.[1] ?? '';
    r.cached ||= !!(e.response.fromDiskCache || e.response.fromPrefetchCache || e.response.fromServiceWorker);
    r.headers = e.response.encodedDataLength ?? 0;
  });
  cdp.on('Network.requestServedFromCache', (e) => { get(e.requestId).cached = true; });
  cdp.on('Network.dataReceived', (e) => {
    const r = get(e.requestId);
    r.decoded += e.dataLength ?? 0;
    r.body += e.encodedDataLength ?? 0;
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = get(e.requestId);
    r.wire += e.encodedDataLength ?? 0;
    r.done = true;
  });
  await cdp.send('Network.enable');
  // snapshot adds up what was received by now, apart for the page's own requests and media
  return () => {
    const sum = () => ({ requests: 0, cached: 0, compressed: 0, wireBytes: 0, decodedBytes: 0, compressedWireBytes: 0, compressedDecodedBytes: 0 });
    const out = { page: sum(), media: sum() };
    for (const r of reqs.values()) {
      if (!r.url || r.url.startsWith('data:')) continue;
      const s = isMedia(r) ? out.media : out.page;
      // a request still running (the console's event stream, a segment on its way): its headers and the body
      // so far, which Chromium often reports on the wire only at the end: then the decoded size if uncompressed
      const w = r.done ? r.wire : r.wire + r.headers + (r.body > 0 || r.encoding ? r.body : r.decoded);
      s.requests++;
      if (r.cached) s.cached++;
      s.wireBytes += w;
      s.decodedBytes += r.decoded;
      if (r.encoding && r.encoding !== 'identity') {
        s.compressed++;
        s.compressedWireBytes += w;
        s.compressedDecodedBytes += r.decoded;
      }
    }
    return out;
  };
}

const browser = await chromium.launch({
  executablePath: opt.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});

const newContext = () => browser.newContext({ viewport: { width: 1280, height: 800 } });

// load opens page p in a new tab of ctx and waits for its view (and its first decoded frame); the tab is
// closed afterwards (the warm load is a new tab, as a visitor coming back).
async function load(ctx, p, cache, run, act) {
  const res = { page: p.name, cache, run };
  const tab = await ctx.newPage();
  const errors = [];
  tab.on('pageerror', (e) => errors.push(e.message));
  try {
    await tab.addInitScript(marker, p.view);
    const snapshot = await wire(ctx, tab);
    await tab.goto(spec.base + p.path, { waitUntil: 'commit', timeout });
    if (act) await act(tab);
    const want = p.video ? ['view', 'first-frame'] : ['view'];
    await tab.waitForFunction((names) => names.every((n) => performance.getEntriesByName(n, 'mark').length > 0), want,
      { timeout, polling: 'raf' })
      .catch(() => { throw new Error(`no ${want.join(' and ')} within ${timeout / 1000} s`); });
    res.bytes = snapshot();
    Object.assign(res, await tab.evaluate(timings));
  } catch (e) {
    res.error = e.message + (errors.length ? ` (page errors: ${errors.join('; ')})` : '');
  } finally {
    await tab.close();
  }
  return res;
}

const loads = [];
let status = 0;
try {
  for (let run = 1; run <= runs; run++) {
    for (const p of spec.pages) {
      const ctx = await newContext();
      try {
        if (p.session) {
          const r = await ctx.request.post(spec.base + '/console/api/session', { data: { token: spec.token } });
          if (!r.ok()) throw new Error(`signing in: ${r.status()} ${await r.text()}`);
        }
        loads.push(await load(ctx, p, 'cold', run));
        loads.push(await load(ctx, p, 'warm', run));
      } finally {
        await ctx.close();
      }
    }
    if (spec.signIn) {
      // the sign-in form (its own view), then the token typed and submitted: "signIn" is the submit to
      // the cluster view (spec.signInView) being shown
      const ctx = await newContext();
      try {
        const p = { name: 'console-signin', path: '/console/cluster', view: spec.signInView ?? 'node-row' };
        loads.push(await load(ctx, p, 'cold', run, async (tab) => {
          await tab.fill('[data-testid="signin-token"]', spec.token, { timeout });
          await tab.click('[data-testid="signin-submit"]', { timeout });
        }));
      } finally {
        await ctx.close();
      }
    }
  }
  process.stdout.write(JSON.stringify({ browser: `Chromium ${browser.version()}`, loads }) + '\n');
} catch (e) {
  console.error('render.mjs:', e.message);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
