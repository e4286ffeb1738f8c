#!/usr/bin/env node
// Glass-to-glass latency over WebRTC, the browser side of `nagare bench webrtc-glass`
// (internal/bench/webrtc_glass.go runs this script). Opens webrtc-glass.html in Debian's headless Chromium
// (never a downloaded browser) as if it were served by the node at --page (so that WHEP there is
// same-origin; the node answers other origins' WHIP and WHEP too). With --whip the page publishes a canvas
// whose frames carry the time they were drawn and plays --whep, on one clock; without it, it plays --whep,
// whose frames the bench stamped with the Unix time. Waits for the first decoded frame, lets the player
// settle for --warmup seconds, samples for --duration seconds, and prints the page's result as JSON on
// stdout.
//
// node webrtc-glass.mjs --page http://127.0.0.1:8081 --whep http://127.0.0.1:8081/live/g/whep \
//   [--whip http://127.0.0.1:8080/live/g/whip [--token T]] --code 32,32,16,21 [--size 1280x720] [--fps 30] \
//   [--modules .cache/players/node_modules] [--chromium /usr/bin/chromium] [--warmup 3] [--duration 20] [--trace]
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    page: { type: 'string' },
    whep: { type: 'string' },
    whip: { type: 'string' },
    token: { type: 'string' },
    code: { type: 'string' },
    size: { type: 'string', default: '1280x720' },
    fps: { type: 'string', default: '30' },
    modules: { type: 'string', default: path.resolve(here, '../../../.cache/players/node_modules') },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    warmup: { type: 'string', default: '3' },
    duration: { type: 'string', default: '20' },
    'first-frame-timeout': { type: 'string', default: '30' },
    trace: { type: 'boolean', default: false }, // the page's state every 500 ms on stderr
  },
});
if (!opt.page || !opt.whep || !opt.code) {
  console.error('webrtc-glass.mjs: --page, --whep and --code are required');
  process.exit(2);
}
const seconds = (name) => {
  const v = Number(opt[name]);
  if (!(v >= 0)) {
    console.error(`webrtc-glass.mjs: --${name}: not a number of seconds: ${opt[name]}`);
    process.exit(2);
  }
  return v * 1000;
};
const [warmup, duration, firstFrameTimeout] = [seconds('warmup'), seconds('duration'), seconds('first-frame-timeout')];

const require = createRequire(path.join(opt.modules, 'index.js'));
const { chromium } = require('playwright-core');
const files = {};
for (const f of ['webrtc-glass.html', 'glass-stamp.mjs']) {
  files[f] = { body: await readFile(path.join(here, f)), type: f.endsWith('.html') ? 'text/html' : 'text/javascript' };
}
const query = { whep: opt.whep, code: opt.code, size: opt.size, fps: opt.fps };
if (opt.whip) query.whip = opt.whip;
if (opt.token) query.token = opt.token;
const page = new URL(`/__webrtc-glass/webrtc-glass.html?${new URLSearchParams(query)}`, opt.page);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: opt.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    // the nodes' media ports are on 127.0.0.1, which Chromium leaves out of ICE unless told; and its own
    // candidates as addresses rather than mDNS names, which the nodes do not resolve; and the page (routed,
    // so of no address space Chromium knows) may fetch from the other node on loopback
    '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns,LocalNetworkAccessChecks'],
});

let status = 0;
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const tab = await ctx.newPage();
  tab.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
  tab.on('pageerror', (e) => console.error('page error:', e.message));
  await tab.route((u) => u.pathname.startsWith('/__webrtc-glass/'), (route) => {
    const f = files[new URL(route.request().url()).pathname.slice('/__webrtc-glass/'.length)];
    return f ? route.fulfill({ status: 200, contentType: f.type, body: f.body }) : route.fulfill({ status: 404 });
  });
  await tab.goto(page.href);
  const trace = opt.trace && setInterval(() => tab.evaluate(() => window.wglass.state()).then(
    (st) => console.error('trace:', JSON.stringify(st)), () => {}), 500);
  try {
    await tab.waitForFunction(() => window.wglass.firstFrameAt > 0 || window.wglass.phase === 'failed', null,
      { timeout: firstFrameTimeout, polling: 100 }).catch(() => {});
    const st = await tab.evaluate(() => window.wglass.state());
    if (st.phase === 'failed' || !(await tab.evaluate(() => window.wglass.firstFrameAt > 0))) {
      throw new Error(`no frame decoded within ${firstFrameTimeout / 1000} s: ${JSON.stringify(st)}`);
    }
    await sleep(warmup);
    await tab.evaluate(() => window.wglass.mark());
    await sleep(duration);
  } finally {
    if (trace) clearInterval(trace);
  }
  const result = await tab.evaluate(() => window.wglass.result());
  process.stdout.write(JSON.stringify({ browser: browser.version(), ...result }) + '\n');
  await ctx.close();
} catch (e) {
  console.error('webrtc-glass.mjs:', e.message);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
