package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/transcode"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/vod/ladder"
)

// A transcoder node (the Red5 role) makes the ladders of the streams the manager gives it: for each job
// it takes the stream from its origin (nodeapi.PathSources) into its own registry, where the same
// transcode.Transcoder as an origin's makes the renditions, and a forwarder gives each rendition back to
// the origin (nodeapi.PathRenditions), which serves them as renditions of the stream. Timestamps are
// the stream's all the way, so the origin's renditions line up with its source part for part.

// newTranscoderNode finishes building a transcoder node: no ingest, no HLS; the jobs come with the
// manager's assignments.
func (n *Node) newTranscoderNode(cfg config.Config, log *slog.Logger) (*Node, error) {
	n.hls = noViewers{}
	n.remote = &remoteJobs{n: n, jobs: map[string]*remoteJob{}, client: &http.Client{}}
	tc, err := transcode.New(transcode.Config{
		Ladder: cfg.Transcode.Ladder(), FFmpeg: cfg.Transcode.FFmpeg, Preset: cfg.Transcode.Preset,
		Log: log.With("component", "transcode"), LadderOf: n.remote.ladderOf,
	}, n.registry)
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	n.transcoder = tc
	n.registry.AddListener(tc)
	n.registry.AddListener(forwarder{n.remote})
	n.metrics.Registry.MustRegister(tc)
	if err := n.listenHTTP(cfg, log); err != nil {
		return nil, err
	}
	n.agent = n.newAgent(cfg)
	return n, nil
}

// noViewers is the HTTP media side of a node that serves no media (a transcoder).
type noViewers struct{}

func (noViewers) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	jsonError(w, http.StatusNotFound, "a transcoder node serves no media: play from the origin or an edge")
}
func (noViewers) Viewers(*stream.Path) int { return 0 }
func (noViewers) BytesOut() uint64         { return 0 }

// remoteJobs runs the jobs of the latest assignment.
type remoteJobs struct {
	n      *Node
	client *http.Client // no timeout: sources and renditions flow for as long as the streams live

	mu   sync.Mutex
	jobs map[string]*remoteJob // by stream
}

type remoteJob struct {
	job    nodeapi.TranscodeJob
	cancel context.CancelFunc
	done   chan struct{}
}

// apply starts the jobs new in jobs and stops those no longer there (or moved to another origin).
func (rj *remoteJobs) apply(jobs []nodeapi.TranscodeJob) {
	want := map[string]nodeapi.TranscodeJob{}
	for _, j := range jobs {
		want[j.Stream] = j
	}
	rj.mu.Lock()
	var stopped []*remoteJob
	for name, cur := range rj.jobs {
		if j, ok := want[name]; !ok || j.Origin != cur.job.Origin {
			cur.cancel()
			stopped = append(stopped, cur)
			delete(rj.jobs, name)
		} else {
			cur.job = j // a new ladder applies to the next publication
		}
	}
	for name, j := range want {
		if _, ok := rj.jobs[name]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &remoteJob{job: j, cancel: cancel, done: make(chan struct{})}
		rj.jobs[name] = r
		go func() {
			defer close(r.done)
			rj.pull(ctx, j)
		}()
	}
	rj.mu.Unlock()
	for _, r := range stopped {
		<-r.done
	}
}

// stopAll stops every job and waits for them.
func (rj *remoteJobs) stopAll() { rj.apply(nil) }

// job returns the job of a stream.
func (rj *remoteJobs) job(p stream.Path) (nodeapi.TranscodeJob, bool) {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	r, ok := rj.jobs[p.String()]
	if !ok {
		return nodeapi.TranscodeJob{}, false
	}
	return r.job, true
}

// ladderOf is the transcoder's LadderOf: the ladder the job came with.
func (rj *remoteJobs) ladderOf(_ context.Context, p stream.Path) (ladder.Ladder, bool, error) {
	j, ok := rj.job(p)
	if !ok || j.Ladder == nil || !j.Ladder.Found {
		return ladder.Ladder{}, false, nil
	}
	return ladderOf(*j.Ladder), true, nil
}

