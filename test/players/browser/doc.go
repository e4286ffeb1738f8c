// Package browser plays a live nagare stream in browser players (hls.js and Shaka Player in headless
// Chromium, driven by test/players/web/run.mjs) through the stream manager and straight from a node, and
// checks what a viewer would notice: startup, decoded frames, stalls, player errors, and playlists that a
// strict parser accepts.
package browser
