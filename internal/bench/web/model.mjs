#!/usr/bin/env node
// hls.js as a new viewer plays a live stream, the browser side of `nagare bench model`
// (internal/bench/model.go starts a node, publishes, and runs this script next to the load generator's
// virtual player). Debian's headless Chromium (never a downloaded browser), driven by playwright-core,
// serves model.html as if it came from the stream's own origin (same-origin, as the site's player is).
//
// node model.mjs --url http://127.0.0.1:8080/live/model/index.m3u8 [--modules .cache/players/node_modules]
//   [--chromium /usr/bin/chromium] [--first-frame-timeout 20]
//
// Reads one session a line on stdin, {"warmup": <s>, "duration": <s>}, and opens a page in a new browser
// context (no cache, no connections: a new viewer); once the page is ready it prints {"ready": true} and
// reads the time to join, {"at": <Unix ms at which the page calls hls.loadSource>}; then it prints one JSON
// line: the page's result (model.html), or {"error": "..."} (also instead of "ready"). The latency samples
// are those of the duration after the warm-up from the first frame. Ends at the end of its input.
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    modules: { type: 'string', default: path.resolve(here, '../../../.cache/players/node_modules') },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'first-frame-timeout': { type: 'string', default: '20' },
  },
});
const firstFrameTimeout = Number(opt['first-frame-timeout']) * 1000;
if (!opt.url || !(firstFrameTimeout > 0)) {
  console.error('model.mjs: --url is required, --first-frame-timeout must be a positive number of seconds');
  process.exit(2);
}

const require = createRequire(path.join(opt.modules, 'index.js'));
const { chromium } = require('playwright-core');
const files = {
  'model.html': { body: await readFile(path.join(here, 'model.html')), type: 'text/html' },
  'hls.min.js': { body: await readFile(path.join(opt.modules, 'hls.js/dist/hls.min.js')), type: 'text/javascript' },
};
const stream = new URL(opt.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: opt.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
// next is the next command, or null at the end of the input.
async function next() {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) return null;
    if (value.trim()) return JSON.parse(value);
  }
}
const print = (v) => process.stdout.write(JSON.stringify({ browser: browser.version(), ...v }) + '\n');

// session opens the page, says it is ready, joins when told: first frame, warm-up, then the sampling window.
async function session(n, cmd) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const tab = await ctx.newPage();
    tab.on('console', (m) => { if (m.type() === 'error') console.error(`page ${n}:`, m.text()); });
    tab.on('pageerror', (e) => console.error(`page ${n} error:`, e.message));
    await tab.route((u) => u.pathname.startsWith('/__model/'), (route) => {
      const f = files[new URL(route.request().url()).pathname.slice('/__model/'.length)];
      return f ? route.fulfill({ status: 200, contentType: f.type, body: f.body }) : route.fulfill({ status: 404 });
    });
    const page = new URL(`/__model/model.html?${new URLSearchParams({ src: stream.pathname + stream.search })}`, stream);
    await tab.goto(page.href);
    if (!await tab.evaluate(() => Hls.isSupported())) {
      throw new Error('hls.js is not supported in this Chromium (no MSE or no H.264)');
    }
    print({ ready: true });
    const join = await next();
    if (!join || !(join.at > 0)) throw new Error('no time to join given');
    await tab.evaluate((at) => window.model.start(at), join.at);
    const limit = Math.max(0, join.at - Date.now()) + firstFrameTimeout;
    await tab.waitForFunction(() => window.model.firstFrameAt > 0, null, { timeout: limit, polling: 50 })
      .catch(async () => {
        const errs = await tab.evaluate(() => window.model.errors.map((e) => `${e.details}: ${e.message}`).join('; '));
        throw new Error(`no frame within ${firstFrameTimeout / 1000} s (player errors: ${errs || 'none'})`);
      });
    await sleep(cmd.warmup * 1000);
    await tab.evaluate(() => window.model.mark());
    await sleep(cmd.duration * 1000);
    return await tab.evaluate(() => window.model.result());
  } finally {
    await ctx.close();
  }
}

try {
  for (let n = 1, cmd; (cmd = await next()) !== null; n++) {
    try {
      print(await session(n, cmd));
    } catch (e) {
      print({ error: e.message });
    }
  }
} finally {
  await browser.close();
}
