// Package e2e runs nagare as separate processes — a stream manager and an origin node — and drives them
// the way an operator, a publisher and a viewer would.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

const (
	adminToken    = "e2e-admin-token-0123456789"
	clusterSecret = "e2e-cluster-secret-0123456789"
	publishSecret = "e2e-publish-secret-0123456789"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/nagare once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nagare-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "nagare")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, "github.com/nagare-video/nagare/cmd/nagare").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// proc is a running nagare process whose log is scanned for addresses.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startBinary(t, binary(t), env, args...)
}

// startBinary is start with another build of nagare.
func startBinary(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	p.cmd.Stdout = io.Discard
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Errorf("%s did not stop on SIGTERM", args[0])
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("--- %s log ---\n%s", args[0], p.logs())
		}
	})
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// field waits for a log line containing msg and returns the value of key in it.
func (p *proc) field(t *testing.T, msg, key string) string {
	t.Helper()
	re := regexp.MustCompile(`msg="?` + regexp.QuoteMeta(msg) + `"?.*\b` + key + `=(\S+)`)
	var v string
	require.Eventually(t, func() bool {
		if m := re.FindStringSubmatch(p.logs()); m != nil {
			v = m[1]
			return true
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "no %q line with %s", msg, key)
	return v
}

func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(b, out), "%s %s: %s", method, url, b)
	}
	return resp.StatusCode
}

func callAuth(t *testing.T, url string, out any) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	return json.NewDecoder(resp.Body).Decode(out) == nil
}

