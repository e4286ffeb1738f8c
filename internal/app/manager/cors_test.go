package manager_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

// browserGet sends what a page on another origin sends and returns the answer without following
// redirects (each hop is checked as the browser checks it).
func browserGet(t *testing.T, method, u, origin string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	require.NoError(t, err)
	req.Header.Set("Origin", origin)
	for k, vs := range header {
		req.Header[k] = vs
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, b
}

// requireCORS checks what a browser checks of an answer before it hands it to the page.
func requireCORS(t *testing.T, res *http.Response, what string) {
	t.Helper()
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"), "%s: %s %s", what, res.Request.Method, res.Request.URL)
}

// requirePreflight sends the preflight of a GET carrying Range and checks the browser would let it go.
func requirePreflight(t *testing.T, u, origin string) {
	t.Helper()
	res, _ := browserGet(t, http.MethodOptions, u, origin, http.Header{
		"Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"range"}})
	require.Equal(t, http.StatusNoContent, res.StatusCode, "preflight of %s", u)
	requireCORS(t, res, "preflight")
	require.Contains(t, res.Header.Get("Access-Control-Allow-Methods"), "GET", "preflight of %s", u)
	require.Contains(t, strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "range", "preflight of %s", u)
}

// TestBrowserPathThroughManagerAndNode walks, hop by hop, what hls.js does in a page on another origin
// when it plays the URL `nagare all` prints: preflight and 302 at the manager, then preflight and GET at
// the node (whose page origin is "null" after a cross-origin redirect), the init section in a byte range, and
// the errors on the way, each of which the page must be able to read.
func TestBrowserPathThroughManagerAndNode(t *testing.T) {
	testutil.RequireFFmpeg(t) // and skips under -short
	mgr := startManager(t, "sqlite", filepath.Join(t.TempDir(), "m.db"))
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, secret, "cors-origin"
	})
	const page = "https://player.example.org"

	// before the stream exists: the manager's 503 and the node's 404 are readable by the page
	res, _ := browserGet(t, "GET", mgr+"/live/cors/index.m3u8", page, nil)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	requireCORS(t, res, "503 of the viewer entry")
	require.Contains(t, res.Header.Get("Access-Control-Expose-Headers"), "Retry-After")
	res, _ = browserGet(t, "GET", "http://"+origin.HTTPAddr()+"/live/cors/index.m3u8", "null", nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	requireCORS(t, res, "404 of the node")

	p, err := stream.ParsePath("live/cors")
	require.NoError(t, err)
	tok := pubauth.Sign([]byte(testutil.TokenSecret), p, time.Now().Add(time.Hour))
	testutil.Publish(t, fmt.Sprintf("rtmp://%s/live/cors?token=%s", origin.RTMPAddr(), tok), "flv")
	testutil.WaitLive(t, "http://"+origin.HTTPAddr()+"/live/cors/index.m3u8", 20*time.Second)

	// the manager: preflight, then the 302 (once the manager knows the stream is on the origin)
	entry := mgr + "/live/cors/index.m3u8"
	requirePreflight(t, entry, page)
	var location string
	require.Eventually(t, func() bool {
		res, _ := browserGet(t, "GET", entry, page, http.Header{"Range": {"bytes=0-"}})
		if res.StatusCode != http.StatusFound {
			return false
		}
		requireCORS(t, res, "302 of the viewer entry")
		location = res.Header.Get("Location")
		return true
	}, 20*time.Second, 100*time.Millisecond, "the manager never redirected to the origin")
	require.True(t, strings.HasPrefix(location, "http://"+origin.HTTPAddr()+"/"), location)

	// the routing call a page may make instead
	requirePreflight(t, mgr+"/api/v1/route/play/live/cors", page)
	res, body := browserGet(t, "GET", mgr+"/api/v1/route/play/live/cors", page, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	requireCORS(t, res, "route/play")
	var route struct {
		HLSURL string `json:"hlsUrl"`
	}
	require.NoError(t, json.Unmarshal(body, &route))
	require.Equal(t, location, route.HLSURL)

	// the node: after a cross-origin redirect the page's origin is "null"
	requirePreflight(t, location, "null")
	res, body = browserGet(t, "GET", location, "null", http.Header{"Range": {"bytes=0-"}})
	require.Contains(t, []int{http.StatusOK, http.StatusPartialContent}, res.StatusCode, "%s", body)
	requireCORS(t, res, "multivariant playlist")
	media := resolve(t, location, firstURI(body))
	requirePreflight(t, media, "null")
	res, body = browserGet(t, "GET", media, "null", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	requireCORS(t, res, "media playlist")
	m := regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`).FindSubmatch(body)
	require.NotNil(t, m, "no init section in\n%s", body)
	seg := resolve(t, media, string(m[1]))

	requirePreflight(t, seg, "null")
	res, part := browserGet(t, "GET", seg, "null", http.Header{"Range": {"bytes=0-15"}})
	require.Equal(t, http.StatusPartialContent, res.StatusCode, "%s", part)
	requireCORS(t, res, "segment range")
	require.Len(t, part, 16)
	require.Regexp(t, `^bytes 0-15/\d+$`, res.Header.Get("Content-Range"))
	require.Contains(t, res.Header.Get("Access-Control-Expose-Headers"), "Content-Range")
	res, whole := browserGet(t, "GET", seg, "null", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, whole[:16], part, "the range is the start of the segment")
}

// firstURI returns the first URI line of a playlist.
func firstURI(pl []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(pl))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	require.NoError(t, err)
	r, err := url.Parse(ref)
	require.NoError(t, err)
	return b.ResolveReference(r).String()
}
