package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/webrtc/client"
	"github.com/nagare-video/nagare/internal/nodestats"
)

// WHEP viewers an edge holds: `nagare bench webrtc` opens pion WHEP viewers (client.Watch) of one stream
// at an edge, a step of them at a time, holds each step for a window and measures the loss the viewers
// see, the edge's CPU and RSS, and how busy the machine is, the viewers running on it too. It stops at
// the first step with more than the allowed loss, a saturated machine or viewers that could not join.

// targetViewersPerCore is the target: WHEP viewers per server core.
const targetViewersPerCore = 1000.0

// saturatedPercent is how busy all the machine's CPUs must be, in % of their total, for a window to count
// as saturated.
const saturatedPercent = 95.0

// WebRTCLoadStep is one step's window.
type WebRTCLoadStep struct {
	Viewers    int     `json:"viewers"`    // sessions open during the window
	Added      int     `json:"added"`      // viewers this step tried to add
	JoinFailed int     `json:"joinFailed"` // of those, viewers with no keyframe within the join timeout
	JoinS      float64 `json:"joinS"`      // time to open the step's sessions and get their first keyframes
	WindowS    float64 `json:"windowS"`
	// Received counts the viewers' RTP packets (video and audio) in the window, Lost the sequence numbers
	// they missed (client.Viewer: a gap counts when a later packet arrives, a retransmission that fills it
	// later does not take it back), Bytes their payload bytes.
	Received uint64 `json:"received"`
	Lost     uint64 `json:"lost"`
	Bytes    uint64 `json:"bytes"`
	// WorstLossPercent is the highest loss of one viewer; Stalled counts viewers that received less than
	// half the packets of the median viewer.
	WorstLossPercent float64 `json:"worstLossPercent"`
	Stalled          int     `json:"stalled"`
	MinViewerKbps    float64 `json:"minViewerKbps"`
	Edge             Usage   `json:"edge"`
	Origin           *Usage  `json:"origin,omitempty"`
	// ClientsCPUPercent is this process's (every viewer's) CPU in % of one core; MachineBusyPercent is
	// the whole machine's, in % of all its CPUs.
	ClientsCPUPercent  float64 `json:"clientsCpuPercent"`
	MachineBusyPercent float64 `json:"machineBusyPercent"`
	EdgeSessions       int     `json:"edgeSessions"` // nagare_webrtc_viewers of the edge at the window's end (-1: unknown)
}

// LossPercent is the step's loss: lost ÷ (received + lost), in %.
func (s WebRTCLoadStep) LossPercent() float64 { return lossPercent(s.Received, s.Lost) }

// ViewerKbps is what a viewer received on average, in kbit/s of RTP payload.
func (s WebRTCLoadStep) ViewerKbps() float64 {
	if s.Viewers == 0 || s.WindowS == 0 {
		return 0
	}
	return float64(s.Bytes) * 8 / 1000 / s.WindowS / float64(s.Viewers)
}

// lossPercent is lost ÷ (received + lost) in %, 0 when nothing was expected.
func lossPercent(received, lost uint64) float64 {
	if received+lost == 0 {
		return 0
	}
	return 100 * float64(lost) / float64(received+lost)
}

// perCore is how many viewers one core holds at cpuPercent (% of one core) for viewers: 0 when no CPU was
// measured.
func perCore(viewers int, cpuPercent float64) float64 {
	if cpuPercent <= 0 {
		return 0
	}
	return float64(viewers) / (cpuPercent / 100)
}

// saturated reports whether the machine's CPUs were saturated during the step's window.
func (s WebRTCLoadStep) saturated() bool { return s.MachineBusyPercent >= saturatedPercent }

