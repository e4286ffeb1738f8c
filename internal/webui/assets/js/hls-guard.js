// hls-guard.js: a prompt step down for hls.js playing a low-latency live stream whose link narrows.
//
// hls.js (1.7) steps down when its bandwidth averages fall below a rendition's bit rate, or when one fragment
// (or part) alone would take longer to load than its buffer lasts. A low-latency player holds well under a
// second of media: when the link narrows below the rendition's rate, each part comes a little slower than
// real time, no single part trips the second rule, and the averages, weighted by seconds of loading and
// raised by hundreds of quick loads on the wide link, take several seconds to come down. The buffer runs out
// first (docs/abr.md measured the first stall 1.3–1.9 s after a cut, the step down 6–10 s after).
//
// guardLiveRate watches the transfer of each video part or segment, while it arrives and once it has: its
// bits over the time from its first byte to its last (or to now), so that the wait for a part a playlist's
// preload hint announced (the server holds the request until the part is complete) does not count. When a
// transfer ran below half of hls.js's estimate and too slow for the rendition it belongs to (below its bit
// rate with a margin: the link cannot carry that rendition), the guard starts hls.js's estimate again from
// that rate less the margin, switches hls.js at once to the rendition that estimate carries (dropping the
// old rendition's part, as hls.js's own emergency rule does) and holds it there for a while (`holdMs`),
// lifting the cap a rendition at a time; hls.js then climbs back with its usual averages. Transfers shorter
// than `minTransferMs` say nothing about the link (a wide link, or a body that came in one read).
//
// Plain JavaScript with no imports, so that every page runs this one file: the Vite-built console and site
// import it (hls-guard.d.ts gives its types), and scripts/web-build.sh copies it unchanged to
// internal/webui/assets/js/hls-guard.js for the older pages and the player tests.

const minTransferMs = 20;
// a link carries a rendition when it is faster than the rendition's bit rate (BANDWIDTH: video and audio) by a
// margin for the playlists and the requests' overhead: a transfer slower than its rendition's bit rate /
// `headroom` says the link cannot carry it
const headroom = 0.8;
// after the guard acted, hls.js may not load a rendition above the one it stepped down to for this long: its
// estimate, fed by small parts that arrive in a burst, climbs back within seconds on a link that did not
// widen, and every climb to a rendition the link cannot carry costs a stall
const holdMs = 8000;
// a part still arriving is judged every checkMs, once it has been arriving for minProgressMs (a shorter
// stretch of a transfer says more about how its packets bunched than about the link)
const checkMs = 50;
const minProgressMs = 100;
// the decoder works a little ahead of the playhead: media within this many seconds of it is as good as shown
const playheadMarginS = 0.25;
// media replaced under the playhead stops the video while the decoder begins again from the new keyframe
// (0.5 s measured); going on at the old rendition instead is better when it costs the buffer less than a
// part (nagare's default, 200 ms)
const maxShortfallS = 0.2;

/**
 * stepDownTo returns the index of the rendition below `level` that `bandwidth` (bit/s) carries by hls.js's
 * own rule (its BANDWIDTH within abrBandWidthFactor of it), or hls.js's lowest (minAutoLevel). hls.js's
 * nextAutoLevel is no answer here: right after a reset, with no sample, it falls back to the first
 * rendition of the multivariant playlist when none fits the estimate.
 */
function stepDownTo(hls, level, bandwidth) {
  const lowest = hls.minAutoLevel;
  for (let i = level - 1; i > lowest; i--) {
    if (hls.levels[i].bitrate <= bandwidth * hls.config.abrBandWidthFactor) return i;
  }
  return Math.min(lowest, level);
}

/**
 * guardLiveRate attaches the guard to hls (an Hls instance; HlsClass is its class, for the event names) and
 * returns a function that detaches it. onStepDown, when given, is told the estimate (bit/s) hls.js starts again
 * from, each time the guard acts.
 */
