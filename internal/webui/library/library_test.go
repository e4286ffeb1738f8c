package library_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/vodtest"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
	"github.com/nagare-video/nagare/internal/webui/library"
)

const (
	mib         = 1 << 20
	consoleAuth = "Bearer console-token"
	csrf        = "csrf-0123"
	xssTitle    = `<img src=x onerror=alert(1)>`
)

var shareSecret = []byte("share-secret-0123456789")

// consoleAuthorizer stands in for the manager's: a bearer token, and X-CSRF-Token on requests that change
// something.
var consoleAuthorizer = library.AuthorizerFunc(func(w http.ResponseWriter, r *http.Request) bool {
	deny := func(code int, msg string) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return false
	}
	if r.Header.Get("Authorization") != consoleAuth {
		return deny(http.StatusUnauthorized, "sign in")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if r.Header.Get("X-CSRF-Token") != csrf {
			return deny(http.StatusForbidden, "missing X-CSRF-Token")
		}
	}
	return true
})

// rig is a real VOD service with the console's and the site's handlers in front of it, mounted as the
// manager mounts them.
type rig struct {
	vod  *vodtest.Server
	http *httptest.Server
	log  *testutil.LogBuffer
}

// start starts the rig; wrap, when given, sees each request first.
func start(t *testing.T, wrap ...func(w http.ResponseWriter, r *http.Request)) *rig {
	t.Helper()
	v := vodtest.Start(t)
	// a connection of its own, which outlives the service's stop (vodtest's closes with it)
	conn, err := grpc.NewClient(v.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	client := vodv1.NewVideoServiceClient(conn)
	logs := &testutil.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	admin := library.NewAdmin(client, vodtest.AdminToken, consoleAuthorizer, log)
	admin.MaxSize = 1 << 30
	admin.ShareSecret = shareSecret
	site := library.NewSite(client, vodtest.AdminToken, shareSecret, log)
	mux := http.NewServeMux()
	mux.Handle(library.AdminPrefix, admin)
	mux.Handle(library.SitePrefix+"videos", site)
	mux.Handle(library.SitePrefix+"videos/", site)
	g := &rig{vod: v, log: logs}
	g.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, f := range wrap {
			f(w, r)
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		g.http.Close()
		if t.Failed() {
			t.Logf("library log:\n%s", logs.String())
		}
	})
	return g
}

// req is a request of the console (signed in, with the CSRF header, speaking tus 1.0.0) unless hdr
// overrides a header (an empty value removes it).
func (g *rig) req(t *testing.T, method, path string, hdr map[string]string, body io.Reader) *http.Response {
	t.Helper()
	r, err := http.NewRequest(method, resolve(t, g.http.URL, path), body)
	require.NoError(t, err)
	r.Header.Set("Authorization", consoleAuth)
	r.Header.Set("X-CSRF-Token", csrf)
	r.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// resolve is tus-js-client's resolveUrl: a Location relative to the endpoint.
func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	require.NoError(t, err)
	u, err := b.Parse(ref)
	require.NoError(t, err)
	return u.String()
}

// expect checks a response's status and, for an error, that its body is the JSON error; it returns the
// decoded JSON body (nil when there is none).
func expect(t *testing.T, res *http.Response, code int) map[string]any {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, code, res.StatusCode, "%s %s: %s", res.Request.Method, res.Request.URL.Path, b)
	if len(b) == 0 {
		return nil
	}
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	if code >= 400 {
		require.NotEmpty(t, m["error"], "an error answers {\"error\": ...}: %s", b)
	}
	return m
}

func getJSON(t *testing.T, g *rig, path string, code int) map[string]any {
	t.Helper()
	return expect(t, g.req(t, http.MethodGet, path, nil, nil), code)
}

func patchJSON(t *testing.T, g *rig, path, body string, code int) map[string]any {
	t.Helper()
	return expect(t, g.req(t, http.MethodPatch, path, map[string]string{"Content-Type": "application/json"}, strings.NewReader(body)), code)
}

func meta(pairs ...string) string {
	var out []string
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, pairs[i]+" "+base64.StdEncoding.EncodeToString([]byte(pairs[i+1])))
	}
	return strings.Join(out, ",")
}