// ladderOf converts a ladder of the wire protocol.
func ladderOf(resp nodeapi.LadderResponse) ladder.Ladder {
	l := ladder.Ladder{AudioBitrate: resp.AudioBitrate}
	for _, r := range resp.Rungs {
		l.Rungs = append(l.Rungs, ladder.Rung{Name: r.Name, Height: r.Height, VideoBitrate: r.VideoBitrate, MaxRate: r.MaxRate, FrameRate: r.FrameRate})
	}
	return l
}

// pullRetry is how long a transcoder waits before it asks an origin for a source again.
const pullRetry = time.Second

// pull takes the job's stream from its origin and publishes it in the node's registry, again and again
// (the stream may not be live yet, or may come back) until ctx is done.
func (rj *remoteJobs) pull(ctx context.Context, j nodeapi.TranscodeJob) {
	log := rj.n.log.With("component", "transcoder", "stream", j.Stream, "origin", j.Origin)
	p, err := stream.ParsePath(j.Stream)
	if err != nil {
		log.Error("job refused", "cause", err)
		return
	}
	log.Info("transcoding job")
	for ctx.Err() == nil {
		if err := rj.pullOnce(ctx, p, j.Origin, log); err != nil && ctx.Err() == nil {
			log.Warn("source from the origin ended", "cause", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(pullRetry):
		}
	}
	log.Info("transcoding job ended")
}

func (rj *remoteJobs) pullOnce(ctx context.Context, p stream.Path, origin string, log *slog.Logger) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(origin, "/")+nodeapi.PathSources+p.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+rj.n.cfg.Cluster.Secret)
	resp, err := rj.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the origin answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return transcode.PublishTS(rj.n.registry, resp.Body, transcode.Publication{
		Path: p, Protocol: "pull", Remote: origin, Close: func() { resp.Body.Close() },
	}, log)
}

// forwarder gives every rendition made on a transcoder node to the origin of its source. It implements
// stream.Listener.
type forwarder struct{ rj *remoteJobs }

func (f forwarder) StreamStarted(st *stream.Stream) {
	rd := st.Rendition
	if rd == nil {
		return
	}
	j, ok := f.rj.job(rd.Of)
	if !ok {
		return
	}
	reader := st.AddReader("forward", transcode.TSQueue) // before the first unit: the keyframe it starts with
	if reader == nil {
		return
	}
	go f.forward(st, reader, j.Origin)
}

func (f forwarder) StreamEnded(*stream.Stream) {} // forward ends with the stream

// forward POSTs the rendition to the origin for as long as it lives.
func (f forwarder) forward(st *stream.Stream, reader *stream.Reader, origin string) {
	rd := st.Rendition
	log := f.rj.n.log.With("component", "transcoder", "stream", st.Path.String(), "origin", origin)
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(transcode.WriteTS(context.Background(), st, reader, pw, nil))
	}()
	q := url.Values{"of": {rd.Of.Name}, "rung": {rd.Rung}, "bandwidth": {strconv.Itoa(rd.Bandwidth)}}
	u := strings.TrimRight(origin, "/") + nodeapi.PathRenditions + st.Path.String() + "?" + q.Encode()
	req, err := http.NewRequest(http.MethodPost, u, pr)
	if err != nil {
		pr.CloseWithError(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+f.rj.n.cfg.Cluster.Secret)
	req.Header.Set("Content-Type", "video/mp2t")
	resp, err := f.rj.client.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		log.Warn("rendition not given to the origin", "cause", err)
		return
	}
	defer resp.Body.Close()
	pr.Close() // the origin answered: it reads no more
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		log.Warn("the origin refused the rendition", "status", resp.Status, "answer", strings.TrimSpace(string(b)))
	}
}
