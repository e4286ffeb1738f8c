// Package webui serves the browser pages of the stream manager — Red5's proxy-publisher and proxy-subscriber
// pages under /{app}/ — and their scripts, styles and vendored hls.js under /webui/, all embedded in the
// binary.
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/httpenc"
)

// assets holds the pages (pages/), our own scripts and styles (js/, css/), and the third-party code that
// scripts/web-build.sh copies from web/package-lock.json (vendor/).
//
//go:embed assets
var assets embed.FS

// Prefix is where the scripts, styles and vendored libraries are served.
const Prefix = "/webui/"

// versionPrefix starts the path segment of the content-versioned asset URLs the pages use:
// /webui/v-<hash>/js/publisher.js. Under it an asset never changes, so browsers keep it for a year.
const versionPrefix = "v-"

// pageCSP allows only our own scripts and styles (no inline code), fetches to any manager or node (the
// WHIP/WHEP endpoint and the HLS origin may be another host, and redirects reach the nodes), media from
// MediaSource blobs (hls.js) and from any node (Safari's native HLS), and hls.js's blob worker.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' http: https:; media-src 'self' blob: http: https:; worker-src 'self' blob:; " +
	"base-uri 'none'; form-action 'none'"

// page is one of the pages the manager serves under every app.
type page struct {
	name string
	// frameAncestors: a page that turns on the camera must not be framed by another site (a framed page
	// could trick the operator into publishing); a player may be embedded anywhere.
	frameAncestors string
	// permissions is the Permissions-Policy: only the publisher may ask for the camera and microphone.
	permissions string
}

var pages = []page{
	{name: "proxy-publisher.html", frameAncestors: "'self'", permissions: "camera=(self), microphone=(self)"},
	{name: "proxy-subscriber.html", frameAncestors: "*", permissions: "camera=(), microphone=()"},
}

// file is an embedded file ready to serve.
type file struct {
	body  []byte
	ctype string
	etag  string
	// header holds what a page adds to the common headers (CSP, framing, permissions)
	header http.Header
	// gz is the body gzipped once at start, for clients that accept it (nil: not worth it)
	gz []byte
}

// ui is the rendered set of pages and assets.
type ui struct {
	version string           // hash of every asset, the v-<version> path segment
	pages   map[string]*file // by page name
	assets  map[string]*file // by path under /webui/, e.g. js/publisher.js
	// appPages are the entries of the console and the site (app.go)
	appPages map[appPage]*file
}

// contentTypes are set by extension here rather than by the machine's MIME tables, which differ between
// systems (a .js served as text/plain is refused as a module script).
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8", // licences
}

// Handler serves GET and HEAD of the pages (/{app}/proxy-publisher.html, /{app}/proxy-subscriber.html) and
// the assets (/webui/...); any other request is answered 404 or 405.
func Handler() http.Handler {
	return Mount(nil, Options{})
}

// Mount serves the pages and assets as Handler does, the console (/console/...) and, with o.Site, the
// public site, and hands every other request to next (the manager's API, whose catch-all "/" route would
// otherwise conflict in one ServeMux with /{app}/<page> patterns).
func Mount(next http.Handler, o Options) http.Handler {
	u := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, immutable, ok := u.lookup(r.URL.Path)
		if !ok {
			var pg appPage
			if pg, ok = appRoute(r.URL.Path, o); ok {
				f = u.appPages[pg]
			}
		}
		if !ok {
			if next != nil {
				next.ServeHTTP(w, r)
				return
			}
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if next != nil {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		u.serve(w, r, f, immutable)
	})
}

// lookup finds the file of a path; immutable says the path carries the current content version.
func (u *ui) lookup(p string) (f *file, immutable, ok bool) {
	if rest, isAsset := strings.CutPrefix(p, Prefix); isAsset {
		if v, inVersion, found := strings.Cut(rest, "/"); found && strings.HasPrefix(v, versionPrefix) {
			// an older or newer version (a page from another manager of a rolling upgrade) gets the current
			// content, but not for keeps
			immutable = v == versionPrefix+u.version
			rest = inVersion
		}
		f, ok = u.assets[rest]
		// the console's and the site's files carry their content's hash in their names
		immutable = immutable || strings.HasPrefix(p, appAssets)
		return f, immutable, ok
	}
	app, name, found := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !found || !ValidName(app) {
		return nil, false, false
	}
	f, ok = u.pages[name]
	return f, false, ok
}

