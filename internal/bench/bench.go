// Package bench is `nagare bench`: it measures a running origin (and, side by side, peers such as
// nginx-rtmp) for docs/benchmarks.md. scripts/bench.sh starts the servers and runs the subcommands.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const usage = `Usage: nagare bench <command> [flags]

Commands (scripts/bench.sh runs them; 'make bench' runs the whole benchmark):
  ports     print free TCP ports on 127.0.0.1
  publish   publish the clip to RTMP URLs in real time, looping
  latency   publish-to-playable time and segment/part availability lag of one server
  fanout    wrk against the live-edge segment and the media playlist of one server
  ingest    CPU and RSS of one server with N publishers and no viewers
  ackcheck  whether a server keeps a publisher that asks for RTMP acknowledgements
  manager   routing throughput and report ingest of a stream manager
  autoscale alarm-to-in-service and dead-node replacement times with the process controller
  bucket    availability lag of live HLS in object storage: nagare's push and a watcher with aws s3 sync
  vod       the VOD service: upload throughput vs aws s3 cp, byte ranges vs static nginx, transcode speed
  webrtc-glass  glass-to-glass latency over WHEP at an edge in headless Chromium: WHIP from the page, RTMP from ffmpeg
  webrtc-start  publish (WHIP, RTMP) to the first WHEP keyframe at an edge
  webrtc    WHEP viewers an edge holds: pion viewers added in steps, loss, CPU and RSS
  abr       the live ABR ladder of one server (nagare, nginx-rtmp) or of the bare ffmpeg command: CPU, delay, playable
  curves-edge     an edge's CPU at several segment request rates (cost curves)
  curves-manager  a manager's report-ingest CPU and routing p99 at several node counts (cost curves)
  curves-tick     the autoscaler's tick with many simulated nodes, in this process (cost curves)
  web       the console's and the site's time to first render in Chromium, their bytes, the manager's cost of live updates
  model     the load generator's player model against hls.js in Chromium on one stream: startup and latency behind live
  report    write docs/benchmarks.md from the JSON results of the commands above
