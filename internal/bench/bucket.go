package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/media/hlspush"
)

// Bucket polling: every probeEvery while an object is young, every probeSlowEvery once it has been
// awaited for probeSlowAfter, so that a slow uploader (the watcher takes seconds) is not hammered with
// hundreds of requests per second that would also slow the gateway down for the other approach. The
// error this adds is below 3 % of any lag it applies to.
const (
	probeEvery     = 5 * time.Millisecond
	probeSlowAfter = time.Second
	probeSlowEvery = 25 * time.Millisecond
)

// cmdBucket measures how soon live HLS is readable from object storage: nagare's push against a watcher
// (inotifywait + aws s3 sync) over nginx-rtmp's HLS directory, on the same clip, bucket and run.
// scripts/bench.sh starts the gateway, the servers and the watcher.
func cmdBucket(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("bucket", stderr)
	rtmp := fs.String("rtmp", "", "nagare origin's RTMP base URL including the application, e.g. rtmp://127.0.0.1:1935/live")
	httpBase := fs.String("http", "", "nagare origin's HTTP base URL, e.g. http://127.0.0.1:8080")
	bucketURL := fs.String("bucket-url", "", "public base URL of the bucket, e.g. http://127.0.0.1:7070/nagare-bench")
	pushPrefix := fs.String("push-prefix", "live", "the origin's push prefix (NAGARE_PUSH_PREFIX)")
	watchRTMP := fs.String("watch-rtmp", "", "nginx-rtmp's RTMP base URL including the application (empty: measure nagare only)")
	watchDir := fs.String("watch-dir", "", "nginx-rtmp's hls_path, which the watcher mirrors into the bucket")
	watchPrefix := fs.String("watch-prefix", "watch", "where in the bucket the watcher mirrors hls_path")
	watchLog := fs.String("watch-log", "", "the watcher's log, a line \"start end\" (Unix seconds) per sync (optional)")
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264 + AAC)")
	d := fs.Duration("duration", 45*time.Second, "measurement window")
	warmup := fs.Duration("warmup", 5*time.Second, "objects completed this soon after the publishers started are not counted")
	giveUp := fs.Duration("give-up", 10*time.Second, "an object not readable this long after it was complete counts as never readable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rtmp == "" || *httpBase == "" || *bucketURL == "" || *clipPath == "" {
		return usageErr("-rtmp, -http, -bucket-url and -clip are required")
	}
	if (*watchRTMP == "") != (*watchDir == "") {
		return usageErr("-watch-rtmp and -watch-dir go together")
	}
	if *d < time.Second || *giveUp < time.Second || *warmup < 0 {
		return usageErr("-duration and -give-up must be at least 1s, -warmup not negative")
	}
	u, err := url.Parse(*rtmp)
	if err != nil || strings.Trim(u.Path, "/") == "" {
		return usageErr("-rtmp: want rtmp://host:port/app, not %q", *rtmp)
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}
	spec := bucketSpec{
		Origin:     server{Kind: KindNagare, RTMP: strings.TrimSuffix(*rtmp, "/"), HTTP: strings.TrimSuffix(*httpBase, "/")},
		App:        path.Base(strings.Trim(u.Path, "/")),
		BucketURL:  strings.TrimSuffix(*bucketURL, "/"),
		PushPrefix: strings.Trim(*pushPrefix, "/"), Clip: clip,
		Warmup: *warmup, Duration: *d, GiveUp: *giveUp,
	}
	if *watchRTMP != "" {
		spec.Watch = &watchSpec{RTMP: strings.TrimSuffix(*watchRTMP, "/"), Dir: *watchDir, Prefix: strings.Trim(*watchPrefix, "/")}
	}
	res, err := runBucket(ctx, spec, log)
	if err != nil {
		return err
	}
	if *watchLog != "" {
		b, err := os.ReadFile(*watchLog)
		if err != nil {
			return fmt.Errorf("reading the watcher's log: %w", err)
		}
		res.Syncs = syncDurations(b, res.From, res.To)
	}
	renderBucket(stdout, res)
	return nil
}

type bucketSpec struct {
	Origin     server
	App        string // the origin application the stream is published to
	BucketURL  string
	PushPrefix string
	Watch      *watchSpec // nil: nagare only
	Clip       *Clip
	Warmup     time.Duration
	Duration   time.Duration
	GiveUp     time.Duration
}

// watchSpec is the watcher side: nginx-rtmp writing HLS into Dir, a watcher mirroring Dir under Prefix.
type watchSpec struct {
	RTMP, Dir, Prefix string
}

