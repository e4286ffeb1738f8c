// run.mjs drives the operator console (/console) and the public site (/) of a manager for the web test
// (web_test.go), in Chromium at 1280×720, one step after another:
//
//   signin     the sign-in form, a wrong token refused, the right one shows the cluster
//   live       the stream's console page plays it and its viewer count rises above 0; the site's live page
//              plays it (both before the test's group has edges: the manager would send viewers to them)
//   config     a policy form's draft kept across a session ended behind its back; minLimit > maxLimit
//              shown at its field; a policy, a launch configuration and a group created through the forms
//   launch     a node launched through the API appears live; its drain shows live, without a reload
//   autoscale  the group's chart and its scale events with their reasons
//   vod        an upload reaches ready; made public (with a title of HTML) it is on the site's home and
//              plays on its watch page; made private it is gone from both
//   signout    back to the form; the old cookie is refused by the API
//
//   node run.mjs <JSON config>
//
// The config: {executablePath, nodeModules, manager, adminToken, stream, originId, group, videoFile,
// xssTitle, minFrames, screenshots}. Every page's console errors, uncaught errors and dialogs are
// recorded with the URL of the resource they are about; with screenshots (a directory) the main pages are
// saved there as PNG. One JSON line on stdout holds what each step saw; progress goes to stderr. A step
// that throws records its error and the ones after it still run where they can.
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
      seen.consoleErrors.push({text: m.text().slice(0, 500), url: m.location()?.url || '', page: page.url()});
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
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
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

    // corrected: edge 1–3, a warm-up long enough that the simulated nodes (which never report) are not
    // given up during the test
    await form.locator('input[name="targets[0].minLimit"]').fill('1');
    await form.locator('input[name="targets[0].maxLimit"]').fill('3');
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
    const chart = group.locator('[data-testid="autoscale-chart"][data-role="edge"]');
    await chart.waitFor();
    s.chart = true;
    s.canvases = await chart.locator('canvas').count();
    const ev = group.locator('[data-testid="scale-event"]');
    await ev.first().waitFor();
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
