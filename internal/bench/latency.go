package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server kinds the benchmark knows how to publish to and read from.
const (
	KindNagare    = "nagare"
	KindNginxRTMP = "nginx-rtmp"
	// KindNagareEdge names the fan-out target of a nagare edge in front of the nagare origin.
	KindNagareEdge = "nagare-edge"
)

// server is a server under test.
type server struct {
	Kind string
	RTMP string // rtmp://host:port/app
	HTTP string // http://host:port
	PID  int    // 0 if unknown
}

func (s server) publishURL(stream string) string { return s.RTMP + "/" + stream }

// playlistURL is where a viewer starts: nagare's multivariant playlist, nginx-rtmp's media playlist.
func (s server) playlistURL(stream string) string {
	if s.Kind == KindNagare {
		return s.HTTP + "/live/" + stream + "/index.m3u8"
	}
	return s.HTTP + "/hls/" + stream + ".m3u8"
}

func (s server) lowLatency() bool { return s.Kind == KindNagare }

func streamName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
	}
}

const (
	pollEvery = 5 * time.Millisecond
	matchTol  = 10 * time.Millisecond
)

// Startup is one cold start of a publication.
type Startup struct {
	// PlayableMs is from the publisher starting to connect until a playlist lists a complete segment.
	PlayableMs float64 `json:"playableMs"`
	// FirstPartMs is the same for the first LL-HLS part (0 when the server has no parts).
	FirstPartMs float64 `json:"firstPartMs,omitempty"`
}

// measureStartup publishes a new stream and polls until it is playable.
func measureStartup(ctx context.Context, srv server, clip *Clip, stream string) (Startup, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pctx, stop := context.WithCancel(ctx)
	p := &Publisher{URL: srv.publishURL(stream), Clip: clip}
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- p.Run(pctx) }()
	defer func() { stop(); <-done }()

	c := newHTTPClient(10 * time.Second)
	defer c.CloseIdleConnections()
	media, err := mediaPlaylistURL(ctx, c, srv.playlistURL(stream), pollEvery)
	if err != nil {
		return Startup{}, err
	}
	// the first part as an LL-HLS player learns of parts: a blocking request for part 0 of segment 0,
	// which the server answers the moment the part is listed (a plain request for a young stream is
	// held until a player that knows nothing of parts can start)
	type partResult struct {
		at  time.Time
		err error
	}
	parts := make(chan partResult, 1)
	if srv.lowLatency() {
		go func() {
			at, err := firstPart(ctx, c, media)
			parts <- partResult{at, err}
		}()
	}
	var st Startup
	var segAt time.Time
	poll(ctx, c, media, pollEvery, newObservations(), func(pl *MediaPlaylist, at time.Time) bool {
		if segAt.IsZero() && pl.LastSegment() != nil {
			segAt = at
		}
		return !segAt.IsZero()
	})
	if segAt.IsZero() {
		return st, fmt.Errorf("%s: no segment listed for %s within the time limit", srv.Kind, stream)
	}
	st.PlayableMs = ms(segAt.Sub(t0))
	if srv.lowLatency() {
		p := <-parts
		if p.err != nil {
			return st, fmt.Errorf("%s: the first part of %s: %w", srv.Kind, stream, p.err)
		}
		st.FirstPartMs = ms(p.at.Sub(t0))
	}
	return st, nil
}

