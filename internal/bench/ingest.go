package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/nodestats"
)

// IngestRun is the usage of a server with a number of publishers and no viewers.
type IngestRun struct {
	Server  string `json:"server"`
	Streams int    `json:"streams"`
	// Idle is the usage before any publisher connected.
	Idle  Usage `json:"idle"`
	Usage Usage `json:"usage"`
	// PublisherCPUPercent is the CPU use of the publishers (this process) over the window.
	PublisherCPUPercent float64 `json:"publisherCpuPercent"`
	// Playable counts the streams whose playlist listed a segment after the window.
	Playable int `json:"playable"`
	// Files are the files the server kept at the end of the window (its HLS directory, its shared-memory
	// files), which cost memory outside its RSS.
	Files KeptFiles `json:"files"`
	// Kbps is the clip's bit rate (video and audio), per stream.
	Kbps float64 `json:"kbps,omitempty"`
	// HeapMiB is the Go heap in use at the end of the window, from the node's /metrics (nagare only; 0
	// when unknown).
	HeapMiB float64 `json:"heapMiB,omitempty"`
}

// TotalMiB is the RSS at the end of the window plus the files kept.
func (r *IngestRun) TotalMiB() float64 { return r.Usage.RSSMiB + r.Files.MiB() }

type ingestSpec struct {
	Server   string
	Srv      server
	PID      int
	Streams  int
	Warmup   time.Duration
	Duration time.Duration
	// Dirs are the directories whose files the server keeps (nginx-rtmp's hls_path).
	Dirs []string
}

// runIngest publishes spec.Streams streams, lets them settle, meters the server, then checks (after the
// window, so that no viewer loads the server during it) that every stream is muxed to HLS.
func runIngest(ctx context.Context, spec ingestSpec, clip *Clip, log *slog.Logger) (*IngestRun, error) {
	run := &IngestRun{Server: spec.Server, Streams: spec.Streams}
	idle, err := measureFor(ctx, spec.PID, 2*time.Second)
	if err != nil {
		return nil, err
	}
	run.Idle = idle

	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	names := make([]string, spec.Streams)
	errs := make(chan error, spec.Streams)
	for i := range names {
		names[i] = streamName(fmt.Sprintf("ingest%d-", i))
		p := &Publisher{URL: spec.Srv.publishURL(names[i]), Clip: clip}
		wg.Go(func() {
			if err := p.Run(pctx); err != nil {
				errs <- err
			}
		})
		// spread the keyframes of the streams over a second, as independent publishers would be
		if err := sleepCtx(ctx, time.Second/time.Duration(spec.Streams)); err != nil {
			return nil, err
		}
	}
	if err := sleepCtx(ctx, spec.Warmup); err != nil {
		return nil, err
	}
	self0, _ := nodestats.Runtime(0)
	u, err := measureFor(ctx, spec.PID, spec.Duration)
	if err != nil {
		return nil, err
	}
	self1, _ := nodestats.Runtime(0)
	run.Files = keptFiles(spec.PID, spec.Dirs)
	if spec.Srv.Kind == KindNagare {
		run.HeapMiB = goHeapMiB(ctx, spec.Srv.HTTP)
	}
	run.Kbps = clip.Kbps()
	run.Usage = u
	run.PublisherCPUPercent = 100 * (self1 - self0) / u.Seconds
	select {
	case err := <-errs:
		return nil, fmt.Errorf("a publisher failed during the window: %w", err)
	default:
	}
	c := newHTTPClient(5 * time.Second)
	defer c.CloseIdleConnections()
	for _, n := range names {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _, err := liveMediaPlaylist(cctx, c, spec.Srv.playlistURL(n))
		cancel()
		if err == nil {
			run.Playable++
		} else if errors.Is(ctx.Err(), context.Canceled) {
			return nil, ctx.Err()
		}
	}
	log.Info("ingest", "server", spec.Server, "streams", spec.Streams, "cpuPercent", u.CPUPercent,
		"rssMiB", u.RSSMiB, "filesMiB", run.Files.MiB(), "playable", run.Playable)
	return run, nil
}
