package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// The web face (section 16): how soon the operator console and the public site's watch pages render in
// Debian's headless Chromium (internal/bench/web/render.mjs), what they transfer, and what the console's
// live updates (GET /api/v1/watch) cost the manager. The site's pages are measured on a `nagare all`
// carrying a live stream and a processed video; the console and the manager's cost on a `nagare manager`
// with a simulated cluster reporting changing loads.

// WebResult is what `nagare bench web` measured.
type WebResult struct {
	Browser string `json:"browser"`
	Runs    int    `json:"runs"`
	// Loads are the page loads render.mjs made, as it reported them.
	Loads []WebLoad `json:"loads"`
	// Skipped names the pages that could not be measured, and why.
	Skipped []WebSkip `json:"skipped,omitempty"`
	// VideoID is the video of the watch page.
	VideoID string `json:"videoId,omitempty"`
	// Nodes simulated nodes report every ReportIntervalS to the manager of the console and of Watch.
	Nodes           int     `json:"nodes"`
	ReportIntervalS float64 `json:"reportIntervalS"`
	// Watch is the manager with no console, then with consoles, on GET /api/v1/watch.
	Watch []WebWatchRun `json:"watch"`
}

// WebSkip is a page left out of the measurement.
type WebSkip struct {
	Page   string `json:"page"`
	Reason string `json:"reason"`
}

// WebLoad is one page load in the browser. Times are in ms from the navigation's start, nil when the
// browser did not report them (a page without a player has no first frame).
type WebLoad struct {
	Page  string `json:"page"`
	Path  string `json:"path,omitempty"`
	Cache string `json:"cache"` // cold: a new browser context; warm: a new tab of the same context
	Run   int    `json:"run"`
	Error string `json:"error,omitempty"`

	TTFBMs *float64 `json:"ttfbMs"`
	FCPMs  *float64 `json:"fcpMs"`
	DCLMs  *float64 `json:"dclMs"`
	LoadMs *float64 `json:"loadMs"`
	// ViewDOMMs is when the view's element entered the document, ViewMs the end of the frame after it.
	ViewDOMMs     *float64 `json:"viewDomMs"`
	ViewMs        *float64 `json:"viewMs"`
	PlayerReadyMs *float64 `json:"playerReadyMs"` // loadedmetadata
	FirstFrameMs  *float64 `json:"firstFrameMs"`  // loadeddata: the first frame decoded
	PlayingMs     *float64 `json:"playingMs"`
	SubmitMs      *float64 `json:"submitMs"` // the sign-in form submitted

	Bytes WebBytes `json:"bytes"`
}

// WebBytes are the bytes a load had received when its view was ready, apart for the page's own requests
// (document, scripts, styles, API calls) and media (playlists, segments, MP4).
type WebBytes struct {
	Page  WebByteCount `json:"page"`
	Media WebByteCount `json:"media"`
}

// WebByteCount adds up requests: on the wire (headers and body as received, compressed or not) and
// decoded (the bodies as the page got them).
type WebByteCount struct {
	Requests               int   `json:"requests"`
	Cached                 int   `json:"cached"`
	Compressed             int   `json:"compressed"`
	WireBytes              int64 `json:"wireBytes"`
	DecodedBytes           int64 `json:"decodedBytes"`
	CompressedWireBytes    int64 `json:"compressedWireBytes"`
	CompressedDecodedBytes int64 `json:"compressedDecodedBytes"`
}

// WebWatchRun is the manager over a window with Consoles streams of GET /api/v1/watch open.
type WebWatchRun struct {
	Consoles int   `json:"consoles"`
	Usage    Usage `json:"usage"`
	// per console, over the window
	EventsPerSec float64 `json:"eventsPerSec"`
	BytesPerSec  float64 `json:"bytesPerSec"`
	// Encoding is the stream's Content-Encoding ("" when none).
	Encoding      string  `json:"encoding,omitempty"`
	ReportsPerSec float64 `json:"reportsPerSec"`
	ReportErrors  int64   `json:"reportErrors"`
	// StreamErrors counts the consoles' streams that ended or failed before the end of the window.
	StreamErrors int64 `json:"streamErrors"`
}

