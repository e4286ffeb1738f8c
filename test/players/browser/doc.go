// Package browser plays nagare in browser players (hls.js and Shaka Player in headless Chromium, driven by
// test/players/web/run.mjs): a live stream through the stream manager and straight from a node, and a
// video on demand's adaptive ladder from the VOD service; it checks what a viewer would notice: startup,
// decoded frames, stalls, player errors, and playlists that a strict parser accepts.
package browser
