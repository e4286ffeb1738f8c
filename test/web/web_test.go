package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud/sim"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
	"github.com/nagare-video/nagare/internal/testutil/vodtest"
)

const (
	streamPath = "live/web1"
	originID   = "web-origin"
	group      = "web-group"
	// xssTitle is a video title that would run script if a page put it into HTML unescaped.
	xssTitle = `<img src=x onerror=alert(1)>`
	// minFrames is how many frames a player must have decoded to count as playing: 2 s of the 25 fps clips.
	minFrames = 50
	// hugeNodes are registered on top of the test's cluster to make it a big one.
	hugeNodes = 1000
	// nodePage is how many node rows the cluster page shows at once.
	nodePage = 50
)

// report is what run.mjs saw, step by step (see its header).
type report struct {
	Browser     string    `json:"browser"`
	DriverError string    `json:"driverError"`
	Pages       []pageLog `json:"pages"`
	Steps       struct {
		Signin struct {
			stepResult
			FormShown       bool   `json:"formShown"`
			WrongTokenError string `json:"wrongTokenError"`
			ClusterShown    bool   `json:"clusterShown"`
			URL             string `json:"url"`
			CookieSet       bool   `json:"cookieSet"`
		} `json:"signin"`
		Config struct {
			stepResult
			RevokeStatus     int      `json:"revokeStatus"`
			ExpiredToForm    bool     `json:"expiredToForm"`
			ExpiredReason    string   `json:"expiredReason"`
			DraftName        string   `json:"draftName"`
			DraftDescription string   `json:"draftDescription"`
			FieldError       string   `json:"fieldError"`
			FieldInvalid     string   `json:"fieldInvalid"`
			FieldErrors      []string `json:"fieldErrors"`
			PolicyRow        bool     `json:"policyRow"`
			LaunchConfigRow  bool     `json:"launchConfigRow"`
			GroupRow         bool     `json:"groupRow"`
		} `json:"config"`
		Launch struct {
			stepResult
			LaunchStatus     int    `json:"launchStatus"`
			NodeID           string `json:"nodeId"`
			AppearedMs       int    `json:"appearedMs"`
			StateShown       string `json:"stateShown"`
			StateBeforeDrain string `json:"stateBeforeDrain"`
			DrainStatus      int    `json:"drainStatus"`
			DrainAnswer      string `json:"drainAnswer"`
			DrainShownMs     int    `json:"drainShownMs"`
			SameDocument     bool   `json:"sameDocument"`
		} `json:"launch"`
		Autoscale struct {
			stepResult
			Chart          bool     `json:"chart"`
			Canvases       int      `json:"canvases"`
			HotNodes       []string `json:"hotNodes"`
			ScaleOutReason string   `json:"scaleOutReason"`
			Caption        string   `json:"caption"`
			Events         []struct {
				Action string `json:"action"`
				Reason string `json:"reason"`
			} `json:"events"`
		} `json:"autoscale"`
		Node struct {
			stepResult
			Shown bool `json:"shown"`
		} `json:"node"`
		Live struct {
			stepResult
			Frames             int    `json:"frames"`
			ViewerCount        string `json:"viewerCount"`
			WebRTCFrames       int    `json:"webrtcFrames"`
			WebRTCEngine       string `json:"webrtcEngine"`
			FramesDecodedShown string `json:"framesDecodedShown"`
		} `json:"live"`
		Publish struct {
			stepResult
			Shown         bool   `json:"shown"`
			Live          bool   `json:"live"`
			Status        string `json:"status"`
			LiveAfterStop bool   `json:"liveAfterStop"`
		} `json:"publish"`
		VOD struct {
			stepResult
			ID                string `json:"id"`
			ReadyMs           int    `json:"readyMs"`
			ConsoleTitle      string `json:"consoleTitle"`
			ConsoleImgX       int    `json:"consoleImgX"`
			HomeCardText      string `json:"homeCardText"`
			HomeImgX          int    `json:"homeImgX"`
			HomeLive          int    `json:"homeLive"`
			WatchFrames       int    `json:"watchFrames"`
			WatchTitle        string `json:"watchTitle"`
			WatchImgX         int    `json:"watchImgX"`
			PrivateListStatus int    `json:"privateListStatus"`
			PrivateCards      int    `json:"privateCards"`
			HomeCards         int    `json:"homeCards"`
			PrivateNotFound   bool   `json:"privateNotFound"`
		} `json:"vod"`
		SiteLive struct {
			stepResult
			Frames int `json:"frames"`
		} `json:"sitelive"`
		Restart struct {
			stepResult
			BannerBefore     int    `json:"bannerBefore"`
			StoppedAt        int64  `json:"stoppedAt"`
			StartedAt        int64  `json:"startedAt"`
			APIRefused       string `json:"apiRefused"`
			BannerShown      bool   `json:"bannerShown"`
			BannerText       string `json:"bannerText"`
			BannerGone       bool   `json:"bannerGone"`
			StateBeforeDrain string `json:"stateBeforeDrain"`
			DrainStatus      int    `json:"drainStatus"`
			DrainAnswer      string `json:"drainAnswer"`
			DrainShown       bool   `json:"drainShown"`
			SameDocument     bool   `json:"sameDocument"`
		} `json:"restart"`
		Huge struct {
			stepResult
			Registered     int      `json:"registered"`
			Page1          []string `json:"page1"`
			Counter        string   `json:"counter"`
			PagerText      string   `json:"pagerText"`
			Page1Prev      bool     `json:"page1Prev"`
			Page1Next      bool     `json:"page1Next"`
			Page2          []string `json:"page2"`
			Page2Prev      bool     `json:"page2Prev"`
			OffPage        string   `json:"offPage"`
			OffPageDrain   int      `json:"offPageDrain"`
			OffPageRows    []string `json:"offPageRows"`
			OffPageState   string   `json:"offPageState"`
			Live           string   `json:"live"`
			LiveRows       []string `json:"liveRows"`
			LiveBefore     string   `json:"liveBefore"`
			LiveDrain      int      `json:"liveDrain"`
			LiveAfter      string   `json:"liveAfter"`
			UnfilteredRows int      `json:"unfilteredRows"`
		} `json:"huge"`
		Small struct {
			stepResult
			TokenFocusedOnLoad bool   `json:"tokenFocusedOnLoad"`
			Tabs               int    `json:"tabs"`
			TokenFocused       bool   `json:"tokenFocused"`
			KeyboardSignedIn   bool   `json:"keyboardSignedIn"`
			ConsoleWidths      widths `json:"consoleWidths"`
			SiteWidths         widths `json:"siteWidths"`
			SiteLight          string `json:"siteLight"`
			SiteDark           string `json:"siteDark"`
			ConsoleLight       string `json:"consoleLight"`
			ConsoleDark        string `json:"consoleDark"`
		} `json:"small"`
		Signout struct {
			stepResult
			FormShown        bool `json:"formShown"`
			CookieCleared    bool `json:"cookieCleared"`
			OldCookieStatus  int  `json:"oldCookieStatus"`
			OldCookieSession struct {
				Status   int    `json:"status"`
				SignedIn *bool  `json:"signedIn"`
				Reason   string `json:"reason"`
			} `json:"oldCookieSession"`
		} `json:"signout"`
	} `json:"steps"`
}