func cmdWeb(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("web", stderr)
	bin := fs.String("bin", "", "nagare binary to run `nagare all` and `nagare manager` from (default: this one)")
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264 + AAC) published as the live stream of the site's live page")
	vodClip := fs.String("vod-clip", "", "MP4 uploaded to the VOD service for the site's watch page (empty: no watch page)")
	runs := fs.Int("runs", 5, "loads of each page, cold and warm")
	nodes := fs.Int("nodes", 100, "simulated nodes of the console's cluster")
	consoles := fs.Int("consoles", 20, "consoles on GET /api/v1/watch during the second CPU window")
	window := fs.Duration("window", 20*time.Second, "each CPU window of the manager")
	interval := fs.Duration("report-interval", 2*time.Second, "the simulated nodes' report interval")
	timeout := fs.Duration("timeout", 20*time.Second, "how long a page may take to show its view")
	browser := addBrowserFlags(fs, "internal/bench/web/render.mjs", "the browser driver", "node_modules with playwright-core (scripts/deps.sh players)")
	logPath := fs.String("log", "", "append the servers' logs to this file (default: discard)")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *clipPath == "" || *out == "":
		return usageErr("-clip and -out are required")
	case *runs < 1 || *nodes < 1 || *consoles < 1 || *window < time.Second || *interval < 100*time.Millisecond || *timeout < time.Second:
		return usageErr("-runs, -nodes and -consoles must be at least 1, -window and -timeout at least 1s, -report-interval at least 100ms")
	}
	exe := *bin
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	if err := browser.check(); err != nil {
		return err
	}
	logw := io.Discard
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
	}
	drv := webDriver{node: *browser.node, script: *browser.script, modules: *browser.modules, chromium: *browser.chromium, stderr: stderr}
	res := &WebResult{Runs: *runs, Nodes: *nodes, ReportIntervalS: interval.Seconds()}

	if err := webSite(ctx, exe, *clipPath, *vodClip, drv, webSpec{Runs: *runs, TimeoutSeconds: timeout.Seconds()}, res, logw, log); err != nil {
		return fmt.Errorf("site: %w", err)
	}
	if err := webConsole(ctx, exe, drv, webSpec{Runs: *runs, TimeoutSeconds: timeout.Seconds()}, *nodes, *consoles, *interval, *window, res, log); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return writeJSON(*out, res)
}

// webStream is the live stream of the site's live page.
const webStream = "live/web"

// webSite measures the site's live page (and watch page) on a `nagare all`.
func webSite(ctx context.Context, exe, clipPath, vodClip string, drv webDriver, spec webSpec, res *WebResult, logw io.Writer, log *slog.Logger) error {
	clip, err := LoadClip(clipPath)
	if err != nil {
		return err
	}
	all, err := startWebAll(exe, logw)
	if err != nil {
		return err
	}
	defer all.stop()
	log.Info("nagare all started", "manager", all.manager, "rtmp", all.rtmp, "vod", all.vodGRPC)

	pctx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pub := &Publisher{URL: "rtmp://" + all.rtmp + "/" + webStream, Clip: clip}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pctx) }()

	spec.Base = "http://" + all.manager
	spec.Pages = []webPage{{Name: "live", Path: "/live/" + webStream, View: "player", Video: true}}
	if vodClip != "" {
		id, err := webVideo(ctx, all.vodGRPC, vodClip)
		if err != nil {
			return err
		}
		res.VideoID = id
		// the site's video calls may not be in this build: then the watch page would only say "not found"
		code, _, _, err := fetch(ctx, newHTTPClient(5*time.Second), spec.Base+"/site/api/videos/"+id)
		switch {
		case err != nil:
			return err
		case code != http.StatusOK:
			res.Skipped = append(res.Skipped, WebSkip{Page: "watch", Reason: fmt.Sprintf(
				"the video was processed, but GET /site/api/videos/%s answered %d: this build's site does not serve videos", id, code)})
		default:
			spec.Pages = append(spec.Pages, webPage{Name: "watch", Path: "/watch/" + id, View: "player", Video: true})
		}
	}
	if err := waitPlayable(ctx, "http://"+all.nodeHTTP+"/"+webStream+"/index.m3u8", 20*time.Second); err != nil {
		return err
	}
	out, err := drv.run(ctx, spec)
	if err != nil {
		return err
	}
	res.Browser = out.Browser
	res.Loads = append(res.Loads, out.Loads...)
	stopPub()
	if err := <-pubDone; err != nil {
		log.Warn("the live stream's publisher failed", "cause", err)
	}
	return nil
}