`

// Main runs `nagare bench` and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "bench")
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer, *slog.Logger) error{
		"ports": cmdPorts, "publish": cmdPublish, "latency": cmdLatency, "fanout": cmdFanout,
		"ingest": cmdIngest, "ackcheck": cmdAckCheck, "report": cmdReport, "manager": cmdManager, "edge": cmdEdge,
		"autoscale": cmdAutoscale, "bucket": cmdBucket, "glass": cmdGlass, "vod": cmdVOD,
		"webrtc": cmdWebRTC, "webrtc-glass": cmdWebRTCGlass, "webrtc-start": cmdWebRTCStart,
		"abr": cmdABR, "curves-edge": cmdCurvesEdge, "curves-manager": cmdCurvesManager, "curves-tick": cmdCurvesTick,
		"web": cmdWeb, "model": cmdModel,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nagare bench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr, log)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "nagare bench "+args[0]+":", err)
		return 2
	default:
		fmt.Fprintln(stderr, "nagare bench "+args[0]+":", err)
		return 1
	}
}

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("nagare bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func cmdPorts(_ context.Context, args []string, stdout, stderr io.Writer, _ *slog.Logger) error {
	fs := newFlags("ports", stderr)
	n := fs.Int("n", 1, "how many ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []string
	for range *n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	fmt.Fprintln(stdout, strings.Join(ports, " "))
	return nil
}

// serverFlags are the flags that locate a server under test.
type serverFlags struct {
	kind, rtmp, http *string
}

func addServerFlags(fs *flag.FlagSet) serverFlags {
	return serverFlags{
		kind: fs.String("kind", KindNagare, "server kind: nagare or nginx-rtmp"),
		rtmp: fs.String("rtmp", "", "RTMP base URL including the application, e.g. rtmp://127.0.0.1:1935/live"),
		http: fs.String("http", "", "HTTP base URL, e.g. http://127.0.0.1:8080"),
	}
}

func (f serverFlags) server() (server, error) {
	if err := validKind(*f.kind); err != nil {
		return server{}, usageErr("-kind: %v", err)
	}
	if *f.rtmp == "" || *f.http == "" {
		return server{}, usageErr("-rtmp and -http are required")
	}
	return server{Kind: *f.kind, RTMP: strings.TrimSuffix(*f.rtmp, "/"), HTTP: strings.TrimSuffix(*f.http, "/")}, nil
}

func cmdPublish(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("publish", stderr)
	urls := fs.String("rtmp", "", "comma-separated RTMP URLs of the streams to publish")
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264 + AAC)")
	d := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *urls == "" || *clipPath == "" {
		return usageErr("-rtmp and -clip are required")
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 0)
	var mu sync.Mutex
	for _, u := range strings.Split(*urls, ",") {
		p := &Publisher{URL: u, Clip: clip, Duration: *d}
		wg.Go(func() {
			if err := p.Run(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	log.Info("publishing", "streams", *urls)
	wg.Wait()
	return errors.Join(errs...)
}

func cmdLatency(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("latency", stderr)
	sf := addServerFlags(fs)
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264 + AAC)")
	starts := fs.Int("starts", 5, "cold starts to time")
	lagFor := fs.Duration("lag", 30*time.Second, "length of the publication whose segments and parts are timed")
	pid := fs.Int("pid", 0, "pid of the server, to meter it during the lag run (optional)")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := sf.server()
	if err != nil {
		return err
	}
	srv.PID = *pid
	if *clipPath == "" || *out == "" || *starts < 1 {
		return usageErr("-clip and -out are required, -starts must be at least 1")
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}
	res, err := runLatency(ctx, srv, clip, *starts, *lagFor, log)
	if err != nil {
		return err
	}
	return writeJSON(*out, res)
}

func cmdFanout(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("fanout", stderr)
	var targets []fanoutTarget
	fs.Func("target", "a server to load, repeatable: name=N,kind=nagare|nginx-rtmp,pid=P,playlist=URL or "+
		"name=N,kind=static,pid=P,url=BASE,www=DIR,copy-from=PLAYLIST-URL", func(s string) error {
		t, err := parseTarget(s)
		if err == nil {
			targets = append(targets, t)
		}
		return err
	})
	conns := fs.String("conns", "64,256", "comma-separated wrk connection counts")
	threads := fs.Int("threads", 2, "wrk threads")
	rounds := fs.Int("rounds", 3, "runs of each combination, interleaved")
	d := fs.Duration("duration", 5*time.Second, "length of each wrk run (whole seconds)")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var counts []int
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return usageErr("-conns: bad count %q", c)
		}
		counts = append(counts, n)
	}
	switch {
	case len(targets) == 0 || *out == "":
		return usageErr("-target and -out are required")
	case *d < time.Second:
		return usageErr("-duration must be at least 1s")
	case *rounds < 1:
		return usageErr("-rounds must be at least 1")
	}
	res, err := runFanout(ctx, targets, counts, *threads, *rounds, *d, log)
	if err != nil {
		return err
	}
	return writeJSON(*out, res)
}

func cmdIngest(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("ingest", stderr)
	sf := addServerFlags(fs)
	label := fs.String("server", "", "label of the server in the report (default: -kind)")
	pid := fs.Int("pid", 0, "pid of the server (its children are counted too)")
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264 + AAC)")
	streams := fs.Int("streams", 1, "publishers")
	warmup := fs.Duration("warmup", 5*time.Second, "time between the last publisher starting and the window")
	d := fs.Duration("duration", 20*time.Second, "measurement window")
	out := fs.String("out", "", "JSON result file")
	var dirs []string
	fs.Func("files", "a directory whose files the server keeps (nginx-rtmp's hls_path), counted with its memory; repeatable",
		func(s string) error { dirs = append(dirs, s); return nil })
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := sf.server()
	if err != nil {
		return err
	}
	if *pid <= 0 || *clipPath == "" || *out == "" || *streams < 1 {
		return usageErr("-pid, -clip and -out are required, -streams must be at least 1")
	}
	if *label == "" {
		*label = srv.Kind
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}
	res, err := runIngest(ctx, ingestSpec{
		Server: *label, Srv: srv, PID: *pid, Streams: *streams, Warmup: *warmup, Duration: *d, Dirs: dirs,
	}, clip, log)
	if err != nil {
		return err
	}
	return writeJSON(*out, res)
}

func cmdAckCheck(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("ackcheck", stderr)
	sf := addServerFlags(fs)
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264 + AAC)")
	window := fs.Uint("window", 256<<10, "acknowledgement window asked for, bytes")
	d := fs.Duration("duration", 15*time.Second, "length of the publication")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := sf.server()
	if err != nil {
		return err
	}
	if *clipPath == "" || *out == "" || *window == 0 || *window > 1<<31 {
		return usageErr("-clip and -out are required, -window must be in 1..2^31")
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}
	return writeJSON(*out, runAckCheck(ctx, srv, clip, uint32(*window), *d, log))
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}
