// Package loadtest is an audience generator that behaves like players, not like wrk: virtual LL-HLS and
// classic HLS viewers that follow the manager's redirects and HLS Content Steering, load parts or
// segments in order with blocking playlist reloads, and play them out in real time, so that what it
// reports — startup, stalls, latency behind live, the edges in use — is what viewers would see.
package loadtest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	whep "github.com/nagare-video/nagare/internal/media/webrtc/client"
)

// Config is an audience: Viewers players join over Ramp, all play for Hold, then leave over RampDown; or,
// with Curve, as many play at each instant as the curve says.
type Config struct {
	URL      string // the stream's entry: the manager's or a node's /<app>/<stream>/index.m3u8
	Viewers  int
	Ramp     time.Duration
	Hold     time.Duration
	RampDown time.Duration
	// Curve, when set, replaces Viewers, Ramp, Hold and RampDown: viewers in play at each instant, linear
	// between its points (see ParseCurve). A viewer who leaves and a viewer who joins later are two viewers.
	Curve []CurvePoint
	// CutAfter is the stall after which a viewer counts as cut (a person would have reloaded or left);
	// 10 s when zero.
	CutAfter time.Duration
	// Top makes every viewer play the variant with the highest BANDWIDTH (default: the first listed).
	Top bool
	// FirstFrame is how long an HLS viewer takes from the media at its start position being loaded to
	// its first frame shown (a decoder's set-up, the seek, its preroll), which its startup and its
	// latency behind live include, as a real player's do (hls.js does not catch up by default).
	// 0 means DefaultFirstFrame; a negative value, none.
	FirstFrame time.Duration
	// StartWork is an HLS viewer's own work on each playlist and media object it loads before its first
	// frame (parsing, remuxing, appending to the MediaSource, the browser's set-up of the next request),
	// during which it asks for nothing: hls.js loads its start one object after another, and that work,
	// not the network, is most of the time between them on loopback. 0 means DefaultStartWork; a
	// negative value, none.
	StartWork time.Duration
	// WHEP makes every viewer a WebRTC player: URL is then a WHEP endpoint (the manager's or a node's
	// /<app>/<stream>/whep).
	WHEP bool
	// AllowRemote permits a target outside loopback (refused otherwise: a load test is no thing to point
	// at someone else's server by mistake).
	AllowRemote bool
	// Client makes every request (nil: one with keep-alive for many connections per host).
	Client *http.Client
	// Progress, when set, gets one line a second: viewers, stalls, errors, latency, edges in use.
	Progress io.Writer
	// ManagerToken, when set, is the manager's admin token: the report then carries the manager's scale
	// events of the run's time (URL must then be the manager's).
	ManagerToken string
}

// DefaultFirstFrame and DefaultStartWork are Config.FirstFrame's and Config.StartWork's defaults, from
// hls.js 1.7.4 in headless Chromium on a quiet 2-core machine (`nagare bench model`, docs/loadtest.md):
// its first frame 0–113 ms (about 40 ms in the middle of its sessions) after the part holding its start
// position had loaded; 10–20 ms from the end of one object it loaded before its first frame to the end of
// the next, where a Go client on loopback takes about 1 ms. On a busy machine hls.js's grow (its work is
// the browser's), the model's do not.
const (
	DefaultFirstFrame = 50 * time.Millisecond
	DefaultStartWork  = 15 * time.Millisecond
)

// orDefault is a duration setting's value: def for 0, none (0) for a negative value.
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Report is the outcome of a run, also written as JSON.
type Report struct {
	URL      string        `json:"url"`
	Started  time.Time     `json:"started"`
	Duration float64       `json:"durationSeconds"`
	Totals   Totals        `json:"totals"`
	Viewers  []ViewerStats `json:"viewers"`
	Timeline []Tick        `json:"timeline"`
	// ScaleEvents are the manager's autoscaling decisions during the run (with Config.ManagerToken).
	ScaleEvents []ScaleEvent `json:"scaleEvents,omitempty"`
	// ScaleEventsError says why they could not be read.
	ScaleEventsError string `json:"scaleEventsError,omitempty"`
}