// create starts a tus upload and returns its URL.
func (g *rig) create(t *testing.T, size int, metadata string) string {
	t.Helper()
	res := g.req(t, http.MethodPost, "/api/v1/vod/uploads", map[string]string{
		"Upload-Length": strconv.Itoa(size), "Upload-Metadata": metadata}, nil)
	expect(t, res, http.StatusCreated)
	require.Equal(t, "1.0.0", res.Header.Get("Tus-Resumable"))
	loc := res.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/api/v1/vod/uploads/"), loc)
	return loc
}

func (g *rig) offset(t *testing.T, loc string) int64 {
	t.Helper()
	res := g.req(t, http.MethodHead, loc, nil, nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "1.0.0", res.Header.Get("Tus-Resumable"))
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	n, err := strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
	require.NoError(t, err)
	return n
}

func (g *rig) patch(t *testing.T, loc string, off int64, data []byte) *http.Response {
	t.Helper()
	return g.req(t, http.MethodPatch, loc, map[string]string{"Content-Type": "application/offset+octet-stream",
		"Upload-Offset": strconv.FormatInt(off, 10)}, bytes.NewReader(data))
}

// clip makes a 3 s H.264/AAC MP4 whose noise makes it about 14 MB: an upload spans several 5 MiB parts.
func clip(t *testing.T) []byte {
	t.Helper()
	testutil.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3", "-vf", "noise=alls=40:allf=t",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "22", "-g", "50", "-c:a", "aac", "-b:a", "128k", "-shortest", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Greater(t, len(data), 11*mib, "the clip must span more than two 5 MiB parts")
	return data
}