// webVideo uploads the clip to the VOD service as a public video and waits until it is processed.
func webVideo(ctx context.Context, grpcAddr, file string) (string, error) {
	st, err := os.Stat(file)
	if err != nil {
		return "", err
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	b := &vodBench{conn: conn, client: vodv1.NewVideoServiceClient(conn)}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+mgrBenchToken)
	up, err := b.upload(ctx, file, st.Size(), filepath.Base(file), vodv1.Visibility_VISIBILITY_PUBLIC)
	if err != nil {
		return "", fmt.Errorf("uploading %s: %w", file, err)
	}
	v, err := b.waitProcessed(ctx, up.id, time.Minute)
	if err != nil {
		return "", err
	}
	if v.Status != vodv1.Status_STATUS_READY {
		return "", fmt.Errorf("video %s: %s (%s)", up.id, v.Status, v.Failure)
	}
	return up.id, nil
}

// webConsole measures the console's render and the manager's cost of its live updates on a `nagare
// manager` with n simulated nodes reporting changing loads.
func webConsole(ctx context.Context, exe string, drv webDriver, spec webSpec, n, consoles int, interval, window time.Duration, res *WebResult, log *slog.Logger) error {
	m, err := startBenchManager(ctx, exe, "sqlite", "", interval, log)
	if err != nil {
		return err
	}
	defer m.stop()
	rep, err := m.register(ctx, n)
	if err != nil {
		return err
	}
	rep.vary = true
	repCtx, stopReports := context.WithCancel(ctx)
	defer stopReports()
	go rep.run(repCtx, interval)
	if err := sleepCtx(ctx, 2*interval+500*time.Millisecond); err != nil { // the first round of changing reports
		return err
	}

	spec.Base, spec.Token, spec.SignIn = "http://"+m.addr, mgrBenchToken, true
	spec.Pages = []webPage{{Name: "console", Path: "/console/cluster", View: "node-row", Session: true}}
	out, err := drv.run(ctx, spec)
	if err != nil {
		return err
	}
	res.Browser = out.Browser
	res.Loads = append(res.Loads, out.Loads...)

	for _, c := range []int{0, consoles} {
		run, err := webWatch(ctx, m, rep, c, window)
		if err != nil {
			return err
		}
		log.Info("manager with consoles", "consoles", c, "cpuPercent", run.Usage.CPUPercent,
			"eventsPerSec", run.EventsPerSec, "bytesPerSec", run.BytesPerSec)
		res.Watch = append(res.Watch, run)
	}
	return nil
}