// TestWalkthrough follows the Red5 Stream Manager walk-through against nagare processes: configuration
// through the 3.1 API, an origin joining the group, a publisher sent to it by the broadcast call, and a
// viewer playing through the manager's redirect.
func TestWalkthrough(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	mgr := start(t, []string{
		"NAGARE_MANAGER_ADDRESS=127.0.0.1:0", "NAGARE_MANAGER_STORE_DSN=" + filepath.Join(dir, "m.db"),
		"NAGARE_MANAGER_ADMIN_TOKEN=" + adminToken, "NAGARE_CLUSTER_SECRET=" + clusterSecret,
		"NAGARE_MANAGER_REPORT_INTERVAL=1s", "NAGARE_MANAGER_NODE_TIMEOUT=4s",
	}, "manager")
	base := "http://" + mgr.field(t, "manager running", "address")
	sm := base + "/streammanager/api/3.1"
	q := "?accessToken=" + adminToken

	require.Equal(t, http.StatusCreated, call(t, "POST", sm+"/admin/configurations/scalepolicy"+q, `{"policy":{"name":"scale1","description":"Sample","type":"com.red5pro.services.autoscaling.model.ScalePolicyMaster","version":"0.0.3","targets":{"region":[{"name":"default","target":[{"role":"edge","maxLimit":2,"scaleAdjustment":1,"minLimit":1},{"role":"origin","maxLimit":1,"scaleAdjustment":1,"minLimit":1}]}]}}}`, nil))
	require.Equal(t, http.StatusCreated, call(t, "POST", sm+"/admin/configurations/launchconfig"+q, `{"launchconfig":{"name":"launch-config1","description":"Sample","image":"red5pro-autoscaling","version":"0.0.3","targets":{"target":[{"role":"origin","instanceType":"t2.medium","connectionCapacity":"2000"},{"role":"edge","instanceType":"t2.medium","connectionCapacity":"1"}]},"properties":{"property":[]},"metadata":{"meta":[{"key":"environment","value":"tutorial"}]}}}`, nil))
	var group struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", sm+"/admin/nodegroup"+q, `{"regions":["default"],"launchConfig":"launch-config1","scalePolicy":"scale1"}`, &group))
	require.True(t, strings.HasPrefix(group.Name, "group-"))

	objects := filepath.Join(dir, "objects")
	origin := start(t, []string{
		"NAGARE_CLUSTER_SECRET=" + clusterSecret, "NAGARE_CLUSTER_GROUP=" + group.Name, "NAGARE_CLUSTER_REGION=default",
		"NAGARE_PUBLISH_TOKEN_SECRET=" + publishSecret, "NAGARE_STORAGE_DIRECTORY=" + objects,
	}, "node", "--role", "origin", "--manager", base, "--rtmp", "127.0.0.1:0", "--srt", "127.0.0.1:0", "--http", "127.0.0.1:0", "--webrtc", "127.0.0.1:0")
	nodeID := origin.field(t, "registered with the stream manager", "id")

	// the origin enters service
	var nodes []map[string]any
	require.Eventually(t, func() bool {
		nodes = nil
		return call(t, "GET", sm+"/admin/nodegroup/"+group.Name+"/node"+q, "", &nodes) == http.StatusOK &&
			len(nodes) == 1 && nodes[0]["state"] == "inservice"
	}, 15*time.Second, 100*time.Millisecond)
	require.Equal(t, nodeID, nodes[0]["identifier"])
	require.EqualValues(t, 2000, nodes[0]["capacity"])

	// the operator asks for live/stream1 to be recorded: the manager tells the origins
	req, err := http.NewRequest(http.MethodPut, base+"/api/v1/streams/live/stream1/recording", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var rec struct {
		Recording bool     `json:"recording"`
		Nodes     []string `json:"nodes"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&rec))
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.True(t, rec.Recording)
	require.Equal(t, []string{nodeID}, rec.Nodes)

	// the publisher asks where to publish and is sent to the origin
	var ev map[string]any
	require.Equal(t, http.StatusOK, call(t, "GET", sm+"/event/live/stream1?action=broadcast", "", &ev))
	require.Equal(t, "127.0.0.1", ev["serverAddress"])
	rtmpURL, _ := ev["rtmpUrl"].(string)
	require.NotEmpty(t, rtmpURL)
	tok := pubauth.Sign([]byte(publishSecret), stream.Path{App: "live", Name: "stream1"}, time.Now().Add(time.Hour))
	publisher := testutil.Publish(t, rtmpURL+"?token="+tok, "flv")

	// the manager learns of the stream from the origin
	require.Equal(t, http.StatusUnauthorized, call(t, "GET", base+"/api/v1/streams", "", nil))
	require.Eventually(t, func() bool {
		var streams []map[string]any
		return callAuth(t, base+"/api/v1/streams", &streams) && len(streams) == 1 &&
			streams[0]["name"] == "live/stream1" && streams[0]["nodeId"] == nodeID
	}, 15*time.Second, 100*time.Millisecond)

	// a viewer plays through the manager: 302 to the origin while the group has no edge
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redirect := func() string {
		var location string
		require.Eventually(t, func() bool {
			resp, err := noFollow.Get(base + "/live/stream1/index.m3u8")
			if err != nil {
				return false
			}
			resp.Body.Close()
			location = resp.Header.Get("Location")
			return resp.StatusCode == http.StatusFound
		}, 10*time.Second, 100*time.Millisecond)
		require.Contains(t, location, "/live/stream1/index.m3u8")
		return location
	}
	originLocation := redirect()
	testutil.WaitLive(t, originLocation, 15*time.Second)

	// an edge joins the group: the manager gives it the origin as parent, and viewers go to the edge
	edge := start(t, []string{"NAGARE_CLUSTER_SECRET=" + clusterSecret, "NAGARE_CLUSTER_GROUP=" + group.Name},
		"node", "--role", "edge", "--manager", base, "--http", "127.0.0.1:0", "--webrtc", "127.0.0.1:0")
	edgeID := edge.field(t, "registered with the stream manager", "id")
	edge.field(t, "parent changed", "parent")
	var edgeLocation string
	require.Eventually(t, func() bool {
		edgeLocation = redirect()
		return edgeLocation != originLocation
	}, 15*time.Second, 200*time.Millisecond)
	require.NotContains(t, mgr.logs(), "no parent available")
	var edgeNode map[string]any
	require.True(t, callAuth(t, base+"/api/v1/nodes/"+edgeID, &edgeNode))
	require.Equal(t, "http://"+strings.TrimPrefix(strings.TrimSuffix(originLocation, "/live/stream1/index.m3u8"), "http://"), edgeNode["parent"])
	testutil.WaitLive(t, edgeLocation, 15*time.Second)
	var codecs []string
	for _, s := range testutil.Probe(t, base+"/live/stream1/index.m3u8", false) {
		codecs = append(codecs, s.CodecName)
	}
	require.Contains(t, codecs, "h264")
	require.Contains(t, codecs, "aac")

	// the node's history is in the API
	var events []map[string]any
	require.True(t, callAuth(t, base+"/api/v1/nodes/"+nodeID+"/events", &events))
	var states []string
	for _, e := range events {
		states = append(states, e["to"].(string))
	}
	require.Equal(t, []string{"running", "inservice"}, states)

	// the publisher stops: the recording is in the origin's storage, whole
	publisher.Kill()
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(objects, "live", "live", "stream1", "*_recording.json"))
		return len(m) == 1
	}, 20*time.Second, 100*time.Millisecond, "no recording of live/stream1")

	// the origin dies: the manager marks it dead once it falls silent
	_ = origin.cmd.Process.Signal(syscall.SIGKILL)
	require.Eventually(t, func() bool {
		var n map[string]any
		return callAuth(t, base+"/api/v1/nodes/"+nodeID, &n) && n["state"] == "terminated"
	}, 20*time.Second, 200*time.Millisecond)
	var streams []map[string]any
	require.True(t, callAuth(t, base+"/api/v1/streams", &streams))
	require.Empty(t, streams)
	require.Equal(t, http.StatusServiceUnavailable, call(t, "GET", sm+"/event/live/stream1?action=broadcast", "", nil))
	require.NotContains(t, mgr.logs(), adminToken)
	require.NotContains(t, mgr.logs(), clusterSecret)
}