export default function guardLiveRate(hls, HlsClass, onStepDown) {
  let hold = 0; // the timer that lifts the cap
  const segment = { sn: -1, levels: new Set() }; // the renditions hls.js loaded parts of the latest segment at
  let capBefore = -1; // the page's own cap, put back when the hold ends
  // the hold ends one rendition up at a time (a climb to a rendition the link cannot carry costs less the
  // nearer it is to one it can), until the page's own cap is back
  const release = () => {
    const next = hls.autoLevelCapping + 1;
    const top = capBefore === -1 ? hls.levels.length - 1 : capBefore;
    if (next < top) {
      hls.autoLevelCapping = next;
      hold = setTimeout(release, holdMs);
      return;
    }
    hold = 0;
    hls.autoLevelCapping = capBefore;
  };
  // tooSlow returns the rate (bit/s) of a transfer of `bytes` over `ms` when it says the link cannot carry
  // the rendition `level`, and 0 otherwise
  const tooSlow = (level, bytes, ms) => {
    const rendition = hls.levels[level];
    const estimate = hls.bandwidthEstimate;
    if (!rendition || !(bytes > 0) || !(ms >= minTransferMs) || !(estimate > 0)) return 0;
    const rate = (bytes * 8 * 1000) / ms;
    return rate < estimate / 2 && rate * headroom < rendition.bitrate ? rate : 0;
  };
  // shortfall returns how long (s) the buffer would run dry if hls.js loaded the rest of frag's segment at
  // its rendition over a link whose transfers run at `rate` (bit/s): that rate less the margin, which the
  // link's other answers (the audio's parts, the playlists) take
  const shortfall = (frag, rate) => {
    const media = hls.media;
    const now = media.currentTime;
    let end = now; // of the buffered range the playhead is in
    for (let i = 0; i < media.buffered.length; i++) {
      if (media.buffered.start(i) <= now + checkMs / 1000) end = Math.max(end, media.buffered.end(i));
    }
    const rest = Math.max(0, frag.start + frag.duration - end);
    return rest * (hls.levels[frag.level].bitrate / (rate * headroom) - 1) - (end - now);
  };
  // act steps hls.js down from frag's rendition after a transfer at `rate`; `drop` stops the part of frag
  // loading now or about to
  const act = (frag, rate, drop) => {
    const abr = hls.abrController;
    const from = Math.round(rate * headroom);
    abr.resetEstimator(from);
    // The new estimator starts with hls.js's VOD half-lives, and the next live playlist load gives it the
    // live ones by re-creating its averages from their estimates, which come back divided once more by the
    // averages' start-up correction: with a single sample in them, about ten times too high (hls.js 1.7.4:
    // 230 kbit/s became 2.2 Mbit/s, and the player went straight back up). Give it the live half-lives now,
    // while it holds no sample and the re-creation changes nothing.
    abr.bwEstimator.update(hls.config.abrEwmaSlowLive, hls.config.abrEwmaFastLive);
    if (hold) {
      clearTimeout(hold);
    } else {
      capBefore = hls.autoLevelCapping;
    }
    const down = stepDownTo(hls, frag.level, from);
    hls.autoLevelCapping = down;
    hold = setTimeout(release, holdMs);
    // hls.js loads a segment's parts one after the other at one rendition and switches at the next
    // segment. Switch now, as hls.js's own emergency rule does: the rendition's playlist is loaded at once,
    // and the old rendition's part is dropped (a slow part of the old rendition costs the buffer more than
    // the small parts of the new one, which hls.js then loads from the segment's first, independent part).
    // When the playhead has reached the segment, only if going on at this rendition would cost the buffer
    // more than a part (`shortfall`): hls.js loads the segment again at the new rendition, and its media
    // replaced under the playhead stops the video until the decoder has begun again from the new keyframe
    // (a run where the guard stopped a climb one part into a segment: the buffer filled again within 0.1 s,
    // the video stood 0.5 s). Going on costs the buffer what the slow parts take beyond their media: at a
    // cut, where they come two or three times slower, more than the switch (runs that went on stalled
    // 0.5 s, and 0.29 s where an estimate without the margin said 0.12 s). Never when `down` has loaded
    // parts of this segment already (hls.js came up from it within the segment): hls.js would go on from
    // them, after parts of another rendition in the buffer, and the video would not decode until the next
    // segment (a CI run stalled 0.55 s so). Otherwise the segment ends at this rendition.
    const ahead = !hls.media || frag.start > hls.media.currentTime + playheadMarginS;
    const switchNow = ahead || shortfall(frag, rate) > maxShortfallS;
    if (down < frag.level && switchNow && !(segment.sn === frag.sn && segment.levels.has(down))) {
      hls.nextLoadLevel = down;
      drop();
    }
    if (onStepDown) onStepDown(from);
  };
  const abort = (frag) => {
    const loader = frag.loader;
    if (!loader || loader.stats.aborted || loader.stats.loading.end > 0) return;
    frag.abortRequests();
    hls.trigger(HlsClass.Events.FRAG_LOAD_EMERGENCY_ABORTED, { frag, part: null, stats: loader.stats });
  };
  // a part judged once it has all arrived; the next one is asked for right after this event, and dropped
  // (on the next turn of the event loop) before its first byte
  const onLoaded = (_event, data) => {
    const frag = data.frag;
    if (frag.type !== "main" || typeof frag.sn !== "number") return;
    if (segment.sn !== frag.sn) {
      segment.sn = frag.sn;
      segment.levels.clear();
    }
    segment.levels.add(frag.level);
    if (!hls.autoLevelEnabled) return;
    const stats = data.part ? data.part.stats : frag.stats;
    const rate = tooSlow(frag.level, stats.loaded, stats.loading.end - stats.loading.first);
    if (rate) act(frag, rate, () => setTimeout(() => abort(frag), 0));
  };
  // a part judged while it arrives, every `checkMs`: a slow segment's first part (its keyframe, the largest)
  // takes longest, and judging it only once it has arrived left too little buffer to switch on
  let loading = null; // the main fragment hls.js is loading
  const onLoading = (_event, data) => {
    if (data.frag.type === "main" && typeof data.frag.sn === "number") loading = data.frag;
  };
  const check = setInterval(() => {
    const frag = loading;
    const loader = frag && frag.loader;
    if (!loader || !hls.autoLevelEnabled) return;
    const st = loader.stats;
    const ms = performance.now() - st.loading.first;
    if (st.aborted || st.loading.end > 0 || !(st.loading.first > 0) || ms < minProgressMs) return;
    const rate = tooSlow(frag.level, st.loaded, ms);
    if (rate) act(frag, rate, () => abort(frag));
  }, checkMs);
  const detach = () => {
    clearInterval(check);
    hls.off(HlsClass.Events.FRAG_LOADING, onLoading);
    hls.off(HlsClass.Events.FRAG_LOADED, onLoaded);
    hls.off(HlsClass.Events.DESTROYING, detach);
    if (hold) {
      clearTimeout(hold);
      hold = 0;
      hls.autoLevelCapping = capBefore;
    }
  };
  hls.on(HlsClass.Events.FRAG_LOADING, onLoading);
  hls.on(HlsClass.Events.FRAG_LOADED, onLoaded);
  // pages destroy their player without a word to the guard: its timers go with it
  hls.on(HlsClass.Events.DESTROYING, detach);
  return detach;
}
