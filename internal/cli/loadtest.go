package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/nagare-video/nagare/internal/loadtest"
)

// runLoadtest is `nagare loadtest`: an audience of virtual players on one stream, a progress line a
// second on stderr, a summary on stdout, and the whole report as JSON with -json.
func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: nagare loadtest -url http://manager:5080/<app>/<stream>/index.m3u8 [flags]")
		fs.PrintDefaults()
	}
	var cfg loadtest.Config
	fs.StringVar(&cfg.URL, "url", "", "the stream's entry: the manager's or a node's /<app>/<stream>/index.m3u8")
	fs.IntVar(&cfg.Viewers, "viewers", 10, "virtual players")
	fs.DurationVar(&cfg.Ramp, "ramp", 10*time.Second, "the viewers join evenly over this long")
	fs.DurationVar(&cfg.Hold, "hold", time.Minute, "then all play for this long")
	fs.DurationVar(&cfg.RampDown, "ramp-down", 0, "then they leave evenly over this long")
	fs.BoolVar(&cfg.WHEP, "whep", false, "WebRTC viewers: -url is a WHEP endpoint (/<app>/<stream>/whep, the manager's or a node's)")
	fs.BoolVar(&cfg.Top, "top", false, "play the variant with the highest BANDWIDTH (default: the first listed)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not on this machine")
	fs.DurationVar(&cfg.CutAfter, "cut-after", 10*time.Second, "a viewer stalled this long counts as cut")
	fs.DurationVar(&cfg.FirstFrame, "first-frame", loadtest.DefaultFirstFrame, "an HLS viewer's time from the media at its start position loaded to its first frame (a decoder's set-up); negative: none")
	fs.DurationVar(&cfg.StartWork, "start-work", loadtest.DefaultStartWork, "an HLS viewer's own work on each playlist and object it loads before its first frame (parsing, remuxing, appending), during which it asks for nothing; negative: none")
	curve := fs.String("curve", "", "an audience curve (CSV of seconds,viewers; linear in between) instead of -viewers, -ramp, -hold and -ramp-down")
	jsonOut := fs.String("json", "", "write the report (every viewer, one tick a second) to this file")
	htmlOut := fs.String("html", "", "write the report as an HTML page with charts to this file")
	fs.StringVar(&cfg.ManagerToken, "token", "", "the manager's admin token: the report then shows its scale events (default: env NAGARE_ADMIN_TOKEN)")
	quiet := fs.Bool("q", false, "no progress line a second")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's CPU profile to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.ManagerToken == "" {
		cfg.ManagerToken = os.Getenv("NAGARE_ADMIN_TOKEN")
	}
	if cfg.URL == "" {
		fs.Usage()
		return fmt.Errorf("-url is required")
	}
	if *curve != "" {
		f, err := os.Open(*curve)
		if err != nil {
			return err
		}
		cfg.Curve, err = loadtest.ParseCurve(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *curve, err)
		}
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("starting the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	if *htmlOut != "" {
		var b bytes.Buffer
		if err := loadtest.WriteHTML(&b, rep); err != nil {
			return fmt.Errorf("writing the HTML report: %w", err)
		}
		if err := os.WriteFile(*htmlOut, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing the HTML report: %w", err)
		}
	}
	if rep.ScaleEventsError != "" {
		fmt.Fprintln(stderr, "scale events:", rep.ScaleEventsError)
	}
	t := rep.Totals
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "viewers\t%d (started %d)\n", t.Viewers, t.Started)
	fmt.Fprintf(w, "startup p50 / p95\t%.0f / %.0f ms\n", t.StartupP50Ms, t.StartupP95Ms)
	fmt.Fprintf(w, "latency behind live p50 / p95\t%.2f / %.2f s\n", t.LatencyP50Ms/1000, t.LatencyP95Ms/1000)
	fmt.Fprintf(w, "stalls\t%d (viewers stalled %d, longest %.0f ms)\n", t.Stalls, t.ViewersStalled, t.LongestStallMs)
	fmt.Fprintf(w, "viewers cut (a stall of %s or more)\t%d\n", cfg.CutAfter, t.ViewersCut)
	fmt.Fprintf(w, "errors\t%d\n", t.Errors)
	fmt.Fprintf(w, "requests\t%d (%.0f/s), %.1f MB\n", t.Requests, t.RequestsPerSec, float64(t.Bytes)/1e6)
	fmt.Fprintf(w, "pathway switches\t%d\n", t.PathwaySwitches)
	hosts := make([]string, 0, len(t.RequestsPerHosts))
	for h := range t.RequestsPerHosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		fmt.Fprintf(w, "requests to %s\t%d\n", h, t.RequestsPerHosts[h])
	}
	return w.Flush()
}