// hlsObject is a part or segment, known by its file name: a pushed object's key ends with the name the
// origin's playlist gives it, whatever the URI's directory or query.
type hlsObject struct {
	Name string
	Part bool
}

func objectName(uri string) string { return path.Base(uriPath(uri)) }

// playlistObjects lists the segments (gaps excepted) and the complete parts that pl names.
func playlistObjects(pl *MediaPlaylist) []hlsObject {
	var out []hlsObject
	add := func(uri string, part bool) {
		if n := objectName(uri); n != "" && n != "." && n != "/" {
			out = append(out, hlsObject{Name: n, Part: part})
		}
	}
	for _, s := range pl.Segments {
		for _, p := range s.Parts {
			add(p.URI, true)
		}
		if !s.Gap {
			add(s.URI, false)
		}
	}
	for _, p := range pl.Parts {
		add(p.URI, true)
	}
	return out
}

// objectTimes is when one object was complete at its source and first readable from the bucket.
type objectTimes struct {
	Part     bool
	Complete time.Time
	Readable time.Time // zero: not (yet) readable
}

// availability records, per object name, when each object was complete at its source, readable from
// the bucket and first named by the bucket's playlist.
type availability struct {
	mu      sync.Mutex
	objects map[string]*objectTimes
	named   map[string]time.Time
	// firstComplete and anyReadable tell a push that works from one that uploads nothing.
	firstComplete time.Time
	anyReadable   bool
}

func newAvailability() *availability {
	return &availability{objects: map[string]*objectTimes{}, named: map[string]time.Time{}}
}

// complete records that o was complete at; it reports false if o was already known.
func (a *availability) complete(o hlsObject, at time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.objects[o.Name]; ok {
		return false
	}
	a.objects[o.Name] = &objectTimes{Part: o.Part, Complete: at}
	if a.firstComplete.IsZero() {
		a.firstComplete = at
	}
	return true
}

func (a *availability) readable(name string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := a.objects[name]; t != nil && t.Readable.IsZero() {
		t.Readable = at
		a.anyReadable = true
	}
}

// name records the objects the bucket's playlist named at.
func (a *availability) name(objs []hlsObject, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range objs {
		if _, ok := a.named[o.Name]; !ok {
			a.named[o.Name] = at
		}
	}
}

// silent reports whether objects have been complete for longer than d and none became readable.
func (a *availability) silent(now time.Time, d time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.firstComplete.IsZero() && !a.anyReadable && now.Sub(a.firstComplete) > d
}

// bucketLags are the availability lags of one kind of object.
type bucketLags struct {
	N int // objects complete in the window
	// Readable and Named are bucket-readable − complete and named by the bucket's playlist − complete.
	Readable, Named       []time.Duration
	NotReadable, NotNamed int
}

// lags returns the lags of the parts (or segments) complete in [from, to).
func (a *availability) lags(part bool, from, to time.Time) bucketLags {
	a.mu.Lock()
	defer a.mu.Unlock()
	var l bucketLags
	for name, t := range a.objects {
		if t.Part != part || t.Complete.Before(from) || !t.Complete.Before(to) {
			continue
		}
		l.N++
		if t.Readable.IsZero() {
			l.NotReadable++
		} else {
			l.Readable = append(l.Readable, t.Readable.Sub(t.Complete))
		}
		if at, ok := a.named[name]; ok {
			l.Named = append(l.Named, at.Sub(t.Complete))
		} else {
			l.NotNamed++
		}
	}
	return l
}

// pending counts the objects complete in [from, to) that are not readable yet, or (segments) not named
// by the bucket's playlist yet.
func (a *availability) pending(from, to time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for name, t := range a.objects {
		if t.Complete.Before(from) || !t.Complete.Before(to) {
			continue
		}
		if _, named := a.named[name]; t.Readable.IsZero() || (!t.Part && !named) {
			n++
		}
	}
	return n
}

// probe asks the bucket for u until it holds the object whole (size bytes; size < 0: any size) and
// returns when the answer came, or false when ctx ends first. HEAD, because the object's existence and
// length are what is measured, not the transfer of its body.
func probe(ctx context.Context, c *http.Client, u string, size int64) (time.Time, bool) {
	start := time.Now()
	for {
		t := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return time.Time{}, false
		}
		if resp, err := c.Do(req); err == nil {
			at := time.Now()
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && (size < 0 || resp.ContentLength == size) {
				return at, true
			}
		}
		every := probeEvery
		if t.Sub(start) > probeSlowAfter {
			every = probeSlowEvery
		}
		if sleepCtx(ctx, time.Until(t.Add(every))) != nil {
			return time.Time{}, false
		}
	}
}