// ScaleEvent is one of the manager's autoscaling decisions, At seconds from the start of the run.
type ScaleEvent struct {
	At     float64  `json:"atSeconds"`
	Group  string   `json:"group"`
	Role   string   `json:"role"`
	Action string   `json:"action"`
	Reason string   `json:"reason"`
	Nodes  []string `json:"nodes"`
}

// Totals sums up the viewers.
type Totals struct {
	Viewers          int            `json:"viewers"`
	Started          int            `json:"started"`
	StartupP50Ms     float64        `json:"startupP50Ms"`
	StartupP95Ms     float64        `json:"startupP95Ms"`
	Stalls           int            `json:"stalls"`
	ViewersStalled   int            `json:"viewersStalled"`
	ViewersCut       int            `json:"viewersCut"` // stalled for CutAfter or longer at least once
	LongestStallMs   float64        `json:"longestStallMs"`
	Errors           int            `json:"errors"`
	Requests         int            `json:"requests"`
	RequestsPerSec   float64        `json:"requestsPerSecond"`
	Bytes            int64          `json:"bytes"`
	LatencyP50Ms     float64        `json:"latencyP50Ms"`
	LatencyP95Ms     float64        `json:"latencyP95Ms"`
	PathwaySwitches  int            `json:"pathwaySwitches"`
	RequestsPerHosts map[string]int `json:"requestsPerHost"`
}

// Tick is the audience at one second of the run.
type Tick struct {
	At           float64        `json:"atSeconds"`
	Viewers      int            `json:"viewers"` // playing or stalled
	Stalled      int            `json:"stalled"`
	Stalls       int            `json:"stalls"` // so far
	Errors       int            `json:"errors"` // so far
	LatencyP50Ms float64        `json:"latencyP50Ms"`
	LatencyP95Ms float64        `json:"latencyP95Ms"`
	Hosts        map[string]int `json:"hosts"` // viewers per host:port of their last answered request
	// LoadP50Ms … LoadP99Ms are the times to load parts and segments (first request to last byte) in the
	// second before the tick.
	LoadP50Ms float64 `json:"loadP50Ms"`
	LoadP95Ms float64 `json:"loadP95Ms"`
	LoadP99Ms float64 `json:"loadP99Ms"`
}

// Run plays the audience and reports what it saw. It returns an error only when the run cannot start.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the URL must be http(s)://host/<app>/<stream>/index.m3u8, not %q", cfg.URL)
	}
	seats, err := audience(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.CutAfter <= 0 {
		cfg.CutAfter = 10 * time.Second
	}
	if !cfg.AllowRemote {
		if err := loopbackOnly(ctx, u.Hostname()); err != nil {
			return nil, err
		}
	}
	client := cfg.Client
	// each HLS player makes its plain-http requests on its own connections (h1Client) unless the caller
	// gave a client or the environment names a proxy (which the h1Client does not speak)
	lean := client == nil && !cfg.WHEP && !proxied()
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 0, 2*peak(seats)
		client = &http.Client{Transport: t, Timeout: stdTimeout}
	}

	var rtc *webrtc.API
	if cfg.WHEP {
		if rtc, err = whep.NewAPI(); err != nil {
			return nil, fmt.Errorf("WebRTC: %w", err)
		}
	}
	firstFrame, startWork := orDefault(cfg.FirstFrame, DefaultFirstFrame), orDefault(cfg.StartWork, DefaultStartWork)
	began := time.Now()
	players := make([]*player, len(seats))
	var wg sync.WaitGroup
	for i, s := range seats {
		p := &player{client: client, entry: cfg.URL, top: cfg.Top}
		if lean {
			p.h1 = &h1Client{std: client}
		}
		p.st.ID = i
		p.po.firstFrame, p.po.startWork = firstFrame, startWork
		players[i] = p
		join, leave := began.Add(s.join), began.Add(s.leave)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sleep(ctx, time.Until(join))
			pctx, cancel := context.WithDeadline(ctx, leave)
			defer cancel()
			switch {
			case pctx.Err() != nil:
			case rtc != nil:
				p.runWHEP(pctx, rtc)
			default:
				p.run(pctx)
			}
			if p.h1 != nil {
				p.h1.close()
			}
			p.mu.Lock()
			p.po.finish(time.Now(), &p.st)
			p.mu.Unlock()
		}()
	}

	rep := &Report{URL: cfg.URL, Started: began}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
			t := sample(players, time.Since(began))
			rep.Timeline = append(rep.Timeline, t)
			if cfg.Progress != nil {
				fmt.Fprintln(cfg.Progress, t)
			}
		}
	}
	rep.Duration = time.Since(began).Seconds()
	for _, p := range players {
		st := p.snapshot()
		st.LatencyP50Ms = percentile(st.LatencyMs, 0.5)
		st.Cut = st.LongestStallMs >= float64(cfg.CutAfter.Milliseconds())
		rep.Viewers = append(rep.Viewers, st)
	}
	rep.Totals = totals(rep.Viewers, rep.Duration)
	if cfg.ManagerToken != "" {
		evs, err := scaleEvents(ctx, client, u, cfg.ManagerToken, began, time.Now())
		rep.ScaleEvents = evs
		if err != nil {
			rep.ScaleEventsError = err.Error()
		}
	}
	return rep, nil
}

