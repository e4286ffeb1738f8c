#!/usr/bin/env node
// Glass-to-glass latency of hls.js LL-HLS, the player side of `nagare bench glass` (internal/bench/glass.go
// publishes a stream whose frames carry their capture time and runs this script). Opens glass.html in
// Debian's headless Chromium (never a downloaded browser) as if it were served by the origin itself, so the
// stream is same-origin; waits for the first decoded frame, lets the player settle for --warmup seconds,
// samples for --duration seconds, and prints the page's result as JSON on stdout ({"sessions": [...]}, one
// result per player started: --sessions players one after the other, since where hls.js settles depends
// on how its start went).
//
// node glass.mjs --url http://127.0.0.1:8080/live/glass/index.m3u8 --code 32,32,16,21 \
//   [--config '{"maxLiveSyncPlaybackRate":1.5}'] [--modules .cache/players/node_modules] [--chromium /usr/bin/chromium] [--warmup 5] [--duration 30] [--sessions 1] [--trace]
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    code: { type: 'string' },
    config: { type: 'string', default: '{}' },
    modules: { type: 'string', default: path.resolve(here, '../../../.cache/players/node_modules') },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    warmup: { type: 'string', default: '5' },
    duration: { type: 'string', default: '30' },
    'first-frame-timeout': { type: 'string', default: '20' },
    sessions: { type: 'string', default: '1' }, // players started one after the other, each sampled
    trace: { type: 'boolean', default: false }, // the player's state every 500 ms on stderr
  },
});
if (!opt.url || !opt.code || !(Number(opt.sessions) >= 1)) {
  console.error('glass.mjs: --url and --code are required, --sessions at least 1');
  process.exit(2);
}
const seconds = (name) => {
  const v = Number(opt[name]);
  if (!(v >= 0)) {
    console.error(`glass.mjs: --${name}: not a number of seconds: ${opt[name]}`);
    process.exit(2);
  }
  return v * 1000;
};
const [warmup, duration, firstFrameTimeout] = [seconds('warmup'), seconds('duration'), seconds('first-frame-timeout')];

const require = createRequire(path.join(opt.modules, 'index.js'));
const { chromium } = require('playwright-core');
const files = {
  'glass.html': { body: await readFile(path.join(here, 'glass.html')), type: 'text/html' },
  'glass-stamp.mjs': { body: await readFile(path.join(here, 'glass-stamp.mjs')), type: 'text/javascript' },
  'hls.min.js': { body: await readFile(path.join(opt.modules, 'hls.js/dist/hls.min.js')), type: 'text/javascript' },
};

const stream = new URL(opt.url);
const page = new URL(`/__glass/glass.html?${new URLSearchParams({ src: stream.pathname + stream.search, code: opt.code, config: opt.config })}`, stream);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: opt.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});

// session plays the stream in a new page: first decoded frame, warm-up, then the sampling window.
async function session(n) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const tab = await ctx.newPage();
    tab.on('console', (m) => { if (m.type() === 'error') console.error(`page ${n}:`, m.text()); });
    tab.on('pageerror', (e) => console.error(`page ${n} error:`, e.message));
    await tab.route((u) => u.pathname.startsWith('/__glass/'), (route) => {
      const f = files[new URL(route.request().url()).pathname.slice('/__glass/'.length)];
      return f ? route.fulfill({ status: 200, contentType: f.type, body: f.body }) : route.fulfill({ status: 404 });
    });
    await tab.goto(page.href);
    if (!await tab.evaluate(() => Hls.isSupported())) {
      throw new Error('hls.js is not supported in this Chromium (no MSE or no H.264)');
    }
    await tab.waitForFunction(() => window.glass.firstFrameAt > 0, null, { timeout: firstFrameTimeout, polling: 100 })
      .catch(async () => {
        const errs = await tab.evaluate(() => window.glass.errors.map((e) => `${e.details}: ${e.message}`).join('; '));
        throw new Error(`no frame decoded within ${firstFrameTimeout / 1000} s (player errors: ${errs || 'none'})`);
      });
    const trace = opt.trace && setInterval(() => tab.evaluate(() => window.glass.state()).then(
      (st) => console.error(`trace ${n}:`, JSON.stringify(st)), () => {}), 500);
    try {
      await sleep(warmup);
      await tab.evaluate(() => window.glass.mark());
      await sleep(duration);
    } finally {
      if (trace) clearInterval(trace);
    }
    return await tab.evaluate(() => window.glass.result());
  } finally {
    await ctx.close();
  }
}

let status = 0;
try {
  const sessions = [];
  for (let n = 1; n <= Number(opt.sessions); n++) sessions.push(await session(n));
  process.stdout.write(JSON.stringify({ sessions }) + '\n');
} catch (e) {
  console.error('glass.mjs:', e.message);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
