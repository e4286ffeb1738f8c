package bench

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what the benchmark reads from wrk's report.
type WrkResult struct {
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	ReqPerSec    float64 `json:"reqPerSec"`
	Non2xx       int64   `json:"non2xx"`
	SocketErrors int64   `json:"socketErrors"`
	LatencyP50Ms float64 `json:"latencyP50Ms"`
	LatencyP99Ms float64 `json:"latencyP99Ms"`
}

// ParseWrk reads the report of `wrk --latency`.
func ParseWrk(out string) (WrkResult, error) {
	var r WrkResult
	haveRate := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 0:
		case f[0] == "Requests/sec:" && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("%w: %q", errWrkOutput, sc.Text())
			}
			r.ReqPerSec, haveRate = v, true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, err1 := strconv.ParseInt(f[0], 10, 64)
			d, err2 := time.ParseDuration(strings.TrimSuffix(f[3], ","))
			if err1 != nil || err2 != nil {
				return r, fmt.Errorf("%w: %q", errWrkOutput, sc.Text())
			}
			r.Requests, r.Seconds = n, d.Seconds()
		case f[0] == "Non-2xx" && len(f) == 5:
			r.Non2xx, _ = strconv.ParseInt(f[4], 10, 64)
		case f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				r.SocketErrors += n
			}
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := time.ParseDuration(f[1])
			if err != nil {
				return r, fmt.Errorf("%w: %q", errWrkOutput, sc.Text())
			}
			if f[0] == "50%" {
				r.LatencyP50Ms = ms(d)
			} else {
				r.LatencyP99Ms = ms(d)
			}
		}
	}
	if !haveRate || r.Seconds == 0 {
		return r, errWrkOutput
	}
	return r, nil
}

// FanoutRun is one wrk run against one URL.
type FanoutRun struct {
	Round   int    `json:"round"`
	Server  string `json:"server"`
	What    string `json:"what"` // segment or playlist
	Bytes   int    `json:"bytes"`
	Conns   int    `json:"conns"`
	Threads int    `json:"threads"`
	WrkResult
	// WrkCPUPercent is wrk's own CPU use over the run, in % of one core.
	WrkCPUPercent float64 `json:"wrkCpuPercent"`
	Usage         Usage   `json:"usage"`
}

// FanoutResult is the output of `nagare bench fanout`.
type FanoutResult struct {
	Runs []FanoutRun `json:"runs"`
}

const (
	staticKind     = "static"
	staticSegment  = "seg.mp4"
	staticPlaylist = "playlist.m3u8"
)

// fanoutTarget is one server to load.
type fanoutTarget struct {
	Name     string // label in the report
	Kind     string // nagare, nginx-rtmp or static
	PID      int
	Playlist string // nagare, nginx-rtmp: the stream's playlist URL
	URL      string // static: base URL of the server; the copies are under /<n>/
	WWW      string // static: directory to put the copies in
	CopyFrom string // static: the playlist URL whose media playlist and live-edge segment are copied
}

// parseTarget reads name=…,kind=…,pid=…,playlist=…|url=…,www=…,copy-from=….
func parseTarget(s string) (fanoutTarget, error) {
	var t fanoutTarget
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return t, fmt.Errorf("target %q: %q is not key=value", s, kv)
		}
		switch k {
		case "name":
			t.Name = v
		case "kind":
			t.Kind = v
		case "pid":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return t, fmt.Errorf("target %q: bad pid", s)
			}
			t.PID = n
		case "playlist":
			t.Playlist = v
		case "url":
			t.URL = strings.TrimSuffix(v, "/")
		case "www":
			t.WWW = v
		case "copy-from":
			t.CopyFrom = v
		default:
			return t, fmt.Errorf("target %q: unknown key %q", s, k)
		}
	}
	switch {
	case t.PID == 0:
		return t, fmt.Errorf("target %q: pid is required", s)
	case t.Kind == staticKind && (t.URL == "" || t.WWW == "" || t.CopyFrom == ""):
		return t, fmt.Errorf("target %q: kind static needs url, www and copy-from", s)
	case t.Kind != staticKind && validKind(t.Kind) != nil:
		return t, fmt.Errorf("target %q: kind must be nagare, nginx-rtmp or static", s)
	case t.Kind != staticKind && t.Playlist == "":
		return t, fmt.Errorf("target %q: playlist is required", s)
	}
	if t.Name == "" {
		t.Name = t.Kind
	}
	return t, nil
}