// pollObjects fetches a playlist every probeEvery until ctx ends and reports what it names.
func pollObjects(ctx context.Context, c *http.Client, u string, onList func([]hlsObject, time.Time)) {
	for ctx.Err() == nil {
		t := time.Now()
		code, body, at, err := fetch(ctx, c, u)
		if err == nil && code == http.StatusOK {
			if pl, err := ParseMediaPlaylist(body); err == nil {
				onList(playlistObjects(pl), at)
			}
		}
		if sleepCtx(ctx, time.Until(t.Add(probeEvery))) != nil {
			return
		}
	}
}

// followObjects follows an LL-HLS media playlist with blocking reloads and reports each part and segment
// the moment the server first lists it, which is when it is complete. What the first playlist already
// lists was complete at an unknown time and is not reported.
func followObjects(ctx context.Context, c *http.Client, u string, onNew func(hlsObject, time.Time)) {
	seen := map[string]bool{}
	primed := false
	block(ctx, c, u, func(pl *MediaPlaylist, at time.Time) {
		for _, o := range playlistObjects(pl) {
			if !seen[o.Name] {
				seen[o.Name] = true
				if primed {
					onNew(o, at)
				}
			}
		}
		primed = true
	})
}

// watchClosed runs inotifywait on dir and calls onClosed with the name of each file closed after
// writing, at the time inotifywait reported it. It returns once the watch is established; the watch
// ends with ctx, and wait returns when inotifywait has exited.
func watchClosed(ctx context.Context, dir string, onClosed func(name string, at time.Time)) (wait func(), err error) {
	cmd := exec.CommandContext(ctx, "inotifywait", "-m", "-e", "close_write", "--format", "%e %f", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting inotifywait (scripts/deps.sh bench installs it): %w", err)
	}
	ready := make(chan struct{})
	var stderrDone sync.WaitGroup
	stderrDone.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Watches established") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	})
	var stdoutDone sync.WaitGroup
	stdoutDone.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			at := time.Now()
			if name, ok := parseCloseWrite(sc.Text()); ok {
				onClosed(name, at)
			}
		}
	})
	wait = func() {
		stdoutDone.Wait()
		stderrDone.Wait()
		_ = cmd.Wait()
	}
	select {
	case <-ready:
		return wait, nil
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	wait()
	return nil, fmt.Errorf("inotifywait did not establish its watch on %s", dir)
}

// parseCloseWrite reads a line of `inotifywait --format '%e %f'` and returns the file of a close_write.
func parseCloseWrite(line string) (string, bool) {
	events, name, ok := strings.Cut(line, " ")
	if !ok || name == "" || !slices.Contains(strings.Split(events, ","), "CLOSE_WRITE") {
		return "", false
	}
	return name, true
}

// syncDurations reads the watcher's log (a line "start end" in Unix seconds per sync) and returns how
// long the syncs that started in [from, to) took.
func syncDurations(log []byte, from, to time.Time) []time.Duration {
	var out []time.Duration
	for _, line := range strings.Split(string(log), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		s, err1 := strconv.ParseFloat(f[0], 64)
		e, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil || e < s {
			continue
		}
		start := time.Unix(0, int64(s*1e9))
		if start.Before(from) || !start.Before(to) {
			continue
		}
		out = append(out, time.Duration((e-s)*1e9))
	}
	return out
}

// bucketResult is what `nagare bench bucket` measured.
type bucketResult struct {
	Stream         string
	Warmup         time.Duration
	From, To       time.Time
	NagareParts    bucketLags
	NagareSegments bucketLags
	Watch          *bucketLags // nil: the watcher was not measured
	Syncs          []time.Duration
}

