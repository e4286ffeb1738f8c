// run.mjs drives the manager's publisher and subscriber pages for the pages test (pages_test.go) and for
// test/e2e's walk-through in a browser (browser_test.go).
//
//   node run.mjs <JSON config>
//
// The config: {executablePath, nodeModules, manager, app, stream, token, startupTimeoutMs, playMs,
// reconnectTimeoutMs, subscribeOnly, scenario}. With subscribeOnly, the stream is published by someone else
// (RTMP) and only the WHEP subscriber runs. With scenario "walkthrough" (test/e2e's browser test), two WHEP
// subscribers play through an autoscaling group: see walkthrough below. Otherwise the publisher page
// publishes Chromium's fake camera and microphone; a WHEP subscriber and an hls.js subscriber play it, each
// in a browser context of its own; then the publisher stops and starts again while the WHEP subscriber
// waits for the stream to come back. Every page is read through window.nagare. One JSON line on stdout
// holds what each page showed; progress goes to stderr.
import {createRequire} from 'node:module';
import path from 'node:path';

const [configJSON] = process.argv.slice(2);
if (!configJSON) {
  console.error('usage: node run.mjs <JSON config>');
  process.exit(2);
}
const cfg = JSON.parse(configJSON);
const require = createRequire(path.join(cfg.nodeModules, '..', 'resolve.cjs'));
const {chromium} = require('playwright-core');

const sleep = ms => new Promise(r => setTimeout(r, ms));
const log = (...a) => console.error(new Date().toISOString(), ...a);

// open loads a page in a browser context of its own and collects what the browser says about it; prepare,
// if given, gets the context before the page loads (to route its requests).
async function open(browser, name, query, prepare) {
  const context = await browser.newContext();
  if (prepare) await prepare(context);
  const page = await context.newPage();
  const seen = {name, consoleErrors: [], requestsFailed: [], responses: []};
  page.on('console', m => {
    if (m.type() === 'error' && seen.consoleErrors.length < 20) seen.consoleErrors.push(m.text().slice(0, 500));
  });
  page.on('pageerror', e => seen.consoleErrors.push('pageerror: ' + String(e).slice(0, 500)));
  page.on('requestfailed', r => {
    if (seen.requestsFailed.length < 20) seen.requestsFailed.push({url: r.url(), method: r.method(), error: r.failure()?.errorText});
  });
  page.on('response', r => {
    if (r.request().resourceType() === 'fetch' && seen.responses.length < 50) seen.responses.push({method: r.request().method(), url: r.url(), status: r.status()});
  });
  const url = `${cfg.manager}/${cfg.app}/proxy-${name.split('-')[0]}.html?${new URLSearchParams({streamName: cfg.stream, verbose: '1', ...query})}`;
  log(`${name}: ${url.replace(/token=[^&]+/, 'token=…')}`);
  const res = await page.goto(url);
  seen.pageStatus = res.status();
  seen.csp = res.headers()['content-security-policy'] || null;
  return {context, page, seen};
}

const snapshot = p => p.page.evaluate(async () => {
  const n = window.nagare;
  if (!n) return {missing: true};
  return {
    state: n.state, node: n.node, error: n.error, framesRendered: n.framesRendered, events: n.events,
    connectionState: n.pc ? n.pc.connectionState : null,
    segments: n.hls?.latestLevelDetails?.fragments.filter(f => f.duration > 0).length ?? null,
    inbound: n.inbound ? await n.inbound() : null,
  };
});

// waitFor polls window.nagare until pred holds or timeoutMs passes; it returns the last snapshot.
async function waitFor(p, pred, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let s;
  for (;;) {
    s = await snapshot(p);
    if (pred(s) || Date.now() > end) return s;
    await sleep(200);
  }
}

// play measures frames rendered over playMs from the first frame on.
async function play(p) {
  const t0 = Date.now();
  const first = await waitFor(p, s => s.state === 'Subscribe.Start', cfg.startupTimeoutMs);
  const startupMs = first.state === 'Subscribe.Start' ? Date.now() - t0 : null;
  await sleep(cfg.playMs);
  const last = await snapshot(p);
  return {startupMs, framesAtStart: first.framesRendered, ...last};
}