// runFanout loads every target with every connection count, for the live-edge segment and for the
// media playlist, rounds times. The targets take turns for each combination, so that a change in the
// machine's background load affects them alike.
func runFanout(ctx context.Context, targets []fanoutTarget, conns []int, threads, rounds int, d time.Duration, log *slog.Logger) (*FanoutResult, error) {
	c := newHTTPClient(10 * time.Second)
	defer c.CloseIdleConnections()
	for _, t := range targets {
		if t.Kind != staticKind {
			if err := waitFullWindow(ctx, c, t.Playlist, log); err != nil {
				return nil, err
			}
		}
	}
	res := &FanoutResult{}
	copies := 0
	for round := 1; round <= rounds; round++ {
		if err := fanoutRound(ctx, c, res, round, targets, conns, threads, d, &copies, log); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func fanoutRound(ctx context.Context, c *http.Client, res *FanoutResult, round int, targets []fanoutTarget, conns []int,
	threads int, d time.Duration, copies *int, log *slog.Logger) error {
	for _, what := range []string{"segment", "playlist"} {
		for _, n := range conns {
			for _, t := range targets {
				if t.Kind == staticKind {
					// the bytes a live viewer gets right now, so that static serves what the origin served;
					// new names each time, as nginx caches open files
					*copies++
					if err := copyLiveEdge(ctx, c, t.CopyFrom, t.WWW, *copies); err != nil {
						return err
					}
					t.URL = fmt.Sprintf("%s/%d", t.URL, *copies) // t is this iteration's copy
				}
				u, err := pickURL(ctx, c, t, what)
				if err != nil {
					return err
				}
				code, body, _, err := fetch(ctx, c, u)
				if err != nil || code != http.StatusOK {
					return fmt.Errorf("%s %s: status %d: %w", t.Name, what, code, err)
				}
				run, err := wrk(ctx, t.PID, u, threads, n, d)
				if err != nil {
					return fmt.Errorf("%s %s c%d: %w", t.Name, what, n, err)
				}
				run.Round, run.Server, run.What, run.Bytes = round, t.Name, what, len(body)
				log.Info("fanout", "round", round, "server", t.Name, "what", what, "conns", n, "reqPerSec", run.ReqPerSec,
					"non2xx", run.Non2xx, "cpuPercent", run.Usage.CPUPercent, "othersCpuPercent", run.Usage.OthersCPUPercent)
				res.Runs = append(res.Runs, run)
				// wrk's connections closed and the server's CPU back to its background before the next run
				if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fullWindow is the number of segments a playlist lists once the live window is full (nagare keeps 7
// segments, nginx-rtmp 7 s of 1 s fragments).
const fullWindow = 7

// waitFullWindow waits until the playlist lists a full live window of real segments, so that the
// playlist fetched under load has its steady-state size.
func waitFullWindow(ctx context.Context, c *http.Client, u string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		media, pl, err := liveMediaPlaylist(ctx, c, u)
		if err != nil {
			return err
		}
		real := 0
		for _, s := range pl.Segments {
			if !s.Gap {
				real++
			}
		}
		if real >= fullWindow {
			log.Info("live window full", "playlist", uriPath(media), "segments", real)
			return nil
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %d segments at %s: %w", fullWindow, media, err)
		}
	}
}

// pickURL returns the URL to load: the live-edge segment or the media playlist.
func pickURL(ctx context.Context, c *http.Client, t fanoutTarget, what string) (string, error) {
	if t.Kind == staticKind {
		if what == "segment" {
			return t.URL + "/" + staticSegment, nil
		}
		return t.URL + "/" + staticPlaylist, nil
	}
	media, pl, err := liveMediaPlaylist(ctx, c, t.Playlist)
	if err != nil {
		return "", err
	}
	if what == "playlist" {
		if t.Kind == "nagare" && len(pl.LastSegment().Parts) > 0 {
			// LL-HLS: a player's reload, for a part that exists (the last complete segment's first), which
			// the server answers at once; a plain request is held for the next part (docs/players.md),
			// which would make wrk measure the part rate instead of the server
			return addQuery(media, fmt.Sprintf("_HLS_msn=%d&_HLS_part=0", pl.LastSegment().MSN)), nil
		}
		return media, nil
	}
	return resolve(media, pl.LastSegment().URI)
}

// addQuery appends the query q to the URL u.
func addQuery(u, q string) string {
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

// liveMediaPlaylist follows u to its media playlist and returns it once it lists a segment.
func liveMediaPlaylist(ctx context.Context, c *http.Client, u string) (string, *MediaPlaylist, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	media, err := mediaPlaylistURL(ctx, c, u, 50*time.Millisecond)
	if err != nil {
		return "", nil, err
	}
	for {
		code, body, _, err := fetch(ctx, c, media)
		if err == nil && code == http.StatusOK {
			if pl, err := ParseMediaPlaylist(body); err == nil && pl.LastSegment() != nil {
				return media, pl, nil
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return "", nil, fmt.Errorf("waiting for a segment at %s: %w", media, err)
		}
	}
}

// copyLiveEdge writes the media playlist behind from and its live-edge segment into dir, for a static
// server to serve the same bytes.
func copyLiveEdge(ctx context.Context, c *http.Client, from, www string, n int) error {
	dir := filepath.Join(www, strconv.Itoa(n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	media, pl, err := liveMediaPlaylist(ctx, c, from)
	if err != nil {
		return err
	}
	_, plBody, _, err := fetch(ctx, c, media)
	if err != nil {
		return err
	}
	seg, err := resolve(media, pl.LastSegment().URI)
	if err != nil {
		return err
	}
	code, segBody, _, err := fetch(ctx, c, seg)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("copying %s: status %d: %w", seg, code, err)
	}
	if err := os.WriteFile(filepath.Join(dir, staticPlaylist), plBody, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, staticSegment), segBody, 0o644)
}

// wrk loads u with wrk while metering the server.
func wrk(ctx context.Context, pid int, u string, threads, conns int, d time.Duration, extra ...string) (FanoutRun, error) {
	run := FanoutRun{Conns: conns, Threads: threads}
	wctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	args := []string{"--latency", "-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(int(d.Seconds())) + "s", "--timeout", "5s"}
	cmd := exec.CommandContext(wctx, "wrk", append(append(args, extra...), u)...)
	m, err := startMeter(pid, 250*time.Millisecond)
	if err != nil {
		return run, err
	}
	t0 := time.Now()
	out, werr := cmd.CombinedOutput()
	el := time.Since(t0)
	usage, err := m.stop()
	if werr != nil {
		return run, fmt.Errorf("wrk: %w: %s", werr, out)
	}
	if err != nil {
		return run, err
	}
	if ps := cmd.ProcessState; ps != nil {
		run.WrkCPUPercent = 100 * (ps.UserTime() + ps.SystemTime()).Seconds() / el.Seconds()
	}
	r, err := ParseWrk(string(out))
	if err != nil {
		return run, fmt.Errorf("%w\n%s", err, out)
	}
	run.WrkResult, run.Usage = r, usage
	return run, nil
}