// webWatch meters the manager for window with consoles streams of GET /api/v1/watch open, after each has
// had its first picture.
func webWatch(ctx context.Context, m *benchManager, rep *reporters, consoles int, window time.Duration) (WebWatchRun, error) {
	run := WebWatchRun{Consoles: consoles}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	counters := make([]*sseCounter, consoles)
	var failed atomic.Int64
	encodings := make(chan string, consoles)
	c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer c.CloseIdleConnections()
	for i := range counters {
		counters[i] = &sseCounter{}
		wg.Go(func() {
			enc, _ := watchStream(wctx, c, "http://"+m.addr+"/api/v1/watch", mgrBenchToken, counters[i])
			encodings <- enc
			if wctx.Err() == nil { // the stream ended or failed while it was wanted
				failed.Add(1)
			}
		})
	}
	// every console's first picture (sent on connect once the manager has one), then the window
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return run, err
	}
	sum := func() (ev, b int64) {
		for _, c := range counters {
			ev += c.events.Load()
			b += c.bytes.Load()
		}
		return ev, b
	}
	ev0, b0 := sum()
	rep0, fail0 := rep.sent.Load(), failed.Load()
	u, err := measureFor(ctx, m.cmd.Process.Pid, window)
	if err != nil {
		return run, err
	}
	ev1, b1 := sum()
	run.Usage = u
	run.ReportsPerSec = float64(rep.sent.Load()-rep0) / u.Seconds
	run.ReportErrors = rep.errors.Load()
	run.StreamErrors = failed.Load() - fail0
	if consoles > 0 {
		run.EventsPerSec = float64(ev1-ev0) / u.Seconds / float64(consoles)
		run.BytesPerSec = float64(b1-b0) / u.Seconds / float64(consoles)
	}
	cancel()
	wg.Wait()
	close(encodings)
	for e := range encodings {
		if e != "" {
			run.Encoding = e
		}
	}
	return run, nil
}

// sseCounter counts what a console received of its event stream: the bytes on the wire (before any
// decompression) and the cluster pictures.
type sseCounter struct {
	bytes, events atomic.Int64
}

// count reads an event stream until it ends, counting its "event: cluster" lines.
func (c *sseCounter) count(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	lineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if lineStart && string(line) == "event: cluster\n" {
			c.events.Add(1)
		}
		lineStart = err == nil // a line longer than the buffer: its rest is not a line of its own
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// countingReader counts the bytes read through it into n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// watchStream follows the manager's live updates as a console does (asking for gzip, as browsers do) until
// ctx ends; it returns the stream's Content-Encoding.
func watchStream(ctx context.Context, c *http.Client, url, token string, n *sseCounter) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport leaves the body as sent
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	enc := resp.Header.Get("Content-Encoding")
	if resp.StatusCode != http.StatusOK {
		return enc, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var body io.Reader = countingReader{resp.Body, &n.bytes}
	if enc == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return enc, err
		}
		body = zr
	}
	return enc, n.count(body)
}

// webAll is a `nagare all` on loopback ports it chose itself, with its data in a temporary directory.
type webAll struct {
	cmd                              *exec.Cmd
	done                             chan struct{}
	dir                              string
	manager, rtmp, nodeHTTP, vodGRPC string
}

var (
	allManagerRunning = regexp.MustCompile(`msg="manager running".* address=(\S+)`)
	allNodeRunning    = regexp.MustCompile(`msg="node running".* rtmp=(\S+) .*http=(\S+)`)
	allVODRunning     = regexp.MustCompile(`msg="vod service running".* grpc=(\S+)`)
)