// walkthrough is step 3.15 of the walk-through with the autoscaler (extra config: scaleOutTimeoutMs): the
// publisher, then subscriber 1, which lands on edge 1 (capacity 1); then subscriber 2, which arrives once
// the manager has no room left, is refused (503) while the autoscaler launches edge 2, and retries until it
// plays there; then both play for playMs.
async function walkthrough(browser, out, pages) {
  const pub = await open(browser, 'publisher', {token: cfg.token});
  pages.push(pub);
  out.publisher = await waitFor(pub, s => s.state === 'Publish.Start' || (s.error && !/retrying/.test(s.error)), cfg.startupTimeoutMs);
  log(`publisher: ${out.publisher.state} at ${out.publisher.node} ${out.publisher.error || ''}`);
  if (out.publisher.state !== 'Publish.Start') return;

  // The manager has no room for a viewer from edge 1's report of subscriber 1 until edge 2 is in service:
  // with the process controller, from a third of a second to a second. Subscriber 2's page is loaded first,
  // its first offer held until the manager's route for a viewer is a 503: sent earlier, it could go to
  // edge 1 as well; sent later, it could find edge 2 already in service.
  let release;
  const gate = new Promise(r => { release = r; });
  const rtc2 = await open(browser, 'subscriber-rtc2', {}, context =>
    context.route(`${cfg.manager}/${cfg.app}/${cfg.stream}/whep`, async route => {
      if (route.request().method() === 'POST') await gate;
      await route.continue();
    }));
  pages.push(rtc2);
  const refused = (async () => {
    const url = `${cfg.manager}/api/v1/route/play/${cfg.app}/${cfg.stream}`;
    for (const end = Date.now() + cfg.startupTimeoutMs; Date.now() < end; await sleep(20)) {
      try {
        const res = await fetch(url);
        await res.arrayBuffer();
        if (res.status === 503) return {retryAfter: res.headers.get('Retry-After')};
      } catch { /* the next poll */ }
    }
    return null;
  })();
  refused.then(release);
  const rtc1 = await open(browser, 'subscriber-rtc1', {});
  pages.push(rtc1);
  out.routeRefused = await refused;
  log(`the manager's route for a viewer: ${JSON.stringify(out.routeRefused || null)}; subscriber 2's offer goes`);

  const playing = s => s.state === 'Subscribe.Start' && s.framesRendered > 0;
  out.rtc1 = await waitFor(rtc1, playing, cfg.startupTimeoutMs);
  log(`rtc1: ${out.rtc1.state} at ${out.rtc1.node}, ${out.rtc1.framesRendered} frames`);
  if (!out.routeRefused || !playing(out.rtc1)) return;

  const t0 = Date.now();
  out.rtc2 = await waitFor(rtc2, playing, cfg.scaleOutTimeoutMs);
  out.rtc2.startupMs = playing(out.rtc2) ? Date.now() - t0 : null;
  log(`rtc2: ${out.rtc2.state} at ${out.rtc2.node} after ${out.rtc2.startupMs} ms, ${out.rtc2.framesRendered} frames`);
  if (!playing(out.rtc2)) return;

  const [at1, at2] = await Promise.all([snapshot(rtc1), snapshot(rtc2)]);
  await sleep(cfg.playMs);
  [out.rtc1, out.rtc2] = await Promise.all([snapshot(rtc1), snapshot(rtc2)]);
  out.rtc1.framesAtStart = at1.framesRendered;
  out.rtc2.framesAtStart = at2.framesRendered;
  log(`after ${cfg.playMs} ms: rtc1 ${at1.framesRendered} → ${out.rtc1.framesRendered} frames, rtc2 ${at2.framesRendered} → ${out.rtc2.framesRendered}`);
}

const browser = await chromium.launch({
  executablePath: cfg.executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    // the node's media port is on 127.0.0.1, which Chromium leaves out of ICE unless told
    '--allow-loopback-in-peer-connection'],
});
const out = {browser: browser.version()};
const pages = [];
try {
  log(`chromium ${out.browser}`);
  if (cfg.scenario === 'walkthrough') {
    await walkthrough(browser, out, pages);
  } else if (cfg.subscribeOnly) {
    const rtc = await open(browser, 'subscriber-rtc', {});
    pages.push(rtc);
    out.rtc = await play(rtc);
    log(`rtc: ${out.rtc.state}, ${out.rtc.framesRendered} frames`);
  } else {
    const pub = await open(browser, 'publisher', cfg.token ? {token: cfg.token} : {});
    pages.push(pub);
    const t0 = Date.now();
    out.publisher = await waitFor(pub, s => s.state === 'Publish.Start' || (s.error && !/retrying/.test(s.error)), cfg.startupTimeoutMs);
    out.publisher.startupMs = out.publisher.state === 'Publish.Start' ? Date.now() - t0 : null;
    log(`publisher: ${out.publisher.state} at ${out.publisher.node} ${out.publisher.error || ''}`);

    if (out.publisher.state === 'Publish.Start') {
      const rtc = await open(browser, 'subscriber-rtc', {});
      const hls = await open(browser, 'subscriber-hls', {view: 'hls'});
      pages.push(rtc, hls);
      [out.rtc, out.hls] = await Promise.all([play(rtc), play(hls)]);
      log(`rtc: ${out.rtc.state}, ${out.rtc.framesRendered} frames; hls: ${out.hls.state}, ${out.hls.framesRendered} frames`);

      // the publisher leaves (Stop: DELETE), the WHEP viewer finds the stream gone and retries; the
      // publisher comes back and the viewer plays again on its own
      await pub.page.evaluate(() => window.nagare.stop());
      out.stopped = await snapshot(pub);
      out.rtcGone = await waitFor(rtc, s => s.events.some(e => e.type === 'Subscribe.Fail'), cfg.reconnectTimeoutMs);
      log(`rtc after the publisher stopped: ${out.rtcGone.state} ${out.rtcGone.error || ''}`);
      await pub.page.evaluate(() => { window.nagare.start(); });
      out.republished = await waitFor(pub, s => s.state === 'Publish.Start', cfg.startupTimeoutMs);
      out.rtcBack = await waitFor(rtc, s => s.events.filter(e => e.type === 'Subscribe.Start').length >= 2, cfg.reconnectTimeoutMs);
      log(`rtc after the publisher came back: ${out.rtcBack.state}`);
    }
  }
} catch (e) {
  out.driverError = String(e.stack || e);
} finally {
  out.pages = pages.map(p => p.seen);
  for (const p of pages) await p.context.close().catch(() => {});
  await browser.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}
