// publisher.js: the proxy-publisher page. It publishes the camera and microphone with WHIP through the
// manager (POST /<app>/<stream>/whip, 307 to an origin), shows Publish.Start once the peer connection is up,
// retries what may pass with time, and ends the session (DELETE) on Stop and when the page goes away.
import {Page, backoff, describe, exchange, hangUp, readConfig, retryable, sleep} from './common.js';

const cfg = readConfig('publisher');
const page = new Page(cfg);
const preview = document.getElementById('preview');
const startButton = document.getElementById('start');
const stopButton = document.getElementById('stop');

let media = null; // the camera and microphone, kept across retries
let session = null; // {pc, resource, end}
let run = 0; // each Start begins a run; a retry loop stops when its run is no longer the current one

// preferCodec puts the codecs of mime first in the transceiver's offer (H.264 for video: what HLS players
// and every WHEP viewer decode; Opus for audio), keeping the others after it as fallbacks.
function preferCodec(transceiver, kind, mime) {
  if (typeof transceiver.setCodecPreferences !== 'function') {
    page.event('Codec.Preference', `${kind}: setCodecPreferences not supported, the browser's order is used`);
    return;
  }
  // browsers check the list against the sender's capabilities (newer) or the receiver's (older)
  for (const caps of [RTCRtpSender.getCapabilities?.(kind), RTCRtpReceiver.getCapabilities?.(kind)]) {
    if (!caps) continue;
    const want = caps.codecs.filter(c => c.mimeType.toLowerCase() === mime);
    if (want.length === 0) {
      page.event('Codec.Preference', `${kind}: ${mime} not offered by this browser`);
      return;
    }
    // H.264: packetization-mode=1 and Constrained Baseline first, the profile everyone decodes
    const score = c => (/packetization-mode=1/.test(c.sdpFmtpLine || '') ? 0 : 2) + (/profile-level-id=42e0/.test(c.sdpFmtpLine || '') ? 0 : 1);
    want.sort((a, b) => score(a) - score(b));
    try {
      transceiver.setCodecPreferences([...want, ...caps.codecs.filter(c => !want.includes(c))]);
      page.event('Codec.Preference', `${kind}: ${mime} first`);
      return;
    } catch (e) {
      page.event('Codec.Preference', `${kind}: ${e.message}`);
    }
  }
}

async function openMedia() {
  if (media) return media;
  page.event('Media.Request', 'camera and microphone');
  media = await navigator.mediaDevices.getUserMedia({
    video: {width: {ideal: 1280}, height: {ideal: 720}, frameRate: {ideal: 30}},
    audio: true,
  });
  preview.srcObject = media;
  preview.play().catch(() => { /* muted preview: allowed; a refusal only hides the preview */ });
  page.event('Media.Ready', media.getTracks().map(t => `${t.kind}: ${t.label}`).join(', '));
  return media;
}

// publishOnce runs one WHIP session until its peer connection fails (resolves) or the run is stopped.
async function publishOnce(myRun) {
  const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle'});
  const mine = {pc, resource: null};
  session = mine;
  page.nagare.pc = pc;
  const [video] = media.getVideoTracks();
  const [audio] = media.getAudioTracks();
  // video first: the order of the m-lines in the offer
  if (video) preferCodec(pc.addTransceiver(video, {direction: 'sendonly', streams: [media]}), 'video', 'video/h264');
  if (audio) preferCodec(pc.addTransceiver(audio, {direction: 'sendonly', streams: [media]}), 'audio', 'audio/opus');

  const ended = new Promise(resolve => {
    mine.end = resolve; // pc.close() fires no event: closeSession ends the wait itself
    pc.addEventListener('connectionstatechange', () => {
      const st = pc.connectionState;
      page.event('PeerConnection.State', st);
      if (st === 'connected') {
        page.clearError();
        page.event('Publish.Start', page.nagare.node, {state: true});
      } else if (st === 'failed' || st === 'closed') {
        resolve(st);
      }
    });
  });
  pc.addEventListener('iceconnectionstatechange', () => page.event('ICE.State', pc.iceConnectionState));

  await pc.setLocalDescription(await pc.createOffer());
  page.event('Offer.Created', `${pc.localDescription.sdp.length} bytes`);
  const url = `${cfg.base}/${cfg.app}/${cfg.streamName}/whip`;
  const got = await exchange(page, pc, url, cfg.token);
  if (myRun !== run || session !== mine) {
    // stopped while the node answered: end the session it just made
    await hangUp(page, got.resource, cfg.token);
    return 'stopped';
  }
  mine.resource = got.resource;
  page.setNode(got.node);
  page.event('Connect.Success', `${got.node}${got.resource ? ', session ' + got.resource : ''}`, {state: true});
  await pc.setRemoteDescription({type: 'answer', sdp: got.answer});
  return ended;
}

async function closeSession(keepalive = false) {
  const s = session;
  session = null;
  if (!s) return;
  // DELETE, then close: closed first, the node may see the media stop and end the session by itself,
  // and the DELETE find nothing. A page going away cannot wait for the answer.
  const deleted = hangUp(page, s.resource, cfg.token, keepalive);
  if (!keepalive) await Promise.race([deleted, sleep(2000)]);
  s.pc.close();
  s.end?.('closed');
  await deleted;
}

async function start() {
  const myRun = ++run;
  startButton.hidden = true;
  stopButton.hidden = false;
  page.clearError();
  try {
    await openMedia();
  } catch (e) {
    page.event('Media.Fail', `${e.name}: ${e.message}`, {state: true});
    page.fail(`camera or microphone unavailable: ${e.name}: ${e.message}`);
    startButton.hidden = false;
    stopButton.hidden = true;
    return;
  }
  for (let attempt = 0; myRun === run; attempt++) {
    let err = null;
    try {
      const how = await publishOnce(myRun);
      if (how === 'stopped' || myRun !== run) break;
      err = new Error(`the connection to ${page.nagare.node} ${how}`);
      attempt = 0; // it had worked: start the backoff afresh
    } catch (e) {
      err = e;
    }
    if (myRun !== run) break;
    await closeSession();
    page.event('Publish.Fail', describe(err, 'publisher'), {state: true});
    if (!retryable(err, 'publisher')) {
      page.fail(`publishing failed: ${describe(err, 'publisher')}`);
      startButton.hidden = false;
      stopButton.hidden = true;
      return;
    }
    const delay = backoff(attempt, err);
    page.fail(`publishing failed: ${describe(err, 'publisher')}; retrying in ${(delay / 1000).toFixed(1)} s`, {retrying: true});
    page.event('Publish.Retry', `in ${delay} ms`);
    await sleep(delay);
  }
}

async function stop() {
  run++;
  stopButton.hidden = true;
  startButton.hidden = false;
  await closeSession();
  page.setNode(null);
  page.event('Publish.Unpublish.Success', '', {state: true});
}

page.nagare.start = start;
page.nagare.stop = stop;
startButton.addEventListener('click', start);
stopButton.addEventListener('click', stop);
// the node keeps a publication whose browser vanished until its ICE timeout: tell it now
addEventListener('pagehide', () => {
  run++;
  closeSession(true);
  media?.getTracks().forEach(t => t.stop());
});

if (cfg.problems.length > 0) {
  page.event('Config.Invalid', cfg.problems.join('; '), {state: true});
  page.fail(cfg.problems.join('\n'));
  stopButton.hidden = true;
} else {
  start();
}
