// run.mjs drives the operator console (/console) and the public site (/) of a manager for the web test
// (web_test.go), in Chromium at 1280×720, one step after another:
//
//   signin     the sign-in form, a wrong token refused, the right one shows the cluster
//   live       the stream's console page plays it and its viewer count rises above 0; the site's live page
//              plays it (both before the test's group has edges: the manager would send viewers to them)
//   config     a policy form's draft kept across a session ended behind its back; minLimit > maxLimit
//              shown at its field; a policy, a launch configuration and a group created through the forms
//   launch     a node launched through the API appears live; its drain shows live, without a reload
//   autoscale  the group's chart and its scale events with their reasons; two edges registered through
//              the node API carrying 90 of their 100 connections pass the alarm: the scale-out and its
//              reason on the chart's panel
//   vod        an upload reaches ready; made public (with a title of HTML) it is on the site's home and
//              plays on its watch page; made private it is gone from both
//   restart    the manager stopped (the test's control server): the console's banner; started again on
//              the same address with the same store: the banner gone, and a drain made after the restart
//              shown live in the same document
//   huge       1,000 more nodes registered through the node API: the node table shows one page of them
//              with its pager, the filter narrows it to one node, and state changes of a node on another
//              page show once filtered to it
//   small      signed in with the keyboard only in a phone-sized tab (390×844): neither the cluster page
//              nor the site's home overflows sideways; dark mode gives the console and the site another
//              background than light
//   signout    back to the form; the old cookie is refused by the API
//
//   node run.mjs <JSON config>
//
// The config: {executablePath, nodeModules, manager, adminToken, clusterSecret, control, stream, originId,
// group, videoFile, xssTitle, minFrames, hugeNodes, screenshots}. Every page's console errors (with the
// time they were seen, ms since the epoch), uncaught errors and dialogs are recorded with the URL of the
// resource they are about; with screenshots (a directory) the main pages are saved there as PNG. One JSON
// line on stdout holds what each step saw; progress goes to stderr. A step that throws records its error
// and the ones after it still run where they can.
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
const t0 = Date.now();
const log = (...a) => console.error(`+${((Date.now() - t0) / 1000).toFixed(1)}s`, ...a);
const M = cfg.manager;
const VIEWPORT = {width: 1280, height: 720};
const PHONE = {width: 390, height: 844};
const sel = {
  nodeRow: id => `[data-testid="node-row"][data-node-id="${id}"]`,
  videoRow: id => `[data-testid="video-row"][data-video-id="${id}"]`,
  videoCard: id => `[data-testid="video-card"][data-video-id="${id}"]`,
};