// widths are a page's document scroll width and window width, and the widest box scrolling inside itself.
type widths struct {
	ScrollWidth   int `json:"scrollWidth"`
	InnerWidth    int `json:"innerWidth"`
	InnerScroller int `json:"innerScroller"`
}

type stepResult struct {
	Error string `json:"error"`
	Ms    int    `json:"ms"`
}

// pageLog is what Chromium said about one tab: console errors (with the URL of the resource they are
// about), uncaught errors and dialogs.
type pageLog struct {
	Name          string `json:"name"`
	ConsoleErrors []struct {
		Text string `json:"text"`
		URL  string `json:"url"`
		Page string `json:"page"`
		At   int64  `json:"at"` // ms since the epoch
	} `json:"consoleErrors"`
	PageErrors []map[string]string `json:"pageErrors"`
	Dialogs    []map[string]string `json:"dialogs"`
}

// TestConsoleAndSite walks the operator console and the public site in Chromium against a real cluster
// (a manager with the simulated cloud, an origin carrying a live RTMP stream, the VOD service): sign-in
// and its refusals, a session ended behind the page's back, configuration forms and the API's field
// errors, the cluster live (a launch, a drain, a scale-out on the autoscaler's chart with its reason), a
// live stream's page, a VOD upload through to the public site and back to private, a title of HTML shown
// as text, the manager stopped and started again under the console, a cluster of a thousand nodes, the
// keyboard, a phone's screen and dark mode; and no console error on any page but the browser's lines for
// the answers the steps expect to fail.
func TestConsoleAndSite(t *testing.T) {
	testutil.RequireFFmpeg(t)
	testutil.RequireChromium(t)
	c := startCluster(t)

	sp, err := stream.ParsePath(streamPath)
	require.NoError(t, err)
	token := pubauth.Sign([]byte(testutil.TokenSecret), sp, time.Now().Add(time.Hour))
	testutil.Publish(t, "rtmp://"+c.rtmp+"/"+streamPath+"?token="+token, "flv")
	testutil.WaitLive(t, "http://"+c.originHTTP+"/"+streamPath+"/index.m3u8", 20*time.Second)

	cfg := map[string]any{
		"manager": c.manager, "adminToken": managertest.AdminToken, "stream": streamPath, "originId": originID,
		"group": group, "videoFile": testVideo(t), "xssTitle": xssTitle, "minFrames": minFrames,
		"clusterSecret": managertest.ClusterSecret, "control": c.managers.control(t), "hugeNodes": hugeNodes,
	}
	if os.Getenv("NAGARE_SCREENSHOTS") == "1" {
		dir := filepath.Join(testutil.RepoRoot(t), "docs", "screenshots")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		cfg["screenshots"] = dir
	}
	if only := os.Getenv("WEB_STEPS"); only != "" {
		cfg["only"] = strings.Split(only, ",") // a debugging aid: run.mjs runs these steps only
	}
	var r report
	testutil.DriveBrowser(t, "test/web/run.mjs", 4*time.Minute, cfg, &r)
	t.Logf("Chromium %s", r.Browser)
	require.Empty(t, r.DriverError)
	s := &r.Steps

	t.Run("sign-in", func(t *testing.T) {
		in := s.Signin
		require.Empty(t, in.Error)
		assert.True(t, in.FormShown, "/console without a session shows the sign-in form")
		assert.Equal(t, "That token is not the admin token.", in.WrongTokenError)
		assert.True(t, in.ClusterShown)
		assert.True(t, strings.HasSuffix(in.URL, "/console/cluster"), in.URL)
		assert.True(t, in.CookieSet, "the session cookie")

		cf := s.Config
		assert.Equal(t, http.StatusNoContent, cf.RevokeStatus, "the session ended behind the page's back")
		assert.True(t, cf.ExpiredToForm, "a 401 leads back to the sign-in form: %s", cf.Error)
		assert.NotEmpty(t, cf.ExpiredReason, "the form says why")
		assert.Equal(t, "kept-draft", cf.DraftName, "the policy form's draft after signing in again")
		assert.Equal(t, "typed before the session ended", cf.DraftDescription)
	})

	t.Run("sign-out", func(t *testing.T) {
		out := s.Signout
		require.Empty(t, out.Error)
		assert.True(t, out.FormShown)
		assert.True(t, out.CookieCleared, "the browser's cookie is cleared")
		assert.Equal(t, http.StatusUnauthorized, out.OldCookieStatus, "the API with the signed-out cookie")
		// GET /console/api/session answers 200 {"signedIn": false, "reason"} rather than 401
		if sess := out.OldCookieSession; assert.Equal(t, http.StatusOK, sess.Status) && assert.NotNil(t, sess.SignedIn) {
			assert.False(t, *sess.SignedIn, "the session of the signed-out cookie")
			assert.Contains(t, sess.Reason, "signed out")
		}
	})

	t.Run("configuration forms", func(t *testing.T) {
		cf := s.Config
		require.Empty(t, cf.Error)
		// the API's own answer to the form's body
		var apiErr struct{ Error, Field string }
		status := c.send(t, http.MethodPost, "/api/v1/scalepolicies",
			`{"name":"web-policy","targets":[{"role":"edge","minLimit":5,"maxLimit":2,"scaleAdjustment":1}]}`, &apiErr)
		require.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "targets[0].minLimit", apiErr.Field)
		assert.Equal(t, apiErr.Error, cf.FieldError, "the API's message at the field")
		assert.Equal(t, "true", cf.FieldInvalid)
		assert.Equal(t, []string{"targets[0].minLimit"}, cf.FieldErrors, "the error is at that field only")
		assert.True(t, cf.PolicyRow && cf.LaunchConfigRow && cf.GroupRow)

		var p struct {
			Targets []struct {
				Role               string
				MinLimit, MaxLimit int
			}
			WarmUpMs int64
		}
		c.get(t, "/api/v1/scalepolicies/web-policy", &p)
		require.Len(t, p.Targets, 1)
		assert.Equal(t, "edge", p.Targets[0].Role)
		assert.Equal(t, 1, p.Targets[0].MinLimit)
		assert.Equal(t, 4, p.Targets[0].MaxLimit)
		assert.EqualValues(t, 600000, p.WarmUpMs)
		var lc struct {
			Image   string
			Targets []struct {
				Role               string
				InstanceType       string
				ConnectionCapacity int
			}
		}
		c.get(t, "/api/v1/launchconfigs/web-lc", &lc)
		assert.Equal(t, "nagare", lc.Image)
		require.Len(t, lc.Targets, 1)
		assert.Equal(t, "edge", lc.Targets[0].Role)
		assert.Equal(t, "sim", lc.Targets[0].InstanceType)
		assert.Equal(t, 100, lc.Targets[0].ConnectionCapacity)
		var g struct {
			Regions                   []string
			LaunchConfig, ScalePolicy string
		}
		c.get(t, "/api/v1/nodegroups/"+group, &g)
		assert.Equal(t, []string{"local"}, g.Regions)
		assert.Equal(t, "web-lc", g.LaunchConfig)
		assert.Equal(t, "web-policy", g.ScalePolicy)
		var kept map[string]any
		assert.Equal(t, http.StatusNotFound, c.call(t, "/api/v1/scalepolicies/kept-draft", &kept),
			"the draft submitted with an ended session was not stored")
	})

	t.Run("cluster live", func(t *testing.T) {
		l := s.Launch
		require.Empty(t, l.Error, "drain answer: %s", l.DrainAnswer)
		assert.Equal(t, http.StatusCreated, l.LaunchStatus)
		assert.Less(t, l.AppearedMs, 2000, "a launched node shows within 2 s")
		assert.Contains(t, []string{"pending", "running"}, l.StateShown)
		assert.Equal(t, http.StatusOK, l.DrainStatus, "drained from %s", l.StateBeforeDrain)
		assert.Less(t, l.DrainShownMs, 3000, "the drain shows within 3 s")
		assert.True(t, l.SameDocument, "without a reload")
		t.Logf("node %s shown %d ms after its launch, draining %d ms after the drain", l.NodeID, l.AppearedMs, l.DrainShownMs)
	})

	t.Run("autoscaling chart", func(t *testing.T) {
		a := s.Autoscale
		require.Empty(t, a.Error)
		assert.True(t, a.Chart)
		assert.Positive(t, a.Canvases, "the chart draws on a canvas")
		var api []struct{ Action, Role, Reason string }
		c.get(t, "/api/v1/scaleevents?group="+group, &api)
		var minimum, scaleOut bool
		for _, e := range a.Events {
			assert.NotEmpty(t, e.Reason, "%s without its reason", e.Action)
			if e.Action == "minimum" || e.Action == "scale-out" {
				minimum, scaleOut = minimum || e.Action == "minimum", scaleOut || e.Action == "scale-out"
				assert.True(t, hasEvent(api, e.Action, e.Reason), "%s %q is not the API's: %+v", e.Action, e.Reason, api)
			}
		}
		assert.True(t, minimum, "no launch to the policy's minimum in the group's events: %+v", a.Events)
		assert.True(t, scaleOut, "no scale-out in the group's events: %+v", a.Events)

		// the edges the test registered at 90 of 100 connections each, the group's only edges in service: 90 %
		// passes the alarm, and the chart's panel says so with the autoscaler's own words
		assert.Regexp(t, `^scale-out edge: load 90 % > 60 %, \+1 → \d+ nodes$`, a.ScaleOutReason)
		assert.True(t, hasEvent(api, "scale-out", a.ScaleOutReason), "the panel's scale-out %q is not the API's: %+v", a.ScaleOutReason, api)
		assert.Contains(t, a.Caption, "90.0 % now", "the chart's load")
		assert.Contains(t, a.Caption, "alarm 60 %")
		t.Logf("%v: %s", a.HotNodes, a.ScaleOutReason)
	})

	t.Run("manager restart", func(t *testing.T) {
		rs := s.Restart
		require.Empty(t, rs.Error, "drain answer: %s", rs.DrainAnswer)
		assert.Zero(t, rs.BannerBefore, "a banner before the manager stopped")
		assert.Contains(t, rs.APIRefused, "ECONNREFUSED", "the stopped manager's address refuses connections")
		assert.True(t, rs.BannerShown, "the console says the manager is unreachable")
		assert.NotEmpty(t, rs.BannerText)
		assert.True(t, rs.BannerGone, "the banner goes once the manager is back")
		assert.Equal(t, "inservice", rs.StateBeforeDrain)
		assert.Equal(t, http.StatusOK, rs.DrainStatus, "the drain through the restarted manager")
		assert.True(t, rs.DrainShown, "the drain made after the restart shows")
		assert.True(t, rs.SameDocument, "without a reload: the page's own stream reconnected")
		var n struct{ State string }
		c.get(t, "/api/v1/nodes/web-edge-hot1", &n)
		assert.Equal(t, "draining", n.State)
		stops := c.managers.stops()
		if assert.Len(t, stops, 1, "the manager stopped once") {
			assert.NoError(t, stops[0], "the stopped manager's Run")
		}
	})

	t.Run("huge cluster", func(t *testing.T) {
		h := s.Huge
		require.Empty(t, h.Error)
		require.Equal(t, hugeNodes, h.Registered)
		// the table counts every node ("<shown> of <all>", nothing filtered yet) but shows one page of rows,
		// with its pager: the first page cannot go back, the second can
		var shown, all int
		_, err := fmt.Sscanf(h.Counter, "%d of %d", &shown, &all)
		require.NoError(t, err, "the node counter %q", h.Counter)
		assert.Equal(t, all, shown, "nothing filtered")
		assert.Greater(t, all, hugeNodes)
		assert.Equal(t, pageOf("huge-", 0), h.Page1, "page 1: the first 50 nodes by group and id")
		assert.Equal(t, pageOf("huge-", nodePage), h.Page2, "page 2: the next 50")
		assert.Equal(t, fmt.Sprintf("Page 1 of %d", (all+nodePage-1)/nodePage), h.PagerText)
		assert.False(t, h.Page1Prev, "page-prev on page 1")
		assert.True(t, h.Page1Next, "page-next on page 1")
		assert.True(t, h.Page2Prev, "page-prev on page 2")
		// drained while another page showed, then filtered to: its new state
		assert.Equal(t, http.StatusOK, h.OffPageDrain)
		assert.Equal(t, []string{h.OffPage}, h.OffPageRows, "the filter narrows the table to one node")
		assert.Equal(t, "draining", h.OffPageState)
		// filtered to, then drained: shown live
		assert.Equal(t, []string{h.Live}, h.LiveRows)
		assert.Equal(t, "inservice", h.LiveBefore)
		assert.Equal(t, http.StatusOK, h.LiveDrain)
		assert.Equal(t, "draining", h.LiveAfter)
		assert.Equal(t, nodePage, h.UnfilteredRows, "the filter cleared: a page of rows again")
	})

	t.Run("keyboard and small screens", func(t *testing.T) {
		sm := s.Small
		require.Empty(t, sm.Error)
		assert.True(t, sm.TokenFocused, "the token field reached with the keyboard (focused on load: %v, %d tabs)", sm.TokenFocusedOnLoad, sm.Tabs)
		assert.True(t, sm.KeyboardSignedIn, "signed in by typing the token and Enter")
		for name, w := range map[string]widths{"the console's cluster page": sm.ConsoleWidths, "the site's home": sm.SiteWidths} {
			require.Positive(t, w.InnerWidth, name)
			assert.LessOrEqual(t, w.ScrollWidth, w.InnerWidth, "%s overflows sideways at 390 px", name)
			t.Logf("%s at 390 px: document %d px wide, widest inner scroller %d px", name, w.ScrollWidth, w.InnerScroller)
		}
		assert.NotEqual(t, sm.ConsoleLight, sm.ConsoleDark, "the console's background in dark mode")
		assert.NotEqual(t, sm.SiteLight, sm.SiteDark, "the site's background in dark mode")
		t.Logf("backgrounds light/dark: console %s / %s, site %s / %s", sm.ConsoleLight, sm.ConsoleDark, sm.SiteLight, sm.SiteDark)
	})

	t.Run("live stream page", func(t *testing.T) {
		l := s.Live
		require.Empty(t, l.Error)
		assert.Greater(t, l.Frames, minFrames, "frames decoded by the stream page's player")
		assert.Greater(t, l.WebRTCFrames, minFrames, "frames decoded by the stream page's WebRTC player (%s)", l.WebRTCEngine)
		assert.Contains(t, l.WebRTCEngine, "webrtc")
		n, _ := strconv.Atoi(l.ViewerCount)
		assert.Positive(t, n, "the viewer count (%q) while the page plays", l.ViewerCount)
		assert.Greater(t, s.SiteLive.Frames, minFrames, "frames decoded on the site's live page: %s", s.SiteLive.Error)
		assert.True(t, s.Node.Shown, "the origin's page: %s", s.Node.Error)
		assert.True(t, s.Publish.Shown, "the publish page: %s", s.Publish.Error)
		assert.True(t, s.Publish.Live, "the console's WHIP publication is live on the manager")
		assert.Equal(t, "stopped", s.Publish.Status, "after Stop")
		assert.False(t, s.Publish.LiveAfterStop, "Stop ends the publication (and starts no other)")
	})

	t.Run("vod", func(t *testing.T) {
		v := s.VOD
		require.Empty(t, v.Error)
		t.Logf("video %s ready %d ms after the file was chosen", v.ID, v.ReadyMs)
		assert.Equal(t, 1, v.HomeLive, "the site's home lists the live stream")
		assert.Greater(t, v.WatchFrames, minFrames, "frames decoded on the watch page")
		assert.Equal(t, http.StatusOK, v.PrivateListStatus)
		assert.Zero(t, v.PrivateCards, "a private video on the home page")
		assert.True(t, v.PrivateNotFound, "a private video's watch page")
	})

	t.Run("html title shown as text", func(t *testing.T) {
		v := s.VOD
		assert.Equal(t, xssTitle, v.ConsoleTitle)
		assert.Contains(t, v.HomeCardText, xssTitle)
		assert.Equal(t, xssTitle, v.WatchTitle)
		assert.Zero(t, v.ConsoleImgX+v.HomeImgX+v.WatchImgX, "an <img src=x> element made of the title")
		for _, p := range r.Pages {
			assert.Empty(t, p.Dialogs, "%s: dialogs", p.Name)
		}
	})

	t.Run("no console errors", func(t *testing.T) {
		for _, p := range r.Pages {
			assert.Empty(t, p.PageErrors, "%s: uncaught errors", p.Name)
			var unexpected []string
			for _, e := range p.ConsoleErrors {
				why := expectedFailure(e.Text, e.URL)
				if why == "" && managerDown(e.At, s.Restart.StoppedAt, s.Restart.StartedAt) {
					why = unreachable(e.Text, e.URL)
				}
				if why != "" {
					// Chromium logs every answer other than 2xx to a fetch as a console error, even one the
					// page expects and handles: listed in the test log for the lead, not hidden
					t.Logf("%s: expected %s logged by Chromium as a console error: %q (%s)", p.Name, why, e.Text, e.URL)
					continue
				}
				unexpected = append(unexpected, fmt.Sprintf("%s [%s] on %s", e.Text, e.URL, e.Page))
			}
			assert.Empty(t, unexpected, "%s: console errors", p.Name)
		}
	})
}