func runBucket(ctx context.Context, s bucketSpec, log *slog.Logger) (*bucketResult, error) {
	stream := streamName("bucket-")
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The bucket and the origin get separate clients: blocking reloads hold connections.
	bucket := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}
	defer bucket.CloseIdleConnections()
	origin := newHTTPClient(10 * time.Second)
	defer origin.CloseIdleConnections()

	nagare := newAvailability()
	pushBase := s.BucketURL + "/" + path.Join(s.PushPrefix, s.App, stream) + "/"
	var watch *availability
	var watchBase string

	var probes sync.WaitGroup
	startProbe := func(a *availability, name, u string, size int64) {
		probes.Go(func() {
			pctx, stop := context.WithTimeout(ctx, s.GiveUp)
			defer stop()
			if at, ok := probe(pctx, bucket, u, size); ok {
				a.readable(name, at)
			}
		})
	}

	// the sources: the origin's playlist and nginx-rtmp's directory, until the window ends
	octx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	var sources sync.WaitGroup
	if s.Watch != nil {
		watch = newAvailability()
		watchBase = s.BucketURL + "/" + s.Watch.Prefix + "/"
		wait, err := watchClosed(octx, s.Watch.Dir, func(name string, at time.Time) {
			// nginx-rtmp names fragments <stream>-<n>.ts and rewrites its playlist by renaming
			if !strings.HasPrefix(name, stream+"-") || !strings.HasSuffix(name, ".ts") {
				return
			}
			fi, err := os.Stat(filepath.Join(s.Watch.Dir, name))
			if err != nil {
				return // gone already: not counted
			}
			if watch.complete(hlsObject{Name: name}, at) {
				startProbe(watch, name, watchBase+name, fi.Size())
			}
		})
		if err != nil {
			return nil, err
		}
		sources.Go(wait)
	}

	pubs := []*Publisher{{URL: s.Origin.publishURL(stream), Clip: s.Clip}}
	if s.Watch != nil {
		pubs = append(pubs, &Publisher{URL: s.Watch.RTMP + "/" + stream, Clip: s.Clip})
	}
	pctx, stopPubs := context.WithCancel(ctx)
	defer stopPubs()
	pubDone := make(chan error, len(pubs))
	t0 := time.Now()
	for _, p := range pubs {
		go func() {
			err := p.Run(pctx)
			if pctx.Err() == nil {
				if err == nil {
					err = errors.New("the publication ended")
				}
				err = fmt.Errorf("publishing to %s stopped early: %w", p.URL, err)
				cancel(err)
			}
			pubDone <- err
		}()
	}
	from := t0.Add(s.Warmup)
	to := from.Add(s.Duration)
	log.Info("publishing", "stream", stream, "servers", len(pubs), "window", s.Duration)

	sources.Go(func() {
		wctx, stop := context.WithTimeout(octx, 15*time.Second)
		media, err := mediaPlaylistURL(wctx, origin, s.Origin.playlistURL(stream), probeEvery)
		stop()
		if err != nil {
			if octx.Err() == nil {
				cancel(fmt.Errorf("the origin: %w", err))
			}
			return
		}
		followObjects(octx, origin, media, func(o hlsObject, at time.Time) {
			if nagare.complete(o, at) {
				startProbe(nagare, o.Name, pushBase+o.Name, -1)
			}
		})
	})

	// the bucket's playlists, until every object counted is named or given up on
	lctx, stopLists := context.WithCancel(ctx)
	defer stopLists()
	var lists sync.WaitGroup
	lists.Go(func() {
		pollObjects(lctx, bucket, pushBase+hlspush.MediaPlaylist, func(o []hlsObject, at time.Time) { nagare.name(o, at) })
	})
	if s.Watch != nil {
		lists.Go(func() {
			pollObjects(lctx, bucket, watchBase+stream+".m3u8", func(o []hlsObject, at time.Time) { watch.name(o, at) })
		})
	}

	// fail fast when a side uploads nothing at all, rather than probe for the whole window
	check := time.NewTicker(250 * time.Millisecond)
	defer check.Stop()
window:
	for {
		select {
		case <-ctx.Done():
			break window
		case now := <-check.C:
			if !now.Before(to) {
				break window
			}
			if nagare.silent(now, s.GiveUp) {
				cancel(fmt.Errorf("no object the origin completed became readable at %s within %s: is the "+
					"origin pushing (NAGARE_PUSH_ENABLED, NAGARE_STORAGE_*) and the bucket public?", pushBase, s.GiveUp))
			}
			if watch != nil && watch.silent(now, s.GiveUp) {
				cancel(fmt.Errorf("no segment nginx-rtmp completed became readable at %s within %s: is the watcher running?", watchBase, s.GiveUp))
			}
		}
	}
	stopSources()
	sources.Wait()
	probes.Wait()
	for deadline := time.Now().Add(s.GiveUp); ctx.Err() == nil && time.Now().Before(deadline); {
		if nagare.pending(from, to) == 0 && (watch == nil || watch.pending(from, to) == 0) {
			break
		}
		_ = sleepCtx(ctx, 50*time.Millisecond)
	}
	stopLists()
	lists.Wait()
	stopPubs()
	var errs []error
	for range pubs {
		errs = append(errs, <-pubDone)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	res := &bucketResult{
		Stream: s.App + "/" + stream, Warmup: s.Warmup, From: from, To: to,
		NagareParts: nagare.lags(true, from, to), NagareSegments: nagare.lags(false, from, to),
	}
	if watch != nil {
		l := watch.lags(false, from, to)
		res.Watch = &l
	}
	log.Info("bucket measured", "stream", res.Stream, "parts", res.NagareParts.N, "segments", res.NagareSegments.N)
	if res.NagareSegments.N == 0 {
		return nil, fmt.Errorf("the origin completed no segment of %s in the window", res.Stream)
	}
	return res, nil
}