// api calls the native API with the admin token (what an operator's script or `nagare ctl` does).
async function api(method, p, body, headers = {}) {
  const res = await fetch(M + p, {
    method,
    headers: {Authorization: `Bearer ${cfg.adminToken}`, 'Content-Type': 'application/json', ...headers},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return {status: res.status, json, text};
}

// nodeapi calls the node API with the cluster secret, as a node does; it throws on an answer other than 2xx.
async function nodeapi(p, body) {
  const res = await fetch(M + p, {
    method: 'POST',
    headers: {Authorization: `Bearer ${cfg.clusterSecret}`, 'Content-Type': 'application/json'},
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${p} ${body.id}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// control asks the test to stop or start the manager; it throws on an answer other than 2xx.
async function control(action) {
  const res = await fetch(`${cfg.control}/manager/${action}`, {method: 'POST'});
  if (!res.ok) throw new Error(`manager ${action}: ${res.status} ${await res.text()}`);
}

// inParallel runs fn over items, n at a time.
async function inParallel(items, n, fn) {
  let next = 0;
  await Promise.all(Array.from({length: n}, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

// withCookie calls the manager with the console's session cookie only (no admin token).
async function withCookie(method, p, cookie, headers = {}) {
  const res = await fetch(M + p, {method, headers: {Cookie: `nagare_console=${cookie}`, ...headers}});
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return {status: res.status, json};
}

const pages = [];

// track records what the browser says about a page: console errors (with the URL they are about),
// uncaught errors, dialogs (dismissed: a dialog here can only come from injected script).
function track(page, name) {
  const seen = {name, consoleErrors: [], pageErrors: [], dialogs: []};
  page.on('console', m => {
    if (m.type() === 'error' && seen.consoleErrors.length < 50) {
      seen.consoleErrors.push({text: m.text().slice(0, 500), url: m.location()?.url || '', page: page.url(), at: Date.now()});
    }
  });
  page.on('pageerror', e => seen.pageErrors.push({text: String(e).slice(0, 500), page: page.url()}));
  page.on('dialog', d => {
    seen.dialogs.push({type: d.type(), message: d.message(), page: page.url()});
    d.dismiss().catch(() => {});
  });
  pages.push(seen);
  return page;
}

async function shot(page, name) {
  if (!cfg.screenshots) return;
  await sleep(300); // let a chart or a player draw its last frame
  await page.screenshot({path: path.join(cfg.screenshots, `${name}.png`)});
  log(`screenshot ${name}.png`);
}

// frames reads the decoded frames of the video matched by selector (0 without one).
const frames = (page, selector) => page.evaluate(s => {
  const v = document.querySelector(s);
  return v && typeof v.getVideoPlaybackQuality === 'function' ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
}, selector);

// waitFrames waits until the video has decoded more than cfg.minFrames frames; it answers the count.
async function waitFrames(page, selector, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let n = 0;
  while (Date.now() < end) {
    n = await frames(page, selector);
    if (n > cfg.minFrames) break;
    await sleep(250);
  }
  return n;
}

// widths is what decides a sideways overflow: the document's scroll width against the window's.
const widths = page => page.evaluate(() => ({
  scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  // the widest box that scrolls inside itself (a table's), for the log
  innerScroller: Math.max(0, ...[...document.querySelectorAll('*')]
    .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
    .map(e => e.scrollWidth)),
}));

const bodyBackground = page => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

const imgX = page => page.evaluate(() => document.querySelectorAll('img[src="x"]').length);

// inApp follows the console's own link to a page (no reload: the session and the watch stream go on).
async function inApp(page, href) {
  await page.evaluate(h => {
    history.pushState(null, '', h);
    dispatchEvent(new PopStateEvent('popstate'));
  }, href);
}

async function signIn(page, token) {
  await page.getByTestId('signin-token').fill(token);
  await page.getByTestId('signin-submit').click();
}

const out = {steps: {}};
const step = async (name, fn) => {
  if (cfg.only && !cfg.only.includes(name)) return;
  const s = (out.steps[name] = {});
  const start = Date.now();
  log(`step ${name}`);
  try {
    await fn(s);
  } catch (e) {
    s.error = String(e.stack || e).slice(0, 2000);
    log(`step ${name} failed: ${s.error}`);
    // what the pages showed, for the test log
    for (const [n, p] of [['console', con], ['site', site]]) {
      const body = await p.evaluate(() => document.body?.innerText || '').catch(x => String(x));
      log(`${n} at ${p.url()}: ${body.replace(/\s+/g, ' ').slice(0, 600)}`);
    }
  }
  s.ms = Date.now() - start;
};

const browser = await chromium.launch({
  executablePath: cfg.executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    // the publish step's camera and microphone: Chromium's test pattern, granted without asking
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
});
out.browser = browser.version();
const consoleCtx = await browser.newContext({viewport: VIEWPORT});
const siteCtx = await browser.newContext({viewport: VIEWPORT}); // a visitor: no session
const con = track(await consoleCtx.newPage(), 'console');
const site = track(await siteCtx.newPage(), 'site');
try {
  log(`chromium ${out.browser}`);
  con.setDefaultTimeout(15_000);
  site.setDefaultTimeout(15_000);
  let cookie = '';

  await step('signin', async s => {
    await con.goto(`${M}/console`);
    await con.getByTestId('signin-form').waitFor();
    s.formShown = true;
    await shot(con, 'console-signin');
    await signIn(con, 'not-the-admin-token-0123456789');
    s.wrongTokenError = (await con.getByTestId('signin-error').textContent()).trim();
    await signIn(con, cfg.adminToken);
    await con.locator('section.cluster').waitFor();
    s.clusterShown = true;
    s.url = con.url();
    cookie = (await consoleCtx.cookies()).find(c => c.name === 'nagare_console')?.value || '';
    s.cookieSet = cookie !== '';
  });

  await step('live', async s => {
    await inApp(con, '/console/streams');
    const row = con.locator(`[data-testid="stream-row"][data-stream="${cfg.stream}"]`);
    await row.waitFor();
    await shot(con, 'console-streams');
    await row.getByTestId('play-stream').click();
    await con.waitForURL(`**/console/streams/${cfg.stream}`);
    s.frames = await waitFrames(con, '[data-testid="player"]', 30_000);
    // the node reports its viewers every report interval; the manager's picture goes out every second
    const vc = con.getByTestId('viewer-count');
    for (const end = Date.now() + 15_000; Date.now() < end; await sleep(250)) {
      s.viewerCount = (await vc.textContent()).trim();
      if (Number(s.viewerCount) > 0) break;
    }
    s.framesDecodedShown = (await con.getByTestId('frames-decoded').textContent()).trim();
    await shot(con, 'console-stream');
    // the same stream over WebRTC: WHEP through the manager (a 307 to the origin)
    await con.getByTestId('play-webrtc').click();
    s.webrtcFrames = await waitFrames(con, '[data-testid="player"]', 30_000);
    s.webrtcEngine = (await con.locator('.readouts dd').last().textContent()).trim();
    await con.getByTestId('play-hls-live').click();
  });

  await step('sitelive', async s => {
    await site.goto(`${M}/live/${cfg.stream}`);
    s.frames = await waitFrames(site, '[data-testid="player"]', 30_000);
    await shot(site, 'site-live');
    await site.goto('about:blank'); // its player would retry at an edge of the test's group, never in service
  });

  await step('publish', async s => {
    await inApp(con, '/console/publish');
    await con.getByTestId('publish-form').waitFor();
    s.shown = true;
    await shot(con, 'console-publish');
    // the camera over WHIP to live/webcam, live on the manager; Stop ends it and it stays ended
    await con.getByTestId('publish-stream').fill('live/webcam');
    await con.getByTestId('publish-start').click();
    await con.getByTestId('publish-stop').waitFor({timeout: 20_000});
    const live = async () => ((await api('GET', '/api/v1/streams')).json ?? []).some(x => x.name === 'live/webcam');
    for (const end = Date.now() + 15_000; Date.now() < end && !(s.live = await live()); await sleep(250));
    await con.getByTestId('publish-stop').click();
    await con.getByTestId('publish-start').waitFor();
    await sleep(3000); // a stray second publication would be live by then
    s.status = (await con.getByTestId('publish-status').textContent()).trim();
    s.liveAfterStop = await live();
  });

  await step('config', async s => {
    await inApp(con, '/console/config');
    await con.getByTestId('new-policy').click();
    const form = con.getByTestId('policy-form');
    await form.locator('input[name="name"]').fill('kept-draft');
    await form.locator('input[name="description"]').fill('typed before the session ended');

    // the session ends behind the page's back (as an expiry or a sign-out in another tab would): the next
    // call answers 401, the console shows its sign-in form and, signed in again, the form as it was
    const sess = await withCookie('GET', '/console/api/session', cookie);
    const revoked = await withCookie('DELETE', '/console/api/session', cookie, {'X-CSRF-Token': sess.json?.csrf || ''});
    s.revokeStatus = revoked.status;
    await form.getByTestId('form-submit').click();
    await con.getByTestId('signin-form').waitFor();
    s.expiredToForm = true;
    s.expiredReason = (await con.locator('[data-testid="signin-form"] .note').textContent().catch(() => '')).trim();
    await signIn(con, cfg.adminToken);
    await form.waitFor();
    s.draftName = await form.locator('input[name="name"]').inputValue();
    s.draftDescription = await form.locator('input[name="description"]').inputValue();
    cookie = (await consoleCtx.cookies()).find(c => c.name === 'nagare_console')?.value || '';

    // minLimit above maxLimit: the API's message at the field
    await form.locator('input[name="name"]').fill('web-policy');
    await form.locator('input[name="targets[0].minLimit"]').fill('5');
    await form.locator('input[name="targets[0].maxLimit"]').fill('2');
    await form.getByTestId('form-submit').click();
    const fe = form.locator('[data-testid="field-error"][data-field="targets[0].minLimit"]');
    await fe.waitFor();
    s.fieldError = (await fe.textContent()).trim();
    s.fieldInvalid = await form.locator('input[name="targets[0].minLimit"]').getAttribute('aria-invalid');
    s.fieldErrors = await form.locator('[data-testid="field-error"]').evaluateAll(els => els.map(e => e.dataset.field));

    // corrected: edge 1–4 (room for the autoscale step's two edges, the minimum's node and a scale-out), a
    // warm-up long enough that the simulated nodes (which never report) are not given up during the test
    await form.locator('input[name="targets[0].minLimit"]').fill('1');
    await form.locator('input[name="targets[0].maxLimit"]').fill('4');
    await form.locator('input[name="warmUpMs"]').fill('600000');
    await form.getByTestId('form-submit').click();
    await con.locator('[data-testid="policy-row"][data-name="web-policy"]').waitFor();
    s.policyRow = true;

    await con.getByTestId('new-launchconfig').click();
    const lc = con.getByTestId('launchconfig-form');
    await lc.locator('input[name="name"]').fill('web-lc');
    await lc.locator('input[name="image"]').fill('nagare');
    await lc.locator('select[name="targets[0].role"]').selectOption('edge');
    await lc.locator('input[name="targets[0].instanceType"]').fill('sim');
    await lc.locator('input[name="targets[0].connectionCapacity"]').fill('100');
    await lc.getByTestId('form-submit').click();
    await con.locator('[data-testid="launchconfig-row"][data-name="web-lc"]').waitFor();
    s.launchConfigRow = true;

    await con.getByTestId('new-group').click();
    const g = con.getByTestId('group-form');
    await g.locator('input[name="name"]').fill(cfg.group);
    await g.locator('input[name="regions"]').fill('local');
    await g.locator('select[name="launchConfig"]').selectOption('web-lc');
    await g.locator('select[name="scalePolicy"]').selectOption('web-policy');
    await g.getByTestId('form-submit').click();
    await con.locator(`[data-testid="group-row"][data-name="${cfg.group}"]`).waitFor();
    s.groupRow = true;
    await con.evaluate(() => window.scrollTo(0, 0));
    await shot(con, 'console-config');
  });

  await step('launch', async s => {
    await inApp(con, '/console/cluster');
    await con.locator('section.cluster').waitFor();
    await con.evaluate(() => { window.__sameDocument = true; });
    const res = await api('POST', `/api/v1/nodegroups/${cfg.group}/nodes/edge`);
    const launchedAt = Date.now();
    s.launchStatus = res.status;
    s.nodeId = res.json?.id || '';
    if (!s.nodeId) throw new Error(`launch: ${res.status} ${res.text}`);
    await con.locator(sel.nodeRow(s.nodeId)).waitFor({timeout: 10_000});
    s.appearedMs = Date.now() - launchedAt;
    s.stateShown = await con.locator(sel.nodeRow(s.nodeId)).getAttribute('data-state');

    // the simulated instance runs at the autoscaler's next look; then it can be drained
    for (const end = Date.now() + 15_000; Date.now() < end; await sleep(100)) {
      const n = await api('GET', `/api/v1/nodes/${s.nodeId}`);
      s.stateBeforeDrain = n.json?.state;
      if (s.stateBeforeDrain === 'running' || s.stateBeforeDrain === 'inservice') break;
    }
    const dr = await api('POST', `/api/v1/nodes/${s.nodeId}/drain`);
    const drainedAt = Date.now();
    s.drainStatus = dr.status;
    if (dr.status !== 200) s.drainAnswer = dr.text;
    await con.locator(`${sel.nodeRow(s.nodeId)}[data-state="draining"]`).waitFor({timeout: 10_000});
    s.drainShownMs = Date.now() - drainedAt;
    s.sameDocument = await con.evaluate(() => window.__sameDocument === true);
  });

  await step('autoscale', async s => {
    const group = con.locator(`[data-testid="group"][data-group="${cfg.group}"]`);
    const chartSel = `[data-testid="autoscale-chart"][data-group="${cfg.group}"][data-role="edge"]`;
    const chart = group.locator(chartSel);
    await chart.waitFor();
    s.chart = true;
    s.canvases = await chart.locator('canvas').count();

    // two edges of the group (as nodes register: the node API with the cluster secret), each carrying 90 of
    // the 100 connections its launch configuration gives it, the group's only edges in service: its edge
    // load is 90 %, past the alarm (60 %), and the autoscaler scales out. Two, so that the warm-up of the
    // launches before (the minimum's, the launch step's: up to 2 nodes expected) is over once they are in.
    s.hotNodes = ['web-edge-hot1', 'web-edge-hot2'];
    for (const id of s.hotNodes) {
      await nodeapi('/nodeapi/v1/register', {id, role: 'edge', version: 'web-test', group: cfg.group,
        region: 'local', addresses: {http: '127.0.0.1:1'}});
    }
    for (const id of s.hotNodes) {
      await nodeapi('/nodeapi/v1/report', {id, stats: {connections: 90, subscribers: 90}, streams: []});
    }
    const panel = group.locator('figure.autoscale', {has: con.locator(chartSel)}); // the chart's panel
    const out = panel.locator('[data-testid="scale-event"][data-action="scale-out"]');
    await out.first().waitFor();
    s.scaleOutReason = (await out.first().locator('.ev-reason').textContent()).trim();
    const caption = panel.locator('figcaption');
    await caption.filter({hasText: '90.0 % now'}).waitFor(); // the sample of the load that scaled out
    s.caption = (await caption.textContent()).replace(/\s+/g, ' ').trim();

    const ev = group.locator('[data-testid="scale-event"]');
    s.events = await ev.evaluateAll(els => els.map(e => ({
      action: e.dataset.action, reason: e.querySelector('.ev-reason')?.textContent || '',
    })));
    await con.evaluate(() => window.scrollTo(0, 0));
    await shot(con, 'console-cluster');
  });

  await step('node', async s => {
    await inApp(con, `/console/nodes/${encodeURIComponent(cfg.originId)}`);
    await con.locator('h1', {hasText: cfg.originId}).waitFor();
    s.shown = true;
    await shot(con, 'console-node');
  });

  await step('vod', async s => {
    await inApp(con, '/console/vod');
    await con.getByTestId('vod-title').fill('A test card');
    const uploadStart = Date.now();
    await con.getByTestId('vod-file').setInputFiles(cfg.videoFile);
    const row = con.locator('[data-testid="video-row"]').first();
    await row.waitFor({timeout: 30_000});
    s.id = await row.getAttribute('data-video-id');
    await con.locator(`${sel.videoRow(s.id)}[data-status="ready"]`).waitFor({timeout: 90_000});
    s.readyMs = Date.now() - uploadStart;
    log(`video ${s.id} ready after ${s.readyMs} ms`);

    // public: on the site's home, and it plays on its watch page
    await editVideo(con, s.id, {title: 'Test card', visibility: 'public'});
    await con.locator(sel.videoRow(s.id), {hasText: 'public'}).waitFor();
    await shot(con, 'console-vod');
    await site.goto(`${M}/`);
    const card = site.locator(sel.videoCard(s.id));
    await card.waitFor();
    s.homeLive = await site.locator(`[data-testid="live-item"][data-stream="${cfg.stream}"]`).count();
    await shot(site, 'site-home');
    await card.click();
    await site.waitForURL(`**/watch/${s.id}`);
    await site.getByRole('button', {name: 'Play', exact: true}).click(); // a video waits for its viewer
    s.watchFrames = await waitFrames(site, '[data-testid="player"]', 30_000);
    await shot(site, 'site-watch');

    // a title that is HTML is text everywhere
    await editVideo(con, s.id, {title: cfg.xssTitle});
    await con.locator(`${sel.videoRow(s.id)} .video-title`, {hasText: cfg.xssTitle}).waitFor();
    s.consoleTitle = await con.locator(`${sel.videoRow(s.id)} .video-title`).textContent();
    s.consoleImgX = await imgX(con);
    await site.goto(`${M}/`);
    await site.locator(sel.videoCard(s.id), {hasText: cfg.xssTitle}).waitFor();
    s.homeCardText = await site.locator(sel.videoCard(s.id)).textContent();
    s.homeImgX = await imgX(site);
    await site.goto(`${M}/watch/${s.id}`);
    await site.locator('h1.watch-title').waitFor();
    s.watchTitle = await site.locator('h1.watch-title').textContent();
    s.watchImgX = await imgX(site);

    // private: gone from the home page, and its watch page is "not found"
    await editVideo(con, s.id, {visibility: 'private'});
    await con.locator(sel.videoRow(s.id), {hasText: 'private'}).waitFor();
    const listed = site.waitForResponse(r => new URL(r.url()).pathname === '/site/api/videos');
    await site.goto(`${M}/`);
    s.privateListStatus = (await listed).status();
    await site.locator(`[data-testid="live-item"][data-stream="${cfg.stream}"]`).waitFor();
    await sleep(500); // the list rendered
    s.privateCards = await site.locator(sel.videoCard(s.id)).count();
    s.homeCards = await site.locator('[data-testid="video-card"]').count();
    await site.goto(`${M}/watch/${s.id}`);
    await site.getByTestId('not-found').first().waitFor();
    s.privateNotFound = true;
  });

  await step('restart', async s => {
    await inApp(con, '/console/cluster');
    const hot = con.locator(sel.nodeRow('web-edge-hot1'));
    await hot.waitFor();
    await con.evaluate(() => { window.__sameDocument = true; });
    s.bannerBefore = await con.getByTestId('conn-banner').count();

    s.stoppedAt = Date.now();
    await control('stop');
    // the manager is gone for every client, not only for the page
    s.apiRefused = await fetch(`${M}/api/v1/nodes`).then(r => `answered ${r.status}`, e => String(e.cause?.code || e));
    await con.getByTestId('conn-banner').waitFor({timeout: 5_000});
    s.bannerShown = true;
    s.bannerText = (await con.getByTestId('conn-banner').textContent()).trim();

    await control('start');
    s.startedAt = Date.now();
    await con.getByTestId('conn-banner').waitFor({state: 'detached', timeout: 15_000});
    s.bannerGone = true;

    // a change the restarted manager made shows live: the page's stream is the new manager's
    s.stateBeforeDrain = await hot.getAttribute('data-state');
    const dr = await api('POST', '/api/v1/nodes/web-edge-hot1/drain');
    s.drainStatus = dr.status;
    if (dr.status !== 200) s.drainAnswer = dr.text;
    await con.locator(`${sel.nodeRow('web-edge-hot1')}[data-state="draining"]`).waitFor({timeout: 10_000});
    s.drainShown = true;
    s.sameDocument = await con.evaluate(() => window.__sameDocument === true);
  });

  await step('huge', async s => {
    await inApp(con, '/console/cluster');
    await con.locator('section.cluster').waitFor();
    const before = (await api('GET', '/api/v1/nodes')).json?.length ?? 0;
    // cheap nodes: registered and reported once each, ungrouped edges (the test's group and its autoscaler
    // are left alone)
    const ids = Array.from({length: cfg.hugeNodes}, (_, i) => `huge-${String(i).padStart(4, '0')}`);
    await inParallel(ids, 16, async id => {
      const i = Number(id.slice(5));
      await nodeapi('/nodeapi/v1/register', {id, role: 'edge', version: 'web-test', region: 'far',
        addresses: {http: `10.9.${i >> 8}.${i & 255}:8080`}});
      await nodeapi('/nodeapi/v1/report', {id, stats: {connections: i % 50, subscribers: i % 50}, streams: []});
    });
    s.registered = ids.length;
    log(`${ids.length} nodes registered`);

    const rows = con.locator('[data-testid="node-row"]');
    const rowIds = () => rows.evaluateAll(els => els.map(e => e.dataset.nodeId));
    // every node in the picture (the table counts them: "<shown> of <all>"), sorted by group then id: the
    // ungrouped huge-* first
    const counter = con.locator('section.nodes .toolbar [aria-live]');
    const counted = async () => Number((await counter.textContent()).match(/of (\d+)/)?.[1] ?? 0);
    for (const end = Date.now() + 15_000; await counted() < before + ids.length; await sleep(100)) {
      if (Date.now() > end) throw new Error(`the table counts ${await counter.textContent()}, not ${before + ids.length} nodes`);
    }
    [s.counter, s.pagerText] = await con.evaluate(() => [
      document.querySelector('section.nodes .toolbar [aria-live]').textContent.trim(),
      document.querySelector('nav.pager [aria-live]')?.textContent.trim() ?? '',
    ]);
    s.page1 = await rowIds();
    const prev = con.getByTestId('page-prev');
    const next = con.getByTestId('page-next');
    s.page1Prev = await prev.isEnabled();
    s.page1Next = await next.isEnabled();
    await next.click();
    await con.locator(sel.nodeRow('huge-0050')).waitFor();
    s.page2 = await rowIds();
    s.page2Prev = await prev.isEnabled();

    // a node of another page changes while page 2 shows; filtered to, it shows its new state
    s.offPage = 'huge-0777';
    s.offPageDrain = (await api('POST', `/api/v1/nodes/${s.offPage}/drain`)).status;
    const filter = con.getByTestId('node-filter');
    await filter.fill(s.offPage);
    await con.locator(`${sel.nodeRow(s.offPage)}[data-state="draining"]`).waitFor();
    s.offPageRows = await rowIds();
    s.offPageState = await con.locator(sel.nodeRow(s.offPage)).getAttribute('data-state');

    // filtered to a node of another page, its change shows live
    s.live = 'huge-0500';
    await filter.fill(s.live);
    await con.locator(sel.nodeRow(s.live)).waitFor();
    s.liveRows = await rowIds();
    s.liveBefore = await con.locator(sel.nodeRow(s.live)).getAttribute('data-state');
    s.liveDrain = (await api('POST', `/api/v1/nodes/${s.live}/drain`)).status;
    await con.locator(`${sel.nodeRow(s.live)}[data-state="draining"]`).waitFor();
    s.liveAfter = await con.locator(sel.nodeRow(s.live)).getAttribute('data-state');

    await filter.fill('');
    await con.locator(sel.nodeRow('huge-0000')).waitFor();
    s.unfilteredRows = await rows.count();
  });

  await step('small', async s => {
    // a phone-sized tab, signed in with the keyboard only
    const phoneCtx = await browser.newContext({viewport: PHONE});
    const phone = track(await phoneCtx.newPage(), 'phone');
    phone.setDefaultTimeout(15_000);
    try {
      await phone.goto(`${M}/console`);
      await phone.getByTestId('signin-form').waitFor();
      const tokenFocused = () => phone.evaluate(() => document.activeElement?.dataset?.testid === 'signin-token');
      s.tokenFocusedOnLoad = await tokenFocused();
      for (s.tabs = 0; s.tabs < 20 && !(await tokenFocused()); s.tabs++) await phone.keyboard.press('Tab');
      s.tokenFocused = await tokenFocused();
      await phone.keyboard.type(cfg.adminToken);
      await phone.keyboard.press('Enter');
      await phone.locator('section.cluster').waitFor();
      s.keyboardSignedIn = true;

      // at 390 px: the page does not scroll sideways (a table may, inside its own box)
      await phone.locator(sel.nodeRow('huge-0000')).waitFor();
      await phone.locator('[data-testid="autoscale-chart"] canvas').first().waitFor();
      s.consoleWidths = await widths(phone);
      await phone.goto(`${M}/`);
      await phone.locator(`[data-testid="live-item"][data-stream="${cfg.stream}"]`).waitFor();
      s.siteWidths = await widths(phone);
      await shot(phone, 'site-home-phone');

      // dark mode: another background than light
      s.siteLight = await bodyBackground(phone);
      await phone.emulateMedia({colorScheme: 'dark'});
      s.siteDark = await bodyBackground(phone);
    } finally {
      await phoneCtx.close().catch(() => {});
    }
    await inApp(con, '/console/cluster');
    await con.locator('[data-testid="autoscale-chart"] canvas').first().waitFor();
    s.consoleLight = await bodyBackground(con);
    await con.emulateMedia({colorScheme: 'dark'});
    s.consoleDark = await bodyBackground(con);
    await con.evaluate(() => window.scrollTo(0, 0));
    await shot(con, 'console-cluster-dark');
    await con.emulateMedia({colorScheme: 'light'});
  });

  await step('signout', async s => {
    await con.getByTestId('signout').click();
    await con.getByTestId('signin-form').waitFor();
    s.formShown = true;
    s.cookieCleared = !(await consoleCtx.cookies()).some(c => c.name === 'nagare_console' && c.value);
    s.oldCookieStatus = (await withCookie('GET', '/api/v1/nodes', cookie)).status;
    const sess = await withCookie('GET', '/console/api/session', cookie);
    s.oldCookieSession = {status: sess.status, signedIn: sess.json?.signedIn ?? null, reason: sess.json?.reason ?? ''};
  });
} catch (e) {
  out.driverError = String(e.stack || e);
} finally {
  out.pages = pages;
  await consoleCtx.close().catch(() => {});
  await siteCtx.close().catch(() => {});
  await browser.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

// editVideo opens a video's edit form in the console's library and saves the given fields.
async function editVideo(page, id, fields) {
  await page.locator(sel.videoRow(id)).getByTestId('edit-video').click();
  const form = page.getByTestId('video-form');
  await form.waitFor();
  if (fields.title !== undefined) await form.locator('input[name="title"]').fill(fields.title);
  if (fields.visibility !== undefined) await form.locator('select[name="visibility"]').selectOption(fields.visibility);
  await form.getByTestId('form-submit').click();
  await form.waitFor({state: 'detached'});
}