func (u *ui) serve(w http.ResponseWriter, r *http.Request, f *file, immutable bool) {
	h := w.Header()
	for k, v := range f.header {
		h[k] = v
	}
	h.Set("Content-Type", f.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	body, etag := f.body, f.etag
	if f.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		// the gzipped copy as a whole; a Range request gets the plain bytes it counts in
		if httpenc.AcceptsGzip(r) && r.Header.Get("Range") == "" {
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	if immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// revalidated on every use (a 304 while the binary is the same)
		h.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers If-None-Match with 304, HEAD without a body, and Range
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// ValidName reports whether s is a valid app or stream name: [A-Za-z0-9_-]{1,128}.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// load reads the embedded files once per handler and renders the pages with the versioned asset base.
// The embedded tree is part of the binary, so a failure here is a build mistake: it panics.
func load() *ui {
	u := &ui{pages: map[string]*file{}, assets: map[string]*file{}}
	var names []string
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "assets/")
		if strings.HasPrefix(rel, "pages/") || (strings.HasPrefix(rel, "app/") && path.Ext(rel) == ".html") {
			return nil // pages, served at their own paths
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := newFile(rel, body)
		if err != nil {
			return err
		}
		f.header = http.Header{"Access-Control-Allow-Origin": {"*"}}
		u.assets[rel] = f
		names = append(names, rel)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("webui: embedded assets: %v", err))
	}
	sort.Strings(names)
	all := sha256.New()
	for _, n := range names {
		fmt.Fprintf(all, "%s\x00%s\x00", n, u.assets[n].etag)
	}
	u.version = hex.EncodeToString(all.Sum(nil))[:12]
	u.loadApp()

	base := Prefix + versionPrefix + u.version
	for _, pg := range pages {
		tmpl, err := template.ParseFS(assets, "assets/pages/"+pg.name)
		if err != nil {
			panic(fmt.Sprintf("webui: page %s: %v", pg.name, err))
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, struct{ Assets string }{base}); err != nil {
			panic(fmt.Sprintf("webui: page %s: %v", pg.name, err))
		}
		f, err := newFile(pg.name, b.Bytes())
		if err != nil {
			panic(err)
		}
		f.header = http.Header{
			"Content-Security-Policy": {pageCSP + "; frame-ancestors " + pg.frameAncestors},
			"Permissions-Policy":      {pg.permissions},
			// the page's URL may carry a publish token: never send it to the nodes in a Referer
			"Referrer-Policy": {"no-referrer"},
		}
		u.pages[pg.name] = f
	}
	return u
}

func newFile(name string, body []byte) (*file, error) {
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok {
		return nil, fmt.Errorf("webui: no content type for %s", name)
	}
	sum := sha256.Sum256(body)
	f := &file{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:])[:20] + `"`}
	if compressible(ctype) && len(body) > 512 {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if b.Len() < len(body) {
			f.gz = b.Bytes()
		}
	}
	return f, nil
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || ctype == "image/svg+xml"
}

// HLSLiveConfig returns the hls.js settings the pages play live streams with (assets/js/hls-live.js, the
// JSON after its `export default`), for tests that drive hls.js as nagare's pages do.
func HLSLiveConfig() (json.RawMessage, error) {
	src, err := assets.ReadFile("assets/js/hls-live.js")
	if err != nil {
		return nil, err
	}
	_, obj, ok := strings.Cut(string(src), "export default ")
	if !ok {
		return nil, errors.New("webui: hls-live.js has no export default")
	}
	obj = strings.TrimSuffix(strings.TrimSpace(obj), ";")
	if !json.Valid([]byte(obj)) {
		return nil, errors.New("webui: hls-live.js: what follows export default is not JSON")
	}
	return json.RawMessage(obj), nil
}
