// Package pages drives the manager's publisher and subscriber pages (internal/webui) in Debian's headless
// Chromium with a fake camera, through run.mjs: the Red5 walk-through's last step, publishing with WHIP and
// playing with WHEP and hls.js, each request sent to the manager and redirected to the node it picks.
package pages