// TestLibrary uploads a real MP4 over tus in several PATCHes (one of them cut off, one taken over), waits
// for it to be processed, and walks it through the console's and the public site's API until it is deleted.
func TestLibrary(t *testing.T) {
	data := clip(t)
	g := start(t)
	size := int64(len(data))

	// discovery
	res := g.req(t, http.MethodOptions, "/api/v1/vod/uploads", nil, nil)
	expect(t, res, http.StatusNoContent)
	require.Equal(t, "1.0.0", res.Header.Get("Tus-Resumable"))
	require.Equal(t, "1.0.0", res.Header.Get("Tus-Version"))
	require.Equal(t, "creation,termination", res.Header.Get("Tus-Extension"))
	require.Equal(t, strconv.Itoa(1<<30), res.Header.Get("Tus-Max-Size"))

	// refusals of creation
	res = g.req(t, http.MethodPost, "/api/v1/vod/uploads", map[string]string{"Upload-Length": "100", "X-CSRF-Token": ""}, nil)
	expect(t, res, http.StatusForbidden)
	require.Equal(t, "1.0.0", res.Header.Get("Tus-Resumable"), "a refusal is a tus answer too")
	res = g.req(t, http.MethodPost, "/api/v1/vod/uploads", map[string]string{"Upload-Length": "100", "Tus-Resumable": ""}, nil)
	expect(t, res, http.StatusPreconditionFailed)
	require.Equal(t, "1.0.0", res.Header.Get("Tus-Version"))
	expect(t, g.req(t, http.MethodPost, "/api/v1/vod/uploads", map[string]string{"Upload-Defer-Length": "1"}, nil), http.StatusBadRequest)
	expect(t, g.req(t, http.MethodPost, "/api/v1/vod/uploads", map[string]string{"Upload-Length": "-5"}, nil), http.StatusBadRequest)
	expect(t, g.req(t, http.MethodPost, "/api/v1/vod/uploads", map[string]string{"Upload-Length": strconv.Itoa(1<<30 + 1)}, nil),
		http.StatusRequestEntityTooLarge)
	expect(t, g.req(t, http.MethodPost, "/api/v1/vod/uploads", map[string]string{"Upload-Length": "100", "Upload-Metadata": "title !!"}, nil),
		http.StatusBadRequest)
	expect(t, g.req(t, http.MethodPost, "/api/v1/vod/uploads", map[string]string{"Upload-Length": "100",
		"Upload-Metadata": meta("filename", "a/b.mp4")}, nil), http.StatusBadRequest) // the service's refusal

	loc := g.create(t, len(data), meta("filename", "clip.mp4", "title", xssTitle, "filetype", "video/mp4"))
	id := strings.TrimPrefix(loc, "/api/v1/vod/uploads/")
	require.Equal(t, int64(0), g.offset(t, loc))

	// a small PATCH that does not reach the end would store nothing: refused
	m := expect(t, g.patch(t, loc, 0, data[:mib]), http.StatusBadRequest)
	require.Contains(t, m["error"], "at least")
	expect(t, g.req(t, http.MethodPatch, loc, map[string]string{"Content-Type": "application/octet-stream", "Upload-Offset": "0"},
		bytes.NewReader(data[:5*mib])), http.StatusUnsupportedMediaType)

	// first part
	res = g.patch(t, loc, 0, data[:5*mib])
	expect(t, res, http.StatusNoContent)
	require.Equal(t, strconv.Itoa(5*mib), res.Header.Get("Upload-Offset"))
	require.Equal(t, "1.0.0", res.Header.Get("Tus-Resumable"))

	// the wrong offset
	m = expect(t, g.patch(t, loc, 0, data[:5*mib]), http.StatusConflict)
	require.Contains(t, m["error"], "continue from there")

	// a PATCH cut off after 5.5 MiB: the whole part it filled is kept, the half part after it is not
	cut := errors.New("the connection broke")
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(data[5*mib : 10*mib+mib/2])
		time.Sleep(200 * time.Millisecond) // let the server read it all
		_ = pw.CloseWithError(cut)
	}()
	r, err := http.NewRequest(http.MethodPatch, g.http.URL+loc, pr)
	require.NoError(t, err)
	r.ContentLength = size - 5*mib
	r.Header.Set("Authorization", consoleAuth)
	r.Header.Set("X-CSRF-Token", csrf)
	r.Header.Set("Tus-Resumable", "1.0.0")
	r.Header.Set("Content-Type", "application/offset+octet-stream")
	r.Header.Set("Upload-Offset", strconv.Itoa(5*mib))
	_, err = http.DefaultClient.Do(r)
	require.ErrorIs(t, err, cut)
	g.log.WaitFor(t, "upload PATCH ended early", 10*time.Second)
	require.Equal(t, int64(10*mib), g.offset(t, loc))

	// a PATCH whose connection hangs is taken over by the client's next request (HEAD) at once
	pr, pw = io.Pipe()
	hung := make(chan error, 1)
	go func() {
		r, _ := http.NewRequest(http.MethodPatch, g.http.URL+loc, pr)
		r.ContentLength = size - 10*mib
		r.Header.Set("Authorization", consoleAuth)
		r.Header.Set("X-CSRF-Token", csrf)
		r.Header.Set("Tus-Resumable", "1.0.0")
		r.Header.Set("Content-Type", "application/offset+octet-stream")
		r.Header.Set("Upload-Offset", strconv.Itoa(10*mib))
		res, err := http.DefaultClient.Do(r)
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusConflict {
				err = errors.New("the PATCH taken over answered " + res.Status)
			}
		}
		hung <- err
	}()
	_, err = pw.Write(data[10*mib : 11*mib])
	require.NoError(t, err)
	g.log.WaitFor(t, `msg="upload PATCH" component=vod-library upload=`+id+` offset=`+strconv.Itoa(10*mib), 10*time.Second)
	began := time.Now()
	require.Equal(t, int64(10*mib), g.offset(t, loc), "a stream's last piece under 5 MiB is not kept")
	require.Less(t, time.Since(began), 5*time.Second, "HEAD waited for the hanging PATCH instead of taking over")
	select {
	case err := <-hung:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the PATCH taken over did not end")
	}
	pw.Close()

	// the rest
	res = g.patch(t, loc, 10*mib, data[10*mib:])
	expect(t, res, http.StatusNoContent)
	require.Equal(t, strconv.FormatInt(size, 10), res.Header.Get("Upload-Offset"))
	require.Equal(t, size, g.offset(t, loc))

	// processing
	var v map[string]any
	require.Eventually(t, func() bool {
		v = getJSON(t, g, "/api/v1/vod/videos/"+id, http.StatusOK)
		require.NotEqual(t, "failed", v["status"], "%v", v)
		return v["status"] == "ready"
	}, 2*time.Minute, 250*time.Millisecond)
	require.Equal(t, id, v["id"])
	require.Equal(t, xssTitle, v["title"], "the title comes back as it was given; escaping it is the page's job")
	require.Equal(t, "clip.mp4", v["fileName"])
	require.Equal(t, "private", v["visibility"])
	require.Equal(t, "admin", v["owner"])
	require.EqualValues(t, size, v["size"])
	require.InDelta(t, 3.0, v["durationSeconds"], 0.2)
	require.EqualValues(t, 640, v["width"])
	pb := v["playback"].(map[string]any)
	require.Contains(t, pb["hls"], "/"+id+"/")
	require.Contains(t, pb["hls"], "sig=", "a private video's URLs are signed")
	require.NotEmpty(t, pb["mp4"])
	require.NotEmpty(t, pb["poster"])
	require.NotEmpty(t, pb["expiresAt"])
	playHLS(t, pb["hls"].(string))

	list := getJSON(t, g, "/api/v1/vod/videos?pageSize=10", http.StatusOK)
	require.Len(t, list["videos"], 1)
	require.Equal(t, id, list["videos"].([]any)[0].(map[string]any)["id"])
	expect(t, g.req(t, http.MethodGet, "/api/v1/vod/videos?pageSize=500", nil, nil), http.StatusBadRequest)
	expect(t, g.req(t, http.MethodGet, "/api/v1/vod/videos", map[string]string{"Authorization": ""}, nil), http.StatusUnauthorized)

	// a public upload that never finishes stays off the public list
	other := g.create(t, 1000, meta("filename", "other.mp4", "title", "keynote draft", "visibility", "public"))

	// the public site: a private video is not there without its share link
	site := func(path string, code int) map[string]any {
		t.Helper()
		res, err := http.Get(g.http.URL + path) // no console credentials
		require.NoError(t, err)
		defer res.Body.Close()
		return expect(t, res, code)
	}
	require.Empty(t, site("/site/api/videos", http.StatusOK)["videos"])
	site("/site/api/videos/"+id, http.StatusNotFound)
	site("/site/api/videos/"+id+"?exp=9999999999&sig=AAAA", http.StatusNotFound)
	expired := library.ShareQuery(shareSecret, id, -time.Minute, time.Now())
	site("/site/api/videos/"+id+"?"+expired.Encode(), http.StatusNotFound)
	forged := library.ShareQuery([]byte("another secret"), id, time.Hour, time.Now())
	site("/site/api/videos/"+id+"?"+forged.Encode(), http.StatusNotFound)
	shared := site("/site/api/videos/"+id+"?"+library.ShareQuery(shareSecret, id, time.Hour, time.Now()).Encode(), http.StatusOK)
	requirePublic(t, shared)
	spb := shared["playback"].(map[string]any)
	require.Contains(t, spb["hls"], "sig=")
	exp, err := time.Parse(time.RFC3339, spb["expiresAt"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour), exp, time.Minute, "the URLs expire with the share link")
	playHLS(t, spb["hls"].(string))

	// the console's share link is one the site takes; a hostile ttl or an unknown video gets none
	link := expect(t, g.req(t, http.MethodPost, "/api/v1/vod/videos/"+id+"/share?ttlSeconds=3600", nil, nil), http.StatusOK)
	require.True(t, strings.HasPrefix(link["url"].(string), "/watch/"+id+"?"), link["url"])
	_, linkQuery, _ := strings.Cut(link["url"].(string), "?")
	site("/site/api/videos/"+id+"?"+linkQuery, http.StatusOK)
	expect(t, g.req(t, http.MethodPost, "/api/v1/vod/videos/"+id+"/share?ttlSeconds=1", nil, nil), http.StatusBadRequest)
	expect(t, g.req(t, http.MethodPost, "/api/v1/vod/videos/nope/share", nil, nil), http.StatusNotFound)
	expect(t, g.req(t, http.MethodPost, "/api/v1/vod/videos/"+id+"/share", map[string]string{"Authorization": ""}, nil), http.StatusUnauthorized)

	// unlisted: by id, unsigned, never listed
	v = patchJSON(t, g, "/api/v1/vod/videos/"+id, `{"visibility": "unlisted"}`, http.StatusOK)
	require.Equal(t, "unlisted", v["visibility"])
	require.Equal(t, xssTitle, v["title"], "a change leaves the other fields alone")
	require.Empty(t, v["playback"].(map[string]any)["expiresAt"])
	require.Empty(t, site("/site/api/videos", http.StatusOK)["videos"])
	unlisted := site("/site/api/videos/"+id, http.StatusOK)
	requirePublic(t, unlisted)
	require.NotContains(t, unlisted["playback"].(map[string]any)["hls"], "sig=")

	// public: listed, found by a search in any case
	patchJSON(t, g, "/api/v1/vod/videos/"+id, `{"visibility": "public", "description": "<b>bold</b>"}`, http.StatusOK)
	items := site("/site/api/videos", http.StatusOK)["videos"].([]any)
	require.Len(t, items, 1, "only public, ready videos: not %q still uploading", other)
	item := items[0].(map[string]any)
	require.ElementsMatch(t, []string{"id", "title", "durationSeconds", "createdAt", "poster"}, keys(item))
	require.Equal(t, id, item["id"])
	require.Equal(t, xssTitle, item["title"])
	require.NotEmpty(t, item["poster"])
	require.Len(t, site("/site/api/videos?q=IMG+SRC", http.StatusOK)["videos"], 1)
	require.Empty(t, site("/site/api/videos?q=keynote", http.StatusOK)["videos"])
	site("/site/api/videos?pageToken=garbage", http.StatusBadRequest)
	pub := site("/site/api/videos/"+id, http.StatusOK)
	requirePublic(t, pub)
	require.Equal(t, "<b>bold</b>", pub["description"])
	site("/site/api/videos/no-such-video", http.StatusNotFound)
	site("/site/api/videos/bad%21id", http.StatusNotFound)

	// refused changes name their field
	m = patchJSON(t, g, "/api/v1/vod/videos/"+id, `{"owner": "mallory"}`, http.StatusBadRequest)
	require.Equal(t, "owner", m["field"])
	m = patchJSON(t, g, "/api/v1/vod/videos/"+id, `{"visibility": "secret"}`, http.StatusBadRequest)
	require.Equal(t, "visibility", m["field"])
	m = patchJSON(t, g, "/api/v1/vod/videos/"+id, `{"title": "`+strings.Repeat("x", 600)+`"}`, http.StatusBadRequest)
	require.Equal(t, "title", m["field"])
	patchJSON(t, g, "/api/v1/vod/videos/"+id, `{"title": 5}`, http.StatusBadRequest)
	patchJSON(t, g, "/api/v1/vod/videos/"+id, `{} {}`, http.StatusBadRequest)
	patchJSON(t, g, "/api/v1/vod/videos/no-such-video", `{}`, http.StatusNotFound)
	getJSON(t, g, "/api/v1/vod/videos/bad!id", http.StatusBadRequest)
	getJSON(t, g, "/api/v1/vod/nothing", http.StatusNotFound)
	expect(t, g.req(t, http.MethodPut, "/api/v1/vod/videos/"+id, nil, nil), http.StatusMethodNotAllowed)

	// a file that is no video is refused and discarded by the service
	junk := g.create(t, 5000, meta("filename", "notes.txt"))
	m = expect(t, g.patch(t, junk, 0, bytes.Repeat([]byte("not a video "), 5000)[:5000]), http.StatusBadRequest)
	require.Contains(t, m["error"], "discarded")

	// termination
	expect(t, g.req(t, http.MethodDelete, other, nil, nil), http.StatusNoContent)
	expect(t, g.req(t, http.MethodHead, other, nil, nil), http.StatusNotFound)

	// deletion
	expect(t, g.req(t, http.MethodDelete, "/api/v1/vod/videos/"+id, map[string]string{"X-CSRF-Token": ""}, nil), http.StatusForbidden)
	expect(t, g.req(t, http.MethodDelete, "/api/v1/vod/videos/"+id, nil, nil), http.StatusNoContent)
	getJSON(t, g, "/api/v1/vod/videos/"+id, http.StatusNotFound)
	site("/site/api/videos/"+id, http.StatusNotFound)
	require.Empty(t, site("/site/api/videos", http.StatusOK)["videos"])

	// the VOD service gone: 503 with Retry-After
	g.vod.Stop()
	res = g.req(t, http.MethodGet, "/api/v1/vod/videos", nil, nil)
	expect(t, res, http.StatusServiceUnavailable)
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	res, err = http.Get(g.http.URL + "/site/api/videos")
	require.NoError(t, err)
	m = expect(t, res, http.StatusServiceUnavailable)
	require.Equal(t, "service unavailable", m["error"], "the public site does not tell the cause")
}

// requirePublic checks that a Video of the public site tells nothing of how it was made or who owns it.
func requirePublic(t *testing.T, v map[string]any) {
	t.Helper()
	for _, k := range []string{"owner", "fileName", "sha256", "size", "failure", "progress"} {
		require.NotContains(t, v, k)
	}
	require.Equal(t, xssTitle, v["title"])
	require.Equal(t, "ready", v["status"])
	require.NotEmpty(t, v["playback"].(map[string]any)["hls"])
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// playHLS fetches a playlist and checks that it is one.
func playHLS(t *testing.T, u string) {
	t.Helper()
	res, err := http.Get(u)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", u, b)
	require.True(t, bytes.HasPrefix(b, []byte("#EXTM3U")), "%s", b)
}