// stopReason says why the load stops after the last of steps ("" to go on). A machine saturated in one
// window may be another process's burst: the load stops when two windows in a row were.
func stopReason(steps []WebRTCLoadStep, maxLoss float64, maxViewers int) string {
	s := steps[len(steps)-1]
	switch {
	case s.JoinFailed > 0:
		return fmt.Sprintf("%d of the step's %d new viewers got no keyframe in time", s.JoinFailed, s.Added)
	case s.LossPercent() > maxLoss:
		return fmt.Sprintf("loss %.2f %% above %s %%", s.LossPercent(), num(maxLoss))
	case s.saturated() && len(steps) >= 2 && steps[len(steps)-2].saturated():
		return fmt.Sprintf("the machine's CPUs were saturated (≥ %.0f %% busy) in two windows in a row", saturatedPercent)
	case s.Viewers >= maxViewers:
		return fmt.Sprintf("reached -max %d viewers", maxViewers)
	}
	return ""
}

// WebRTCLoadResult is what `nagare bench webrtc` measured.
type WebRTCLoadResult struct {
	phaseRun
	Stream         string           `json:"stream"`
	Step           int              `json:"step"`
	HoldS          float64          `json:"holdS"`
	SettleS        float64          `json:"settleS"`
	MaxLossPercent float64          `json:"maxLossPercent"`
	MaxViewers     int              `json:"maxViewers"`
	CPUs           int              `json:"cpus"`
	EdgeIdle       Usage            `json:"edgeIdle"` // before the first viewer (no upstream session yet)
	Steps          []WebRTCLoadStep `json:"steps"`
	Stop           string           `json:"stop"`
}

// best returns the last step within the loss limit whose viewers all joined, and whether there is one.
func (r *WebRTCLoadResult) best() (WebRTCLoadStep, bool) {
	for i := len(r.Steps) - 1; i >= 0; i-- {
		s := r.Steps[i]
		if s.JoinFailed == 0 && s.LossPercent() <= r.MaxLossPercent {
			return s, true
		}
	}
	return WebRTCLoadStep{}, false
}

// newLoadAPI is client.NewAPI with candidates on loopback only: one socket a viewer.
func newLoadAPI() (*webrtc.API, error) {
	return client.NewAPI(func(se *webrtc.SettingEngine) {
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	})
}

// loadViewer is a viewer with its counters at the start of the window.
type loadViewer struct {
	*client.Viewer
	recv0, lost0, bytes0 uint64
}

func (v *loadViewer) counts() (recv, lost, bytes uint64) {
	return v.VideoPackets.Load() + v.AudioPackets.Load(), v.Lost.Load(), v.Bytes.Load()
}