// expectedFailures are the answers the steps ask for, by method-less path and status: the check of a
// session before sign-in, the wrong token, the form submitted after the session ended, the invalid
// policy, a private video asked for by the site.
var expectedFailures = []struct {
	path   *regexp.Regexp
	status int
	why    string
}{
	{regexp.MustCompile(`^/console/api/session$`), http.StatusUnauthorized, "401 of the session check before sign-in"},
	{regexp.MustCompile(`^/console/api/session$`), http.StatusForbidden, "403 of the wrong token"},
	{regexp.MustCompile(`^/api/v1/scalepolicies$`), http.StatusUnauthorized, "401 of the form sent after the session ended"},
	{regexp.MustCompile(`^/api/v1/watch$`), http.StatusUnauthorized, "401 of the watch stream after the session ended"},
	{regexp.MustCompile(`^/api/v1/scalepolicies$`), http.StatusBadRequest, "400 of minLimit > maxLimit"},
	{regexp.MustCompile(`^/site/api/videos/[^/]+$`), http.StatusNotFound, "404 of the private video"},
}

var failedLoad = regexp.MustCompile(`^Failed to load resource: the server responded with a status of (\d+)`)

// expectedFailure says which expected answer a console error is the browser's line for ("" for none).
func expectedFailure(text, rawURL string) string {
	m := failedLoad.FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	status, _ := strconv.Atoi(m[1])
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	for _, e := range expectedFailures {
		if e.status == status && e.path.MatchString(u.Path) {
			return e.why
		}
	}
	return ""
}

