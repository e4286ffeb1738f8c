package webui

import (
	"fmt"
	"net/http"
	"strings"
)

// The console and the public site are single-page applications built by Vite from web/ into assets/app:
// an HTML entry each (console.html, site.html) and content-hashed scripts and styles under
// assets/app/assets, served at /webui/app/assets/... for a year. The entries are served at every path
// their router knows, so that a reload or a shared link opens the right view.

// appAssets is where the hashed files of the console and the site are served.
const appAssets = Prefix + "app/assets/"

// Options says which of the applications are served.
type Options struct {
	// Site serves the public site at /, /watch/<id>, /live/<app>/<stream> and /embed/...
	Site bool
}

// appCSP is the policy of the console and the site: only nagare's own scripts and styles (no inline code,
// no eval), no plugins, no forms posted elsewhere. Media and the requests players make may go to any
// HTTP(S) host: the manager sends players to edges (and content steering moves them between edges while a
// page is open) and the VOD service may have an origin of its own, so their hosts cannot be listed when
// the page is served.
const appCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; " +
	"connect-src 'self' http: https:; media-src 'self' blob: http: https:; worker-src 'self' blob:; " +
	"font-src 'self'; base-uri 'none'; form-action 'self'"

// appPage is one entry served at several paths.
type appPage struct {
	file           string // under assets/app
	frameAncestors string
	permissions    string
}

var (
	consolePage = appPage{file: "console.html", frameAncestors: "'none'", permissions: "camera=(self), microphone=(self), display-capture=(self)"}
	sitePage    = appPage{file: "site.html", frameAncestors: "'self'", permissions: "camera=(), microphone=()"}
	// embedPage is the site's player alone, for other sites' iframes
	embedPage = appPage{file: "site.html", frameAncestors: "*", permissions: "camera=(), microphone=()"}
)

// appRoute says which application serves path, if any.
func appRoute(path string, o Options) (appPage, bool) {
	if path == "/console" || (strings.HasPrefix(path, "/console/") && !strings.HasPrefix(path, "/console/api/")) {
		return consolePage, true
	}
	if !o.Site {
		return appPage{}, false
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case path == "/":
		return sitePage, true
	case len(segs) == 2 && segs[0] == "watch" && validID(segs[1]):
		return sitePage, true
	case len(segs) == 3 && segs[0] == "live" && ValidName(segs[1]) && ValidName(segs[2]):
		// never /live/<stream>/index.m3u8 (the viewer entry): "index.m3u8" is no stream name
		return sitePage, true
	case len(segs) == 3 && segs[0] == "embed" && segs[1] == "watch" && validID(segs[2]):
		return embedPage, true
	case len(segs) == 4 && segs[0] == "embed" && segs[1] == "live" && ValidName(segs[2]) && ValidName(segs[3]):
		return embedPage, true
	}
	return appPage{}, false
}

// validID: a video id as the VOD service makes them ([A-Za-z0-9_-], at most 64).
func validID(s string) bool { return len(s) <= 64 && ValidName(s) }

// loadApp adds the built applications to u: the hashed assets, and the entries rendered for each page kind.
func (u *ui) loadApp() {
	u.appPages = map[appPage]*file{}
	for _, pg := range []appPage{consolePage, sitePage, embedPage} {
		body, err := assets.ReadFile("assets/app/" + pg.file)
		if err != nil {
			panic(fmt.Sprintf("webui: %s is not built (scripts/web-build.sh): %v", pg.file, err))
		}
		f, err := newFile(pg.file, body)
		if err != nil {
			panic(err)
		}
		f.header = http.Header{
			"Content-Security-Policy": {appCSP + "; frame-ancestors " + pg.frameAncestors},
			"Permissions-Policy":      {pg.permissions},
			"Referrer-Policy":         {"same-origin"},
			"X-Frame-Options":         xfo(pg.frameAncestors),
		}
		u.appPages[pg] = f
	}
}

// xfo is the X-Frame-Options of older browsers that ignore frame-ancestors.
func xfo(frameAncestors string) []string {
	switch frameAncestors {
	case "'none'":
		return []string{"DENY"}
	case "'self'":
		return []string{"SAMEORIGIN"}
	}
	return nil
}