func startWebAll(exe string, logw io.Writer) (*webAll, error) {
	dir, err := os.MkdirTemp("", "nagare-bench-web")
	if err != nil {
		return nil, err
	}
	a := &webAll{dir: dir, done: make(chan struct{})}
	a.cmd = exec.Command(exe, "all", "--data", filepath.Join(dir, "data"))
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NAGARE_") { // no setting of the caller's own nagare
			env = append(env, kv)
		}
	}
	a.cmd.Env = append(env, "NAGARE_LOG_LEVEL=info", "NAGARE_LOG_FORMAT=text",
		"NAGARE_MANAGER_ADDRESS=127.0.0.1:0", "NAGARE_HTTP_ADDRESS=127.0.0.1:0", "NAGARE_RTMP_ADDRESS=127.0.0.1:0",
		"NAGARE_SRT_ADDRESS=127.0.0.1:0", "NAGARE_WEBRTC_ADDRESS=127.0.0.1:0",
		"NAGARE_VOD_GRPC_ADDRESS=127.0.0.1:0", "NAGARE_VOD_HTTP_ADDRESS=127.0.0.1:0",
		"NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED=true", "NAGARE_MANAGER_ADMIN_TOKEN="+mgrBenchToken)
	pipe, err := a.cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	a.cmd.Stdout = logw // the welcome text
	if err := a.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting nagare all: %w", err)
	}
	up := make(chan struct{})
	go func() {
		defer close(a.done)
		sc := bufio.NewScanner(pipe)
		seen := 0
		for sc.Scan() {
			l := sc.Text()
			fmt.Fprintln(logw, l)
			if seen == 3 {
				continue
			}
			if m := allManagerRunning.FindStringSubmatch(l); m != nil {
				a.manager = m[1]
				seen++
			} else if m := allNodeRunning.FindStringSubmatch(l); m != nil {
				a.rtmp, a.nodeHTTP = m[1], m[2]
				seen++
			} else if m := allVODRunning.FindStringSubmatch(l); m != nil {
				a.vodGRPC = m[1]
				seen++
			}
			if seen == 3 {
				close(up)
			}
		}
		_ = a.cmd.Wait()
	}()
	select {
	case <-up:
		return a, nil
	case <-a.done:
		os.RemoveAll(dir)
		return nil, errors.New("nagare all exited before it was running")
	case <-time.After(30 * time.Second):
		a.stop()
		return nil, errors.New("nagare all did not start")
	}
}

func (a *webAll) stop() {
	interrupt(a.cmd, a.done, 15*time.Second)
	os.RemoveAll(a.dir)
}

// webSpec is what render.mjs is asked to load.
type webSpec struct {
	Base           string    `json:"base"`
	Token          string    `json:"token,omitempty"`
	Runs           int       `json:"runs"`
	TimeoutSeconds float64   `json:"timeoutSeconds"`
	SignIn         bool      `json:"signIn,omitempty"`
	Pages          []webPage `json:"pages"`
}

// webPage is a page render.mjs loads: its view is shown when an element with data-testid View is; a page
// with Video waits for its player's first frame too; Session signs in (the console's cookie) first.
type webPage struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	View    string `json:"view"`
	Session bool   `json:"session,omitempty"`
	Video   bool   `json:"video,omitempty"`
}

// webDriverOut is what render.mjs prints.
type webDriverOut struct {
	Browser string    `json:"browser"`
	Loads   []WebLoad `json:"loads"`
}

// parseWebDriverOut reads render.mjs's output and gives each load its page's path.
func parseWebDriverOut(b []byte, pages []webPage) (webDriverOut, error) {
	var out webDriverOut
	if err := json.Unmarshal(bytes.TrimSpace(b), &out); err != nil {
		return out, fmt.Errorf("render.mjs output: %w", err)
	}
	if len(out.Loads) == 0 {
		return out, errors.New("render.mjs output: no page loads")
	}
	for i := range out.Loads {
		for _, p := range pages {
			if p.Name == out.Loads[i].Page {
				out.Loads[i].Path = p.Path
			}
		}
		if out.Loads[i].Page == webSignInPage {
			out.Loads[i].Path = "/console/cluster"
		}
	}
	return out, nil
}

// webSignInPage is render.mjs's name of the sign-in loads.
const webSignInPage = "console-signin"

// webDriver runs render.mjs.
type webDriver struct {
	node, script, modules, chromium string
	stderr                          io.Writer
}

func (d webDriver) run(ctx context.Context, spec webSpec) (webDriverOut, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return webDriverOut{}, err
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, d.node, d.script, "--spec", string(js), "--modules", d.modules, "--chromium", d.chromium)
	// SIGTERM, not SIGKILL: playwright then closes the browser it started
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(&errOut, d.stderr)
	if err := cmd.Run(); err != nil {
		return webDriverOut{}, fmt.Errorf("render.mjs: %w: %s", err, lastLines(errOut.String(), 5))
	}
	return parseWebDriverOut(out.Bytes(), spec.Pages)
}