func cmdWebRTC(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("webrtc", stderr)
	edge := fs.String("edge", "", "HTTP base URL of the edge the viewers watch")
	streamPath := fs.String("stream", "live/load", "the stream (app/name), already published")
	edgePID := fs.Int("edge-pid", 0, "pid of the edge")
	originPID := fs.Int("origin-pid", 0, "pid of the origin, to meter it too (optional)")
	step := fs.Int("step", 25, "viewers added at each step")
	hold := fs.Duration("hold", 10*time.Second, "measurement window of each step")
	settle := fs.Duration("settle", 2*time.Second, "time between a step's last viewer joining and its window")
	maxViewers := fs.Int("max", 2000, "stop at this many viewers")
	maxLoss := fs.Float64("loss", 1, "stop after a step whose loss is above this, in %")
	budget := fs.Duration("budget", 4*time.Minute, "add no step that would end after this much time")
	joinTimeout := fs.Duration("join-timeout", 15*time.Second, "longest a new viewer may take to get its first keyframe")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *edge == "" || *edgePID <= 0 || *out == "" || *step < 1 || *hold < time.Second || *maxViewers < 1 {
		return usageErr("-edge, -edge-pid and -out are required, -step and -max at least 1, -hold at least 1s")
	}
	endpoint := strings.TrimSuffix(*edge, "/") + "/" + strings.Trim(*streamPath, "/") + "/whep"
	api, err := newLoadAPI()
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	res := &WebRTCLoadResult{
		Stream: *streamPath, Step: *step, HoldS: hold.Seconds(), SettleS: settle.Seconds(), MaxLossPercent: *maxLoss,
		MaxViewers: *maxViewers, CPUs: runtime.NumCPU(),
	}
	var began time.Time
	res.phaseRun, began = startPhaseRun()
	if res.EdgeIdle, err = measureFor(ctx, *edgePID, 2*time.Second); err != nil {
		return err
	}
	if err := waitWHEP(ctx, api, hc, endpoint, 20*time.Second); err != nil {
		return err
	}
	var viewers []*loadViewer
	defer func() { closeViewers(viewers) }()
	var lastStep time.Duration
	for {
		stepStart := time.Now()
		if time.Since(began)+lastStep > *budget && len(res.Steps) > 0 {
			res.Stop = fmt.Sprintf("time budget (%s) spent", *budget)
			break
		}
		n := min(*step, *maxViewers-len(viewers))
		joined, failed := joinViewers(ctx, api, hc, endpoint, n, *joinTimeout)
		viewers = append(viewers, joined...)
		st := WebRTCLoadStep{Added: n, JoinFailed: failed, JoinS: time.Since(stepStart).Seconds()}
		if err := sleepCtx(ctx, *settle); err != nil {
			return err
		}
		if err := measureStep(ctx, &st, viewers, *edgePID, *originPID, *hold, *edge); err != nil {
			return err
		}
		res.Steps = append(res.Steps, st)
		log.Info("webrtc load step", "viewers", st.Viewers, "loss%", fmt.Sprintf("%.3f", st.LossPercent()),
			"edgeCPU%", fmt.Sprintf("%.1f", st.Edge.CPUPercent), "clientsCPU%", fmt.Sprintf("%.0f", st.ClientsCPUPercent),
			"machineBusy%", fmt.Sprintf("%.0f", st.MachineBusyPercent), "joinFailed", st.JoinFailed)
		if res.Stop = stopReason(res.Steps, *maxLoss, *maxViewers); res.Stop != "" {
			break
		}
		lastStep = time.Since(stepStart)
	}
	closeViewers(viewers)
	viewers = nil
	res.end(began)
	if err := writeJSON(*out, res); err != nil {
		return err
	}
	if b, ok := res.best(); ok {
		fmt.Fprintf(stdout, "%d WHEP viewers within %s %% loss: edge %.1f %% of a core, %.0f viewers per edge core; stopped: %s\n",
			b.Viewers, num(*maxLoss), b.Edge.CPUPercent, perCore(b.Viewers, b.Edge.CPUPercent), res.Stop)
	} else {
		fmt.Fprintf(stdout, "no step within %s %% loss; stopped: %s\n", num(*maxLoss), res.Stop)
	}
	return nil
}

// waitWHEP waits until endpoint answers an offer (the stream is live at the edge) and a keyframe comes.
func waitWHEP(ctx context.Context, api *webrtc.API, hc *http.Client, endpoint string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		v, err := client.Watch(ctx, api, hc, endpoint)
		if err == nil {
			for v.FirstKeyframe() == 0 && ctx.Err() == nil {
				_ = sleepCtx(ctx, 20*time.Millisecond)
			}
			_ = v.Close(context.Background())
			if ctx.Err() == nil {
				return nil
			}
		}
		if sleepCtx(ctx, 200*time.Millisecond) != nil {
			return fmt.Errorf("%s did not play within %s (last: %v)", endpoint, limit, err)
		}
	}
}

// joinViewers opens n viewers at once and waits for each one's first keyframe; those without one in time
// are closed and counted as failed.
func joinViewers(ctx context.Context, api *webrtc.API, hc *http.Client, endpoint string, n int, limit time.Duration) ([]*loadViewer, int) {
	var mu sync.Mutex
	var joined []*loadViewer
	failed := 0
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			jctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			v, err := client.Watch(jctx, api, hc, endpoint)
			for err == nil && v.FirstKeyframe() == 0 {
				if err = sleepCtx(jctx, 20*time.Millisecond); err != nil {
					_ = v.Close(context.Background())
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			joined = append(joined, &loadViewer{Viewer: v})
		})
	}
	wg.Wait()
	return joined, failed
}