// Targets of docs/benchmarks.md section 8.
const (
	bucketPartP95Target = 150.0 // ms, parts readable from the bucket on loopback
	bucketRatioTarget   = 10.0  // the watcher's lag over nagare's, segments
)

// renderBucket writes the result as Markdown tables.
func renderBucket(w io.Writer, r *bucketResult) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("| approach | object | objects | readable from the bucket: median ms | p95 ms | max ms | named by the bucket's playlist: median ms | p95 ms | never readable / never named | target |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	row := func(approach, object string, l bucketLags, target string) {
		rd, nm := Summarize(l.Readable), Summarize(l.Named)
		named := fmt.Sprintf("%s | %s", msCell(nm.Median, nm.N), msCell(nm.P95, nm.N))
		notNamed := strconv.Itoa(l.NotNamed)
		if nm.N == 0 && object == "part" {
			named, notNamed = "not listed | –", "–" // a classic playlist lists whole segments only
		}
		p("| %s | %s | %d | %s | %s | %s | %s | %d / %s | %s |\n", approach, object, l.N,
			msCell(rd.Median, rd.N), msCell(rd.P95, rd.N), msCell(rd.Max, rd.N), named, l.NotReadable, notNamed, target)
	}
	parts := Summarize(r.NagareParts.Readable)
	row("nagare push", "part", r.NagareParts, "p95 ≤ 150 ms: "+verdictCell(parts.N > 0 && r.NagareParts.NotReadable == 0 &&
		parts.P95 <= bucketPartP95Target, fmt.Sprintf("%s ms, %d never readable", msCell(parts.P95, parts.N), r.NagareParts.NotReadable)))
	row("nagare push", "segment", r.NagareSegments, "–")
	if r.Watch != nil {
		row("watcher: inotifywait + aws s3 sync", "segment", *r.Watch, "–")
		nr, wr := Summarize(r.NagareSegments.Readable), Summarize(r.Watch.Readable)
		nn, wn := Summarize(r.NagareSegments.Named), Summarize(r.Watch.Named)
		p("\n| segments: watcher's lag ÷ nagare's | median | p95 | target: nagare ≥ %.0f× lower |\n", bucketRatioTarget)
		p("|---|---|---|---|\n")
		for _, x := range []struct {
			what   string
			ng, wt Summary
		}{{"readable from the bucket", nr, wr}, {"named by the bucket's playlist", nn, wn}} {
			med, p95 := ratio(x.wt.Median, x.ng.Median), ratio(x.wt.P95, x.ng.P95)
			ok := med >= bucketRatioTarget && p95 >= bucketRatioTarget
			p("| %s | %s | %s | %s |\n", x.what, ratioCell(med), ratioCell(p95), verdictCell(ok, "below "+ratioCell(bucketRatioTarget)))
		}
	}
	p("\nStream %s; window %s (after %s of warm-up); bucket polled every %s (every %s once an object had been awaited %s).",
		r.Stream, spaced(r.To.Sub(r.From).Round(time.Second)), spaced(r.Warmup), spaced(probeEvery), spaced(probeSlowEvery),
		spaced(probeSlowAfter))
	if len(r.Syncs) > 0 {
		s := Summarize(r.Syncs)
		p(" The watcher ran `aws s3 sync` %d times in the window (every %.2f s on average), each taking %.0f ms median, %.0f ms p95.",
			s.N, r.To.Sub(r.From).Seconds()/float64(s.N), s.Median, s.P95)
	}
	p("\n")
}

// ratio is a/b, NaN when either is unknown or b is not positive.
func ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b <= 0 {
		return math.NaN()
	}
	return a / b
}

func ratioCell(r float64) string {
	if math.IsNaN(r) {
		return "–"
	}
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.1f×", r)
}

func msCell(v float64, n int) string {
	if n == 0 || math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f", v)
}

func verdictCell(ok bool, miss string) string {
	if ok {
		return "**met**"
	}
	return "**missed** (" + miss + ")"
}

// spaced writes a duration the way the report does: "45 s", "5 ms", "1.5 s".
func spaced(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(ms(d), 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}