// failedConnection is Chromium's line for a request that got no answer at all.
var failedConnection = regexp.MustCompile(`^Failed to load resource: net::ERR_[A-Z_]+$`)

// unreachable says which expected failure a console error is while the manager was stopped ("" for
// none): the console's watch stream and its session check, which it retries until the manager is back.
func unreachable(text, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || !failedConnection.MatchString(text) {
		return ""
	}
	switch u.Path {
	case "/api/v1/watch", "/console/api/session":
		return "network error of " + u.Path + " while the manager was stopped"
	}
	return ""
}

// managerDown reports whether a console error seen at (ms since the epoch) can be about the manager the
// restart step stopped: from its stop to a few seconds after its start (Chromium reports a failed
// request when its page hears of it).
func managerDown(at, stopped, started int64) bool {
	return stopped > 0 && started > 0 && at >= stopped && at <= started+3000
}

// pageOf is the ids of the nodePage nodes from the first-th on, prefix%04d.
func pageOf(prefix string, first int) []string {
	ids := make([]string, nodePage)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d", prefix, first+i)
	}
	return ids
}

func hasEvent(events []struct{ Action, Role, Reason string }, action, reason string) bool {
	for _, e := range events {
		if e.Action == action && e.Role == "edge" && e.Reason == reason {
			return true
		}
	}
	return false
}