func anyParts(pl *MediaPlaylist) bool {
	for _, s := range pl.Segments {
		if len(s.Parts) > 0 {
			return true
		}
	}
	return false
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Lag is the availability lag of segments and parts as one observer saw it.
type Lag struct {
	Method       string   `json:"method"`
	Segments     Summary  `json:"segments"`
	Parts        *Summary `json:"parts,omitempty"`
	Unattributed int      `json:"unattributed"`
}

// measureLag publishes for d and observes every segment and part as it is listed: by polling, and
// for LL-HLS also by blocking reloads.
func measureLag(ctx context.Context, srv server, clip *Clip, stream string, d time.Duration, log *slog.Logger) ([]Lag, *Usage, error) {
	// The publisher outlives the observers: a server may close a last, short segment when the publisher
	// leaves, which no frame completed.
	p := &Publisher{URL: srv.publishURL(stream), Clip: clip, Record: true}
	pctx, stopPublisher := context.WithCancel(ctx)
	defer stopPublisher()
	pubErr := make(chan error, 1)
	go func() { pubErr <- p.Run(pctx) }()

	c := newHTTPClient(10 * time.Second)
	defer c.CloseIdleConnections()
	octx, stopObservers := context.WithCancel(ctx)
	defer stopObservers()
	type observer struct {
		method string
		obs    *observations
		run    func(ctx context.Context, media string, obs *observations)
	}
	observers := []observer{{
		method: fmt.Sprintf("poll every %s", pollEvery),
		obs:    newObservations(),
		run: func(ctx context.Context, media string, obs *observations) {
			poll(ctx, c, media, pollEvery, obs, nil)
		},
	}}
	if srv.lowLatency() {
		observers = append(observers, observer{
			method: "blocking reload (_HLS_msn/_HLS_part)",
			obs:    newObservations(),
			run: func(ctx context.Context, media string, obs *observations) {
				block(ctx, c, media, obs.add)
			},
		})
	}
	wctx, cancel := context.WithTimeout(octx, 15*time.Second)
	media, err := mediaPlaylistURL(wctx, c, srv.playlistURL(stream), pollEvery)
	cancel()
	if err != nil {
		stopPublisher()
		return nil, nil, errors.Join(err, <-pubErr)
	}
	var m *meter
	if srv.PID > 0 {
		if m, err = startMeter(srv.PID, 250*time.Millisecond); err != nil {
			stopPublisher()
			return nil, nil, errors.Join(err, <-pubErr)
		}
	}
	var wg sync.WaitGroup
	for _, o := range observers {
		wg.Go(func() { o.run(octx, media, o.obs) })
	}
	select {
	case err = <-pubErr:
		err = errors.Join(errors.New("publisher stopped early"), err)
		stopObservers()
		wg.Wait()
	case <-time.After(d):
		stopObservers()
		wg.Wait()
		stopPublisher()
		err = <-pubErr
	}
	var usage *Usage
	if m != nil {
		u, merr := m.stop()
		err = errors.Join(err, merr)
		usage = &u
	}
	if err != nil {
		return nil, nil, err
	}
	var out []Lag
	for _, o := range observers {
		a := o.obs.attribute(p.Sent, matchTol)
		l := Lag{Method: o.method, Segments: Summarize(a.Segments), Unattributed: a.Unattributed}
		if srv.lowLatency() {
			s := Summarize(a.Parts)
			l.Parts = &s
		}
		log.Info("lag", "server", srv.Kind, "method", o.method, "segments", l.Segments.N,
			"segmentMedianMs", l.Segments.Median, "parts", len(a.Parts), "unattributed", a.Unattributed)
		out = append(out, l)
	}
	return out, usage, nil
}

// LatencyResult is the output of `nagare bench latency`.
type LatencyResult struct {
	Server   string    `json:"server"`
	Startups []Startup `json:"startups"`
	Playable Summary   `json:"playable"`
	// FirstPart summarizes Startups' FirstPartMs (LL-HLS only).
	FirstPart *Summary `json:"firstPart,omitempty"`
	LagRunS   float64  `json:"lagRunSeconds"`
	Lag       []Lag    `json:"lag"`
	// LagUsage is the server's usage during the lag run, when its pid was given.
	LagUsage *Usage `json:"lagUsage,omitempty"`
}

func runLatency(ctx context.Context, srv server, clip *Clip, starts int, lagFor time.Duration, log *slog.Logger) (*LatencyResult, error) {
	res := &LatencyResult{Server: srv.Kind, LagRunS: lagFor.Seconds()}
	var playable, firstPart []time.Duration
	for i := range starts {
		st, err := measureStartup(ctx, srv, clip, streamName(fmt.Sprintf("start%d-", i)))
		if err != nil {
			return nil, fmt.Errorf("startup %d: %w", i, err)
		}
		log.Info("startup", "server", srv.Kind, "playableMs", st.PlayableMs, "firstPartMs", st.FirstPartMs)
		res.Startups = append(res.Startups, st)
		playable = append(playable, time.Duration(st.PlayableMs*float64(time.Millisecond)))
		if st.FirstPartMs > 0 {
			firstPart = append(firstPart, time.Duration(st.FirstPartMs*float64(time.Millisecond)))
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	res.Playable = Summarize(playable)
	if len(firstPart) > 0 {
		s := Summarize(firstPart)
		res.FirstPart = &s
	}
	lag, usage, err := measureLag(ctx, srv, clip, streamName("lag-"), lagFor, log)
	if err != nil {
		return nil, fmt.Errorf("lag: %w", err)
	}
	res.Lag, res.LagUsage = lag, usage
	return res, nil
}

func validKind(k string) error {
	switch k {
	case KindNagare, KindNginxRTMP:
		return nil
	}
	return fmt.Errorf("unknown server kind %q (want %s)", k, strings.Join([]string{KindNagare, KindNginxRTMP}, " or "))
}