// scaleEvents reads the manager's latest scale events and keeps those between from and to.
func scaleEvents(ctx context.Context, client *http.Client, entry *url.URL, token string, from, to time.Time) ([]ScaleEvent, error) {
	u := url.URL{Scheme: entry.Scheme, Host: entry.Host, Path: "/api/v1/scaleevents", RawQuery: "limit=1000"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the manager's scale events: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the manager's scale events: HTTP %d", res.StatusCode)
	}
	var all []struct {
		Group, Role, Action, Reason string
		Nodes                       []string
		At                          time.Time
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 16<<20)).Decode(&all); err != nil {
		return nil, fmt.Errorf("reading the manager's scale events: %w", err)
	}
	var out []ScaleEvent
	for _, e := range all {
		if e.At.Before(from) || e.At.After(to) {
			continue
		}
		out = append(out, ScaleEvent{At: e.At.Sub(from).Seconds(), Group: e.Group, Role: e.Role, Action: e.Action,
			Reason: e.Reason, Nodes: e.Nodes})
	}
	return out, nil
}

// proxied reports whether the environment names a proxy for http:// URLs (which net/http's
// ProxyFromEnvironment would use for any host but loopback).
func proxied() bool {
	for _, k := range []string{"HTTP_PROXY", "http_proxy"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// seat is one viewer's time in the audience, from the start of the run.
type seat struct{ join, leave time.Duration }

// audience turns the configuration into seats.
func audience(cfg Config) ([]seat, error) {
	if cfg.Curve != nil {
		return curveSeats(cfg.Curve)
	}
	if cfg.Viewers < 1 || cfg.Viewers > maxViewers {
		return nil, fmt.Errorf("viewers must be between 1 and %d, not %d", maxViewers, cfg.Viewers)
	}
	if cfg.Ramp < 0 || cfg.Hold < 0 || cfg.RampDown < 0 {
		return nil, fmt.Errorf("ramp, hold and ramp-down must not be negative")
	}
	seats := make([]seat, cfg.Viewers)
	for i := range seats {
		seats[i] = seat{spread(cfg.Ramp, i, cfg.Viewers), cfg.Ramp + cfg.Hold + spread(cfg.RampDown, i, cfg.Viewers)}
	}
	return seats, nil
}

// maxViewers bounds the viewers of a run (seats, with a curve).
const maxViewers = 100_000

// peak is the most seats taken at once.
func peak(seats []seat) int {
	type edge struct {
		at time.Duration
		d  int
	}
	var es []edge
	for _, s := range seats {
		es = append(es, edge{s.join, 1}, edge{s.leave, -1})
	}
	slices.SortFunc(es, func(a, b edge) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.d, b.d)) })
	n, most := 0, 0
	for _, e := range es {
		n += e.d
		most = max(most, n)
	}
	return max(most, 1)
}

