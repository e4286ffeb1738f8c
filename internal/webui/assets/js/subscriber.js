// subscriber.js: the proxy-subscriber page. view=rtc plays the stream with WHEP through the manager
// (POST /<app>/<stream>/whep, 307 to an edge or origin); view=hls plays /<app>/<stream>/index.m3u8 (302 to an
// edge) with the embedded hls.js in low-latency mode, or natively where MediaSource is missing (Safari on
// iPhone). Subscribe.Start is shown on the first rendered frame; a stream that is not live yet is retried.
import {Page, backoff, countFrames, describe, exchange, hangUp, readConfig, retryable, sleep} from './common.js';
import hlsLive from './hls-live.js';
import guardLiveRate from './hls-guard.js';

const cfg = readConfig('subscriber');
const page = new Page(cfg);
const video = document.getElementById('video');
const unmute = document.getElementById('unmute');
const stopButton = document.getElementById('stop');
const playButton = document.getElementById('play');

// how long a stream that played may show no new frame before the page reconnects (through the manager,
// which may pick another edge)
const STALL_MS = 10000;
// how long a WHEP session may stay disconnected before the page reconnects
const DISCONNECTED_MS = 4000;

let run = 0;
let session = null; // the current WHEP session {pc, resource, end} or HLS player {hls, end}
let sessionFrames = 0; // frames rendered in the current session
let lastFrameAt = 0;

countFrames(page, video, () => {
  lastFrameAt = performance.now();
  if (sessionFrames++ === 0) page.event('Subscribe.Start', page.nagare.node || '', {state: true});
});

// Chromium plays a muted video without a gesture only: start muted and offer the sound behind a click
function showMuted() {
  unmute.textContent = video.muted ? 'Unmute' : 'Mute';
}
unmute.addEventListener('click', () => {
  video.muted = !video.muted;
  showMuted();
  if (video.paused) video.play().catch(e => page.event('Video.PlayRefused', e.message));
});
video.addEventListener('volumechange', showMuted);

function play() {
  video.play().then(() => page.event('Video.Playing'), e => {
    // NotAllowedError: autoplay refused (sound on, no gesture); AbortError: a new source replaced this one
    page.event('Video.PlayRefused', `${e.name}: ${e.message}`);
    if (e.name === 'NotAllowedError') page.fail('the browser did not start the video on its own: press Unmute or the video');
  });
}
video.addEventListener('click', () => {
  if (video.paused) play();
});

// stallWatch resolves when the session stalls: no new frame for STALL_MS after it had played.
function stallWatch(mine) {
  return new Promise(resolve => {
    const timer = setInterval(() => {
      if (session !== mine) {
        clearInterval(timer);
        resolve('replaced');
      } else if (sessionFrames > 0 && performance.now() - lastFrameAt > STALL_MS) {
        clearInterval(timer);
        resolve(`stalled: no frame for ${STALL_MS / 1000} s`);
      }
    }, 1000);
  });
}

// playRTC runs one WHEP session until it fails or stalls.
async function playRTC(myRun) {
  const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle'});
  const mine = {pc, resource: null};
  session = mine;
  page.nagare.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  const remote = new MediaStream();
  pc.addEventListener('track', e => {
    page.event('Track', `${e.track.kind} ${e.track.id}`);
    remote.addTrack(e.track);
  });
  const ended = new Promise(resolve => {
    mine.end = resolve;
    pc.addEventListener('connectionstatechange', () => {
      const st = pc.connectionState;
      page.event('PeerConnection.State', st);
      if (st === 'connected') {
        page.clearError();
        // a stream without video shows no frame: it has started once connected
        const [v] = pc.getTransceivers().filter(t => t.receiver.track.kind === 'video');
        if (!v || v.currentDirection === 'inactive') page.event('Subscribe.Start', `${page.nagare.node} (no video)`, {state: true});
      } else if (st === 'failed' || st === 'closed') {
        resolve(`the connection to ${page.nagare.node} ${st}`);
      } else if (st === 'disconnected') {
        // a node that ended the session (the stream stopped, the node drains) leaves the browser
        // disconnected; a short network hiccup comes back within seconds
        setTimeout(() => {
          if (pc.connectionState === 'disconnected') resolve(`disconnected from ${page.nagare.node} for ${DISCONNECTED_MS / 1000} s`);
        }, DISCONNECTED_MS);
      }
    });
  });
  pc.addEventListener('iceconnectionstatechange', () => page.event('ICE.State', pc.iceConnectionState));

  await pc.setLocalDescription(await pc.createOffer());
  page.event('Offer.Created', `${pc.localDescription.sdp.length} bytes`);
  const got = await exchange(page, pc, `${cfg.base}/${cfg.app}/${cfg.streamName}/whep`, cfg.token);
  if (myRun !== run || session !== mine) {
    await hangUp(page, got.resource, cfg.token);
    return null;
  }
  mine.resource = got.resource;
  page.setNode(got.node);
  page.event('Connect.Success', `${got.node}${got.resource ? ', session ' + got.resource : ''}`);
  await pc.setRemoteDescription({type: 'answer', sdp: got.answer});
  video.srcObject = remote;
  play();
  return Promise.race([ended, stallWatch(mine)]);
}

// loadHls loads the embedded hls.js once (only view=hls pays for it).
let hlsLoaded = null;
function loadHls() {
  hlsLoaded ??= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = new URL('../vendor/hls.min.js', import.meta.url).href;
    s.onload = () => resolve(window.Hls);
    s.onerror = () => reject(new Error(`could not load ${s.src}`));
    document.head.append(s);
  });
  return hlsLoaded;
}

