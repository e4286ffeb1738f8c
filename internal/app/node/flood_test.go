package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

const (
	floodAdminToken = "flood-admin-token-0123456789"
	floodSecret     = "flood-cluster-secret-0123456789"
)

// reportLog records the load reports that pass on their way to the manager, and the manager's answers.
type reportLog struct {
	mu      sync.Mutex
	reports map[string][]seenReport // by node id
}

type seenReport struct {
	at     time.Time
	status int
	bytes  int
	req    nodeapi.ReportRequest
}

func (l *reportLog) of(id string) []seenReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seenReport(nil), l.reports[id]...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// startManager runs a real stream manager (SQLite store, short intervals) behind a proxy that records
// every load report. It returns the proxy's URL, for nodes and viewers.
func startManager(t *testing.T, reportInterval, nodeTimeout time.Duration) (string, *reportLog) {
	t.Helper()
	base, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.AdminToken, c.Cluster.Secret = floodAdminToken, floodSecret
		c.Manager.ReportInterval, c.Manager.NodeTimeout = reportInterval, nodeTimeout
	})

	target, err := url.Parse(base)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	seen := &reportLog{reports: map[string][]seenReport{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != nodeapi.PathReport {
			proxy.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		var req nodeapi.ReportRequest
		_ = json.Unmarshal(body, &req) // a report too large for the manager is recorded all the same
		seen.mu.Lock()
		seen.reports[req.ID] = append(seen.reports[req.ID], seenReport{at: time.Now(), status: rec.status, bytes: len(body), req: req})
		seen.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, seen
}

// nodeState asks the manager for a node's lifecycle state.
func nodeState(t *testing.T, managerURL, id string) nodemodel.State {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, managerURL+"/api/v1/nodes/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+floodAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var n struct {
		State nodemodel.State `json:"state"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&n))
	return n.State
}

// TestFloodOfMadeUpNamesLeavesTheEdgeInService: 2,500 requests for made-up stream names in a burst, at
// the edge and through the manager's viewer entry, cost the edge nothing it keeps: its load reports stay
// small and accepted, it stays in service at the manager for longer than the node timeout, and a real
// stream still plays through it.
func TestFloodOfMadeUpNamesLeavesTheEdgeInService(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	const reportInterval, nodeTimeout = time.Second, 5 * time.Second // a timeout a loaded machine still meets
	mgr, reports := startManager(t, reportInterval, nodeTimeout)
	joined := func(id string) func(*config.Config) {
		return func(c *config.Config) {
			c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, floodSecret, id
		}
	}
	origin, _ := testutil.StartNode(t, joined("flood-origin"))
	edge, edgeLogs := testutil.StartNode(t, func(c *config.Config) {
		testutil.EdgeOf("edge", origin)(c)
		joined("flood-edge")(c)
		// long enough that a machine slowed down by other tests does not forget a name between its two
		// requests: the test counts upstream requests
		c.Node.NotFoundTTL = time.Minute
	})
	testutil.Publish(t, rtmpURL(origin, "live/real"), "flv")
	// live at the origin first: the edge remembers a 404 for a minute
	testutil.ReadSegments(t, "http://"+origin.HTTPAddr()+"/live/real/video1_stream.m3u8", 2, 20*time.Second)
	testutil.ReadSegments(t, "http://"+edge.HTTPAddr()+"/live/real/video1_stream.m3u8", 2, 20*time.Second)
	for _, id := range []string{"flood-origin", "flood-edge"} {
		require.Eventually(t, func() bool { return nodeState(t, mgr, id) == nodemodel.StateInService },
			10*time.Second, 50*time.Millisecond, "%s never entered service", id)
	}
	// the manager routes viewers of any name to the edge
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	require.Eventually(t, func() bool {
		resp, err := noFollow.Get(mgr + "/live/flood_probe/index.m3u8")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusFound && strings.Contains(resp.Header.Get("Location"), edge.HTTPAddr())
	}, 10*time.Second, 50*time.Millisecond, "the manager does not send viewers to the edge")

	// the flood: every name asked twice in a row, one in five through the manager's redirect
	const names, workers = 2500, 64
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	before := upstream(t, edge, "multivariant", "404")
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	// a viewer of the real stream watches through the flood (on a slow machine it lasts longer than the
	// edge's idle timeout, which would end an unwatched pull): it is served all along
	watching := make(chan struct{})
	var watched sync.WaitGroup
	watched.Go(func() {
		for {
			select {
			case <-watching:
				return
			case <-time.After(500 * time.Millisecond):
			}
			resp, err := client.Get("http://" + edge.HTTPAddr() + "/live/real/video1_stream.m3u8")
			if err != nil {
				t.Errorf("the real stream during the flood: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("the real stream during the flood: %d", resp.StatusCode)
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= names; i = next.Add(1) {
				base := "http://" + edge.HTTPAddr()
				if i%5 == 0 {
					base = mgr
				}
				for range 2 {
					resp, err := client.Get(fmt.Sprintf("%s/live/flood_%d/index.m3u8", base, i))
					if err != nil {
						t.Errorf("flood_%d: %v", i, err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusNotFound {
						t.Errorf("flood_%d: %d, want 404 from the edge", i, resp.StatusCode)
					}
				}
			}
		})
	}
	wg.Wait()
	close(watching)
	watched.Wait()
	floodEnd := time.Now()
	t.Logf("%d made-up names, %d requests in %s", names, 2*names, floodEnd.Sub(start).Round(time.Millisecond))
	require.LessOrEqual(t, upstream(t, edge, "multivariant", "404")-before, names,
		"the edge asked the origin more than once for a name it had just been told does not exist")

	// across more than the node timeout after the flood, the edge stays in service
	require.Never(t, func() bool { return nodeState(t, mgr, "flood-edge") != nodemodel.StateInService },
		nodeTimeout+2*reportInterval, 100*time.Millisecond, "the edge left service after the flood")

	// every report since the flood began was accepted, well under the manager's limit, and counted the
	// streams without listing them
	var during []seenReport
	for _, r := range reports.of("flood-edge") {
		if r.at.After(start) {
			during = append(during, r)
		}
	}
	require.GreaterOrEqual(t, len(during), 3, "the edge fell silent")
	for _, r := range during {
		require.Equal(t, http.StatusOK, r.status, "a report was refused (%d bytes)", r.bytes)
		require.Less(t, r.bytes, nodeapi.MaxBodyBytes/8)
		require.Empty(t, r.req.Streams, "an edge lists only the streams it has viewers of: none, and no made-up name")
		require.LessOrEqual(t, r.req.Stats.Streams, 1, "made-up names are counted as streams the edge carries")
		require.Greater(t, r.req.Stats.MemoryUsedPercent, 0.0)
	}
	require.Equal(t, 1, during[len(during)-1].req.Stats.Streams, "the real stream is counted")
	for _, r := range reports.of("flood-origin") {
		require.Equal(t, http.StatusOK, r.status)
		if r.at.After(start) {
			require.Equal(t, []string{"live/real"}, streamNames(r.req.Streams), "an origin lists its publications")
		}
	}
	require.NotContains(t, edgeLogs.String(), "report failed")
	require.NotContains(t, edgeLogs.String(), "refused the report")

	// and the real stream still plays through the edge, where the manager sends its viewers
	resp, err := noFollow.Get(mgr + "/live/real/index.m3u8")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "http://"+edge.HTTPAddr()+"/live/real/index.m3u8", resp.Header.Get("Location"))
	viewer(t, "http://"+edge.HTTPAddr(), "live/real")
}

func streamNames(s []nodemodel.StreamLoad) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.Name
	}
	return out
}