// spread is viewer i's offset when n viewers join (or leave) evenly over d.
func spread(d time.Duration, i, n int) time.Duration {
	if n <= 1 {
		return 0
	}
	return d * time.Duration(i) / time.Duration(n)
}

// loopbackOnly refuses a host that resolves to anything but loopback addresses.
func loopbackOnly(ctx context.Context, host string) error {
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return fmt.Errorf("%s is %s: %w", host, ip.IP, errRemote)
		}
	}
	return nil
}

// sample is the audience now.
func sample(players []*player, at time.Duration) Tick {
	t := Tick{At: at.Round(time.Second).Seconds(), Hosts: map[string]int{}}
	var lat, loads []float64
	now := time.Now()
	for _, p := range players {
		p.mu.Lock()
		loads = append(loads, p.loadMs...)
		p.loadMs = p.loadMs[:0]
		p.po.advance(now, &p.st)
		if p.po.started && !p.po.left {
			t.Viewers++
			if !p.po.playing {
				t.Stalled++
			}
			if n := len(p.st.LatencyMs); n > 0 {
				lat = append(lat, p.st.LatencyMs[n-1])
			}
			if h := p.st.LastHost; h != "" {
				t.Hosts[h]++
			}
		}
		t.Stalls += p.st.Stalls
		t.Errors += p.st.Errors
		p.mu.Unlock()
	}
	t.LatencyP50Ms, t.LatencyP95Ms = percentile(lat, 0.5), percentile(lat, 0.95)
	t.LoadP50Ms, t.LoadP95Ms, t.LoadP99Ms = percentile(loads, 0.5), percentile(loads, 0.95), percentile(loads, 0.99)
	return t
}

// String is the progress line of a tick.
func (t Tick) String() string {
	hosts := make([]string, 0, len(t.Hosts))
	for h, n := range t.Hosts {
		hosts = append(hosts, fmt.Sprintf("%s:%d", h, n))
	}
	sort.Strings(hosts)
	return fmt.Sprintf("t=%3.0fs viewers=%d stalled=%d stalls=%d errors=%d latency p50=%.2fs p95=%.2fs edges=[%s]",
		t.At, t.Viewers, t.Stalled, t.Stalls, t.Errors, t.LatencyP50Ms/1000, t.LatencyP95Ms/1000, strings.Join(hosts, " "))
}

func totals(vs []ViewerStats, secs float64) Totals {
	t := Totals{Viewers: len(vs), RequestsPerHosts: map[string]int{}}
	var startups, lat []float64
	for _, v := range vs {
		if v.StartupMs != nil {
			t.Started++
			startups = append(startups, *v.StartupMs)
		}
		t.Stalls += v.Stalls
		if v.Stalls > 0 {
			t.ViewersStalled++
		}
		if v.Cut {
			t.ViewersCut++
		}
		t.LongestStallMs = max(t.LongestStallMs, v.LongestStallMs)
		t.Errors += v.Errors
		t.Requests += v.Requests
		t.Bytes += v.Bytes
		t.PathwaySwitches += v.PathwaySwitches
		lat = append(lat, v.LatencyMs...)
		for h, n := range v.Hosts {
			t.RequestsPerHosts[h] += n
		}
	}
	t.StartupP50Ms, t.StartupP95Ms = percentile(startups, 0.5), percentile(startups, 0.95)
	t.LatencyP50Ms, t.LatencyP95Ms = percentile(lat, 0.5), percentile(lat, 0.95)
	if secs > 0 {
		t.RequestsPerSec = float64(t.Requests) / secs
	}
	return t
}

// percentile of xs (nearest rank; 0 for none). xs is not changed.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}
