// Package web tests the web face in Chromium: the operator console at /console and the public site at /,
// served by a real manager with an origin, a live stream, the VOD service and a simulated cloud (run.mjs
// drives the pages with playwright-core). With NAGARE_SCREENSHOTS=1 the run also saves the main pages to
// docs/screenshots.
package web
