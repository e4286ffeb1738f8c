// run.mjs drives browser players against a nagare stream, live or on demand, for the player tests
// (test/players/browser).
//
//   node run.mjs <page URL> <JSON config>
//
// The config: {executablePath, nodeModules, durationMs, startupTimeoutMs, staggerMs?, traceDir?, players: [{name,
// player: "hlsjs"|"shaka", lowLatency, src, debug?, configure?, guard? (hls.js with nagare's hls-guard.js), traceLoads?, switchTo?: {afterMs, height},
// throttle?: [{afterMs, kbps}], linkURL?, until?: {height, maxMs}}]}. throttle limits the page's download rate (the
// DevTools protocol's network emulation) to kbps kbit/s from afterMs after startup on (kbps 0: no limit
// again); with linkURL, the rate of the link the player's stream comes through instead (GET
// linkURL?kbps=N: a proxy of the player tests, which shapes its answers as a narrow network would). Every player runs at once, each in a page of its own browser context (its own cookies) in one
// headless Chromium; each plays for durationMs after it starts, or until the video ends (on demand). With
// until, a player (hls.js) plays on past durationMs until it has switched to the rendition of that height
// since the last throttle step, and at most maxMs after it started.
// With commonWindow (the player matrix), every player is measured over one window instead: it opens
// settleMs after the last player has started (or given up) and lasts durationMs, so that no player's
// figures include the seconds in which the other pages of the same browser open and start their decoders
// on this machine's cores (page.mark: the report's window holds the frames, stalls and gaps within it).
// Every playlist response is parsed here, in Node, by hls-parser in strict mode, a parser independent of
// both players. One JSON line on stdout holds the results; progress goes to stderr.
import {createRequire} from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [pageURL, configJSON] = process.argv.slice(2);
if (!pageURL || !configJSON) {
  console.error('usage: node run.mjs <page URL> <JSON config>');
  process.exit(2);
}
const cfg = JSON.parse(configJSON);
// the packages live in the players cache, not beside this file
const require = createRequire(path.join(cfg.nodeModules, '..', 'resolve.cjs'));
const {chromium} = require('playwright-core');
const HLS = require('hls-parser');
HLS.setOptions({strictMode: true, silent: true});

const sleep = ms => new Promise(r => setTimeout(r, ms));

// started counts the players that have started or given up; allStarted resolves when every one has,
// settleMs later (commonWindow)
let startedCount = 0;
let allStartedResolve;
const allStarted = new Promise(r => { allStartedResolve = r; });
const playerStarted = () => {
  if (++startedCount === cfg.players.length) setTimeout(allStartedResolve, cfg.settleMs || 0);
};
const log = (...a) => console.error(new Date().toISOString(), ...a);
const isPlaylist = u => {
  try {
    return new URL(u).pathname.endsWith('.m3u8');
  } catch {
    return false;
  }
};

