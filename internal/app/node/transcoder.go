package node

import (
	"context"
	"errors"
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
//
// A publisher may also publish to the transcoder itself (RTMP or SRT; Red5's broadcast with
// transcode=true): the transcoder asks the manager for the stream's origin, gives it the stream
// (POST nodeapi.PathSources) and then its renditions, made from the stream as published here.

// newTranscoderNode finishes building a transcoder node: ingest, no HLS; the jobs come with the
// manager's assignments.
func (n *Node) newTranscoderNode(cfg config.Config, log *slog.Logger) (*Node, error) {
	n.hls = noViewers{}
	n.remote = &remoteJobs{n: n, jobs: map[string]*remoteJob{}, client: &http.Client{Transport: n.cluster},
		sources: map[string]string{}, ended: map[*stream.Stream]chan struct{}{}}
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
	if err := n.listenIngest(cfg, log, publishAuth(cfg, log)); err != nil {
		return nil, err
	}
	if err := n.listenHTTP(cfg, log); err != nil {
		n.closeListeners()
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
func (noViewers) Viewers(*stream.Path) int             { return 0 }
func (noViewers) ViewersByStream() map[stream.Path]int { return nil }
func (noViewers) BytesOut() uint64                     { return 0 }

// remoteJobs runs the jobs of the latest assignment.
type remoteJobs struct {
	n      *Node
	client *http.Client // no timeout: sources and renditions flow for as long as the streams live

	mu   sync.Mutex
	jobs map[string]*remoteJob // by stream
	// sources are the streams published here whose origin is known, each with the origin it goes to now
	sources map[string]string
	// ended holds, for each stream given to an origin, a channel closed when the stream ends
	ended map[*stream.Stream]chan struct{}
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

// ladderOf is the transcoder's LadderOf: the ladder the job came with, or for a stream published here
// the one provisioned for it.
func (rj *remoteJobs) ladderOf(ctx context.Context, p stream.Path) (ladder.Ladder, bool, error) {
	j, ok := rj.job(p)
	if !ok {
		if publishedHere(rj.n.registry.Get(p)) {
			return rj.n.provisionedLadder(ctx, p)
		}
	}
	if !ok || j.Ladder == nil || !j.Ladder.Found {
		return ladder.Ladder{}, false, nil
	}
	return ladderOf(*j.Ladder), true, nil
}

// originOf returns the origin a stream of this node goes to: its job's, or for a stream published here
// the origin the manager named ("" and false while there is none).
func (rj *remoteJobs) originOf(p stream.Path) (string, bool) {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	if r, ok := rj.jobs[p.String()]; ok {
		return r.job.Origin, true
	}
	o := rj.sources[p.String()]
	return o, o != ""
}

// ladderOf converts a ladder of the wire protocol.
func ladderOf(resp nodeapi.LadderResponse) ladder.Ladder {
	l := ladder.Ladder{AudioBitrate: resp.AudioBitrate}
	for _, r := range resp.Rungs {
		l.Rungs = append(l.Rungs, ladder.Rung{Name: r.Name, Height: r.Height, VideoBitrate: r.VideoBitrate, MaxRate: r.MaxRate, FrameRate: r.FrameRate})
	}
	return l
}

// pullRetry is how long a transcoder waits before it asks an origin for a source again, or gives it a
// stream again.
const pullRetry = time.Second

// pullProtocol is the protocol of a stream taken from its origin.
const pullProtocol = "pull"

// publishedHere reports whether st (nil: none) is a stream a publisher publishes to this node: not one
// taken from its origin, not a rendition made here.
func publishedHere(st *stream.Stream) bool {
	return st != nil && st.Rendition == nil && st.Protocol != pullProtocol
}

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
		Path: p, Protocol: pullProtocol, Remote: origin, Close: func() { resp.Body.Close() },
	}, log)
}

// forwarder gives the origins what this node makes and what is published here: every rendition, to the
// origin of its source, and every stream published here, to the origin the manager names for it. It
// implements stream.Listener.
type forwarder struct{ rj *remoteJobs }

func (f forwarder) StreamStarted(st *stream.Stream) {
	var (
		endpoint = nodeapi.PathRenditions
		query    url.Values
		origin   func(context.Context) (string, error)
	)
	switch rd := st.Rendition; {
	case rd != nil:
		if _, ok := f.rj.originOf(rd.Of); !ok && !publishedHere(f.rj.n.registry.Get(rd.Of)) {
			return
		}
		query = url.Values{"of": {rd.Of.Name}, "rung": {rd.Rung}, "bandwidth": {strconv.Itoa(rd.Bandwidth)}}
		origin = func(context.Context) (string, error) {
			if o, ok := f.rj.originOf(rd.Of); ok {
				return o, nil
			}
			return "", fmt.Errorf("no origin for %s yet", rd.Of)
		}
	case publishedHere(st):
		endpoint, query = nodeapi.PathSources, url.Values{"protocol": {st.Protocol}}
		origin = func(ctx context.Context) (string, error) {
			if f.rj.n.agent == nil {
				return "", errors.New("the node has no stream manager")
			}
			o, err := f.rj.n.agent.Origin(ctx, st.Path.String())
			f.rj.setSource(st.Path, o)
			return o, err
		}
	default:
		return // taken from its origin
	}
	reader := st.AddReader("forward", transcode.TSQueue) // before the first unit: the keyframe it starts with
	if reader == nil {
		return
	}
	ended := make(chan struct{})
	f.rj.mu.Lock()
	f.rj.ended[st] = ended
	f.rj.mu.Unlock()
	go f.rj.give(st, reader, ended, endpoint, query, origin)
}

func (f forwarder) StreamEnded(st *stream.Stream) {
	f.rj.mu.Lock()
	defer f.rj.mu.Unlock()
	if c, ok := f.rj.ended[st]; ok {
		close(c)
		delete(f.rj.ended, st)
	}
	if publishedHere(st) && f.rj.n.registry.Get(st.Path) == nil {
		delete(f.rj.sources, st.Path.String())
	}
}

// setSource records where a stream published here goes now.
func (rj *remoteJobs) setSource(p stream.Path, origin string) {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	rj.sources[p.String()] = origin
}

// give POSTs the stream to endpoint on its origin for as long as it lives: again, from its next keyframe,
// after an origin that goes away or refuses it (a second later, asking origin again).
func (rj *remoteJobs) give(st *stream.Stream, reader *stream.Reader, ended <-chan struct{}, endpoint string, query url.Values, origin func(context.Context) (string, error)) {
	log := rj.n.log.With("component", "transcoder", "stream", st.Path.String())
	failing := false
	for {
		o, err := origin(context.Background())
		if err == nil {
			err = rj.post(st, reader, strings.TrimRight(o, "/")+endpoint+st.Path.String()+"?"+query.Encode())
			reader = nil // used up: the next attempt starts at a keyframe of its own
		}
		select {
		case <-ended:
			return
		default:
		}
		if err != nil && !failing {
			log.Warn("stream not given to its origin; trying again every second", "origin", o, "cause", err)
		} else if err == nil && failing {
			log.Info("stream given to its origin again", "origin", o)
		}
		failing = err != nil
		if reader != nil {
			st.RemoveReader(reader)
			reader = nil
		}
		select {
		case <-ended:
			return
		case <-time.After(pullRetry):
		}
	}
}

// post sends the stream as the body of one POST to u, until the stream ends or the origin answers
// (reader nil: from the stream's next keyframe).
func (rj *remoteJobs) post(st *stream.Stream, reader *stream.Reader, u string) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(transcode.WriteTS(context.Background(), st, reader, pw, nil))
	}()
	req, err := http.NewRequest(http.MethodPost, u, pr)
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	req.Header.Set("Authorization", "Bearer "+rj.n.cfg.Cluster.Secret)
	req.Header.Set("Content-Type", "video/mp2t")
	resp, err := rj.client.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	defer resp.Body.Close()
	pr.Close() // the origin answered: it reads no more
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the origin answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}