// playHLS plays the playlist until a fatal error, the end of the stream or a stall.
async function playHLS(myRun) {
  const url = `${cfg.base}/${cfg.app}/${cfg.streamName}/index.m3u8`;
  const Hls = await loadHls();
  if (myRun !== run) return null;
  const mine = {};
  session = mine;
  const ended = new Promise(resolve => { mine.end = resolve; });
  video.addEventListener('ended', () => mine.end('ended'), {once: true});
  if (Hls && Hls.isSupported()) {
    page.event('HLS.Load', `hls.js ${Hls.version}, lowLatencyMode: ${url}`);
    const hls = new Hls(hlsLive);
    guardLiveRate(hls, Hls);
    mine.hls = hls;
    page.nagare.hls = hls;
    hls.on(Hls.Events.MANIFEST_LOADED, (_e, d) => {
      // the manager answered 302: the final URL names the edge
      const final = d.networkDetails?.responseURL || d.networkDetails?.url || d.url;
      try {
        page.setNode(new URL(final).host);
      } catch { /* keep the manager's host */ }
      page.event('HLS.ManifestLoaded', final);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
      page.event('HLS.ManifestParsed', `${d.levels.length} level(s)`);
      play();
    });
    hls.on(Hls.Events.ERROR, (_e, d) => {
      const status = d.response?.code;
      page.event('HLS.Error', `${d.fatal ? 'fatal ' : ''}${d.type}/${d.details}${status ? ' HTTP ' + status : ''}`);
      if (!d.fatal) return;
      if (d.type === Hls.ErrorTypes.MEDIA_ERROR && !mine.recovered) {
        mine.recovered = true;
        hls.recoverMediaError();
        return;
      }
      mine.end(`hls.js: ${d.details}${status ? ' (HTTP ' + status + ')' : ''}`);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    page.event('HLS.Load', `native HLS: ${url}`);
    page.setNode(`${cfg.host} (native HLS: the redirect is not visible to the page)`);
    video.addEventListener('error', () => mine.end(`native HLS: ${video.error?.message || 'media error ' + video.error?.code}`), {once: true});
    video.src = url;
    play();
  } else {
    throw new Error('this browser plays neither hls.js (no MediaSource) nor HLS natively');
  }
  return Promise.race([ended, stallWatch(mine)]);
}

async function closeSession(keepalive = false) {
  const s = session;
  session = null;
  if (!s) return;
  s.end?.('closed');
  if (s.pc) {
    // DELETE, then close (as the publisher does)
    const deleted = hangUp(page, s.resource, cfg.token, keepalive);
    if (!keepalive) await Promise.race([deleted, sleep(2000)]);
    s.pc.close();
    await deleted;
  }
  if (s.hls) s.hls.destroy();
  page.nagare.hls = null;
}

async function start() {
  const myRun = ++run;
  playButton.hidden = true;
  stopButton.hidden = false;
  page.clearError();
  for (let attempt = 0; myRun === run; attempt++) {
    sessionFrames = 0;
    let err;
    try {
      const why = cfg.view === 'hls' ? await playHLS(myRun) : await playRTC(myRun);
      if (why === null || myRun !== run) break;
      err = new Error(why);
      if (sessionFrames > 0) attempt = 0; // it had played: start the backoff afresh
    } catch (e) {
      err = e;
    }
    if (myRun !== run) break;
    await closeSession();
    video.removeAttribute('src');
    video.srcObject = null;
    if (err.message === 'ended') page.event('Subscribe.Play.Unpublish', 'the stream ended', {state: true});
    else page.event('Subscribe.Fail', describe(err, 'subscriber'), {state: true});
    if (!retryable(err, 'subscriber')) {
      page.fail(`playback failed: ${describe(err, 'subscriber')}`);
      playButton.hidden = false;
      stopButton.hidden = true;
      return;
    }
    const delay = backoff(attempt, err);
    page.fail(`${describe(err, 'subscriber')}; retrying in ${(delay / 1000).toFixed(1)} s`, {retrying: true});
    page.event('Subscribe.Retry', `in ${delay} ms`);
    await sleep(delay);
  }
}

async function stop() {
  run++;
  stopButton.hidden = true;
  playButton.hidden = false;
  await closeSession();
  video.srcObject = null;
  page.setNode(null);
  page.event('Subscribe.Stop', '', {state: true});
}

// inbound summarises the WHEP session's inbound-rtp statistics (what tests and operators check first).
async function inbound() {
  const pc = session?.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  const out = {};
  stats.forEach(r => {
    if (r.type !== 'inbound-rtp') return;
    out[r.kind] = {
      codec: stats.get(r.codecId)?.mimeType, packetsReceived: r.packetsReceived, packetsLost: r.packetsLost,
      bytesReceived: r.bytesReceived, framesDecoded: r.framesDecoded, framesDropped: r.framesDropped,
      frameWidth: r.frameWidth, frameHeight: r.frameHeight, totalSamplesReceived: r.totalSamplesReceived,
    };
  });
  return out;
}

page.nagare.start = start;
page.nagare.stop = stop;
page.nagare.inbound = inbound;
playButton.addEventListener('click', start);
stopButton.addEventListener('click', stop);
addEventListener('pagehide', () => {
  run++;
  closeSession(true);
});
showMuted();

if (cfg.problems.length > 0) {
  page.event('Config.Invalid', cfg.problems.join('; '), {state: true});
  page.fail(cfg.problems.join('\n'));
  stopButton.hidden = true;
} else {
  start();
}