func closeViewers(vs []*loadViewer) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, v := range vs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = v.Close(ctx)
		})
	}
	wg.Wait()
}

// measureStep meters the edge, the origin, this process and the machine over a window of hold, and
// counts what the viewers received in it.
func measureStep(ctx context.Context, st *WebRTCLoadStep, viewers []*loadViewer, edgePID, originPID int, hold time.Duration, edge string) error {
	for _, v := range viewers {
		v.recv0, v.lost0, v.bytes0 = v.counts()
	}
	edgeMeter, err := startMeter(edgePID, 250*time.Millisecond)
	if err != nil {
		return err
	}
	var originMeter *meter
	if originPID > 0 {
		if originMeter, err = startMeter(originPID, time.Second); err != nil {
			return err
		}
	}
	self0, _, _ := nodestats.Process(os.Getpid())
	busy0, total0 := cpuTimes()
	t0 := time.Now()
	werr := sleepCtx(ctx, hold)
	st.WindowS = time.Since(t0).Seconds()
	busy1, total1 := cpuTimes()
	self1, _, _ := nodestats.Process(os.Getpid())
	if st.Edge, err = edgeMeter.stop(); err != nil {
		return err
	}
	if originMeter != nil {
		u, err := originMeter.stop()
		if err != nil {
			return err
		}
		st.Origin = &u
	}
	if werr != nil {
		return werr
	}
	st.ClientsCPUPercent = 100 * (self1 - self0) / st.WindowS
	if total1 > total0 {
		st.MachineBusyPercent = 100 * (busy1 - busy0) / (total1 - total0)
	}
	st.Viewers = len(viewers)
	packets := make([]float64, 0, len(viewers))
	st.MinViewerKbps = -1
	for _, v := range viewers {
		recv, lost, bytes := v.counts()
		recv, lost, bytes = recv-v.recv0, lost-v.lost0, bytes-v.bytes0
		st.Received += recv
		st.Lost += lost
		st.Bytes += bytes
		st.WorstLossPercent = max(st.WorstLossPercent, lossPercent(recv, lost))
		packets = append(packets, float64(recv))
		kbps := float64(bytes) * 8 / 1000 / st.WindowS
		if st.MinViewerKbps < 0 || kbps < st.MinViewerKbps {
			st.MinViewerKbps = kbps
		}
	}
	st.Stalled = stalled(packets)
	st.EdgeSessions = metricValue(edge, "nagare_webrtc_viewers")
	return nil
}

// stalled counts the viewers that received less than half the packets of the median viewer.
func stalled(packets []float64) int {
	if len(packets) == 0 {
		return 0
	}
	med := Percentile(slices.Sorted(slices.Values(packets)), 50)
	n := 0
	for _, p := range packets {
		if p < med/2 {
			n++
		}
	}
	return n
}

// cpuTimes returns the machine's busy and total CPU time from /proc/stat, in ticks (iowait counts as idle).
func cpuTimes() (busy, total float64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	return parseCPULine(sc.Text())
}

// parseCPULine reads the "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal ...
// (guest time is already in user).
func parseCPULine(line string) (busy, total float64) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, 0
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// metricValue reads a gauge from a node's /metrics (-1 when it cannot).
func metricValue(base, name string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, ok := metric(ctx, base, name)
	if !ok {
		return -1
	}
	return int(v)
}

// metric reads a sample without labels from a node's /metrics at base (ok false when it cannot).
func metric(ctx context.Context, base, name string) (float64, bool) {
	c := newHTTPClient(5 * time.Second)
	defer c.CloseIdleConnections()
	code, body, _, err := fetch(ctx, c, strings.TrimSuffix(base, "/")+"/metrics")
	if err != nil || code != http.StatusOK {
		return 0, false
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