// cluster is the test's manager (with the site, the VOD service's library and the simulated cloud) and
// its origin.
type cluster struct {
	manager          string // its URL
	managers         *managers
	rtmp, originHTTP string
}

func startCluster(t *testing.T) cluster {
	t.Helper()
	v := vodtest.Start(t)
	mgrs := startManagers(t, func(c *config.Config) {
		// the nodes the test registers itself through the node API report once: they must not be found
		// silent and dead during the run
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 2*time.Minute
		c.Manager.Site.Enabled = true
		// as `nagare all` wires them: the library through the VOD service's gRPC port, publish tokens for
		// the console's WHIP publisher
		c.Manager.VOD.Address, c.Manager.VOD.Token = v.GRPCAddr(), vodtest.AdminToken
		c.Manager.PublishTokenSecret = testutil.TokenSecret
		// launches through the API and to a policy's minimum land in a simulated cloud: they run at once
		// and never report, which is all the console needs to show them
		c.Manager.Autoscale.Controller = sim.Name
		c.Manager.Autoscale.Interval = 250 * time.Millisecond
	})
	mgr := mgrs.url()
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, managertest.ClusterSecret, originID
	})
	managertest.WaitOrigin(t, mgr, streamPath)
	return cluster{manager: mgr, managers: mgrs, rtmp: origin.RTMPAddr(), originHTTP: origin.HTTPAddr()}
}

// call GETs a native API path with the admin token, decodes a 200's body into out and returns the status.
func (c cluster) call(t *testing.T, path string, out any) int {
	t.Helper()
	return c.send(t, http.MethodGet, path, "", out)
}

// send calls the native API with the admin token and decodes the JSON answer, whatever its status, into out.
func (c cluster) send(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.manager+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+managertest.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.NewDecoder(res.Body).Decode(out), path)
	}
	return res.StatusCode
}

func (c cluster) get(t *testing.T, path string, out any) {
	t.Helper()
	require.Equal(t, http.StatusOK, c.call(t, path, out), path)
}

// testVideo makes the file the browser uploads: 3 s of ffmpeg's test card with a tone, in an MP4.
func testVideo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test card.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
		"-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", p).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return p
}