async function runPlayer(browser, p) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const started = Date.now();
  const at = () => Date.now() - started;
  const playlists = {responses: 0, validated: 0, invalid: [], invalidCount: 0, redirects: [], statuses: {}, noCORS: 0};
  const failed = [];
  const consoleErrors = [];
  const pending = new Set();
  const trace = [];
  const bodies = [];
  const consoleLines = [];

  // host:port → {host, firstEpochMs, lastEpochMs, requests, playlistStatuses}: where the page's requests
  // went, and how that host answered for playlists
  const hosts = {};
  page.on('request', req => {
    if (cfg.traceDir) trace.push({t: at(), e: Date.now(), ev: 'req', method: req.method(), url: req.url()});
    let host;
    try { host = new URL(req.url()).host; } catch { return; }
    const h = hosts[host] ||= {host, firstEpochMs: Date.now(), lastEpochMs: 0, requests: 0, playlistStatuses: {}};
    h.lastEpochMs = Date.now();
    h.requests++;
  });
  page.on('response', res => {
    const url = res.url();
    if (cfg.traceDir) trace.push({t: at(), e: Date.now(), ev: 'res', status: res.status(), url});
    if (!isPlaylist(url)) return;
    const status = res.status();
    playlists.responses++;
    playlists.statuses[status] = (playlists.statuses[status] || 0) + 1;
    try {
      const h = hosts[new URL(url).host];
      if (h) h.playlistStatuses[status] = (h.playlistStatuses[status] || 0) + 1;
    } catch { /* not a URL */ }
    const headers = res.headers();
    if (status >= 300 && status < 400) {
      if (playlists.redirects.length < 5) {
        playlists.redirects.push({url, status, location: headers.location,
          cors: headers['access-control-allow-origin'] || null});
      }
      return;
    }
    if (!headers['access-control-allow-origin']) playlists.noCORS++;
    if (status !== 200) return;
    const job = res.text().then(body => {
      if (cfg.traceDir) bodies.push(`### ${at()} ${url}\n${body}`);
      try {
        HLS.parse(body);
        playlists.validated++;
      } catch (e) {
        playlists.invalidCount++;
        if (playlists.invalid.length < 10) playlists.invalid.push({url, error: String(e.message || e), body: body.slice(0, 3000)});
      }
    }, () => { /* the page went away before the body arrived */ });
    pending.add(job);
    job.finally(() => pending.delete(job));
  });
  page.on('requestfailed', req => {
    if (cfg.traceDir) trace.push({t: at(), e: Date.now(), ev: 'failed', url: req.url(), error: req.failure()?.errorText});
    if (failed.length < 20) failed.push({url: req.url(), error: req.failure()?.errorText, epochMs: Date.now()});
  });
  page.on('console', msg => {
    if (cfg.traceDir) consoleLines.push(`${at()} ${msg.type()} ${msg.text()}`);
    if (msg.type() === 'error' && consoleErrors.length < 20) consoleErrors.push(msg.text().slice(0, 500));
  });
  page.on('pageerror', err => {
    if (consoleErrors.length < 20) consoleErrors.push('pageerror: ' + String(err).slice(0, 500));
  });

  let report;
  let counted = false; // this player counted in startedCount
  const throttle = [...(p.throttle || [])];
  const throttled = []; // {atMs (since startup), kbps}: when each limit was applied
  let lastStepAt = 0; // sinceMs of the last throttle step applied
  // reached reports whether the player switched to until.height since the last throttle step
  const reached = st => p.until && throttle.length === 0 &&
    (st.switches || []).some(s => s.atMs >= lastStepAt && s.height === p.until.height);
  try {
    const cdp = throttle.length && !p.linkURL ? await context.newCDPSession(page) : null;
    if (cdp) await cdp.send('Network.enable');
    await page.goto(pageURL);
    // not awaited: play resolves only once the player has loaded the stream, which is what is measured
    page.evaluate(c => { window.play(c); }, p).catch(() => {});
    let windowOpen = false; // commonWindow: every player has started, settleMs ago
    allStarted.then(() => { windowOpen = true; });
    let windowFrom = null; // commonWindow: when this player's window opened (sinceMs)
    for (;;) {
      await sleep(throttle.length ? 100 : 500);
      const st = await page.evaluate(() => window.state());
      if (!counted && (st.startupMs !== null || st.fatal || st.sinceMs > cfg.startupTimeoutMs)) {
        counted = true;
        playerStarted();
      }
      if (cfg.commonWindow && windowOpen && windowFrom === null && st.startupMs !== null) {
        windowFrom = await page.evaluate(() => window.mark());
        log(`${p.name}: window opens at ${windowFrom} ms`);
      }
      while (throttle.length && st.startupMs !== null && st.sinceMs - st.startupMs >= throttle[0].afterMs) {
        const step = throttle.shift();
        if (p.linkURL) {
          const res = await fetch(`${p.linkURL}?kbps=${step.kbps}`);
          if (!res.ok) throw new Error(`setting the link's rate: ${res.status}`);
        } else {
          await cdp.send('Network.emulateNetworkConditions', {offline: false, latency: 0, uploadThroughput: -1,
            downloadThroughput: step.kbps > 0 ? step.kbps * 1000 / 8 : -1});
        }
        throttled.push({atMs: st.sinceMs - st.startupMs, kbps: step.kbps});
        lastStepAt = st.sinceMs;
        log(`${p.name}: download limit ${step.kbps > 0 ? step.kbps + ' kbit/s' : 'lifted'}`);
      }
      if (st.fatal) {
        await sleep(1000); // let the player report what follows
        break;
      }
      if (st.startupMs === null && st.sinceMs > cfg.startupTimeoutMs) break;
      if (cfg.commonWindow) {
        if (windowFrom !== null && st.sinceMs - windowFrom >= cfg.durationMs) break;
      } else if (st.startupMs !== null && st.sinceMs - st.startupMs >= cfg.durationMs) {
        if (!p.until || reached(st)) break;
        if (st.sinceMs - st.startupMs >= p.until.maxMs) {
          log(`${p.name}: no switch to ${p.until.height}p within ${p.until.maxMs} ms`);
          break;
        }
      }
      if (st.ended) break;
    }
    report = await page.evaluate(() => window.report());
  } catch (e) {
    report = {errors: [{fatal: true, type: 'driver', details: 'exception', message: String(e)}]};
  }
  if (!counted) playerStarted(); // an exception: the others do not wait for it
  await Promise.allSettled([...pending]);
  await context.close();
  if (cfg.traceDir) {
    const file = p.name.replace(/\W+/g, '_');
    fs.mkdirSync(cfg.traceDir, {recursive: true});
    fs.writeFileSync(path.join(cfg.traceDir, file + '.requests.jsonl'), trace.map(x => JSON.stringify(x)).join('\n') + '\n');
    fs.writeFileSync(path.join(cfg.traceDir, file + '.playlists.txt'), bodies.join('\n'));
    fs.writeFileSync(path.join(cfg.traceDir, file + '.console.txt'), consoleLines.join('\n') + '\n');
  }
  log(`${p.name}: done`);
  return {name: p.name, src: p.src, ...report, throttled, playlists, requestsFailed: failed, consoleErrors,
    hosts: Object.values(hosts)};
}

const browser = await chromium.launch({
  executablePath: cfg.executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
let results;
try {
  log(`chromium ${browser.version()}: ${cfg.players.length} players for ${cfg.durationMs} ms each`);
  // players start one after another, staggerMs apart: seven pages opening and starting their decoders in
  // the same instant saturate this machine's two cores for seconds (the server and the publisher share them)
  results = await Promise.all(cfg.players.map((p, i) => sleep(i * (cfg.staggerMs || 0)).then(() => runPlayer(browser, p))));
} finally {
  const version = browser.version();
  await browser.close();
  const line = JSON.stringify({browser: version, players: results || []});
  if (cfg.traceDir) fs.writeFileSync(path.join(cfg.traceDir, 'results.json'), line + '\n');
  process.stdout.write(line + '\n');
}
