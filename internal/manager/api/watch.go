package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/store"
)

// ---- live updates for the console: GET /api/v1/watch (server-sent events) ----
//
// One goroutine, running while anyone watches, builds the cluster's picture every WatchEvery, encodes it
// once and hands it to every watcher when it changed: twenty consoles cost one picture a second, not
// twenty. A watcher that cannot keep up skips to the newest picture.

// WatchEvery is how often the picture is rebuilt and compared (a change reaches the console within it).
var WatchEvery = time.Second

// watchPing is how often a comment line keeps an idle stream (and the proxies on its way) open.
const watchPing = 15 * time.Second

// watchScaleEvents is how many of the newest scale events the picture carries.
const watchScaleEvents = 100

type watchHub struct {
	closeOnce sync.Once
	closing   chan struct{} // closed by CloseWatchers

	mu      sync.Mutex
	subs    map[chan []byte]struct{}
	running bool
	last    []byte // the newest picture sent, for a watcher that arrives
	failing bool   // the last build failed (logged once until it succeeds again)
}

// CloseWatchers ends every live-update stream and the ones that start later: the manager is stopping.
// http.Server.Shutdown waits for requests in progress without ending them, so register it with
// RegisterOnShutdown.
func (s *Server) CloseWatchers() {
	s.watch.done()
	s.watch.closeOnce.Do(func() { close(s.watch.closing) })
}

// done is closed once the watchers are to end.
func (h *watchHub) done() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing == nil {
		h.closing = make(chan struct{})
	}
	return h.closing
}

// subscribe adds a watcher; the returned function removes it.
func (s *Server) subscribe() (chan []byte, func()) {
	h := &s.watch
	ch := make(chan []byte, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[chan []byte]struct{}{}
	}
	h.subs[ch] = struct{}{}
	if h.last != nil {
		ch <- h.last
	}
	if !h.running {
		h.running = true
		go s.watchLoop()
	}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, ch)
	}
}

// watchLoop builds pictures while anyone watches.
func (s *Server) watchLoop() {
	t := time.NewTicker(WatchEvery)
	defer t.Stop()
	var unchanged []byte // the last picture without its time, to tell a change
	for {
		s.watch.mu.Lock()
		if len(s.watch.subs) == 0 {
			s.watch.running, s.watch.last = false, nil
			s.watch.mu.Unlock()
			return
		}
		s.watch.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), WatchEvery+time.Second)
		pic, err := s.picture(ctx)
		cancel()
		s.watched(err)
		if err == nil {
			body, _ := json.Marshal(pic) // without its time, so that an unchanged cluster compares equal
			if !bytes.Equal(body, unchanged) {
				unchanged = body
				s.broadcast(clusterEvent(body, s.now().UTC()))
			}
		}
		<-t.C
	}
}

// clusterEvent is the server-sent event of a picture: body is the picture encoded without its time, which
// goes in as its first field ("at" is Picture's first field, omitted while zero), so that a picture is
// encoded once.
func clusterEvent(body []byte, at time.Time) []byte {
	stamp, _ := at.MarshalJSON()
	const head = "event: cluster\ndata: {\"at\":"
	msg := make([]byte, 0, len(head)+len(stamp)+len(body)+2)
	msg = append(append(append(msg, head...), stamp...), ',')
	msg = append(msg, body[1:]...) // body without its opening brace
	return append(msg, '\n', '\n')
}

// watched logs a failing build once, and its recovery.
func (s *Server) watched(err error) {
	s.watch.mu.Lock()
	was := s.watch.failing
	s.watch.failing = err != nil
	s.watch.mu.Unlock()
	switch {
	case err != nil && !was:
		s.Log.Warn("console live updates paused: the cluster's picture could not be built", "cause", err)
	case err == nil && was:
		s.Log.Info("console live updates resumed")
	}
}

func (s *Server) broadcast(msg []byte) {
	h := &s.watch
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = msg
	for ch := range h.subs {
		select {
		case ch <- msg:
		default: // still holding an older picture: replace it
			select {
			case <-ch:
			default:
			}
			ch <- msg
		}
	}
}

// Picture is the data of each event GET /api/v1/watch sends: the whole cluster as the console shows it.
type Picture struct {
	At          time.Time                 `json:"at,omitzero"`
	Groups      []apitypes.NodeGroup      `json:"groups"`
	Nodes       []apitypes.Node           `json:"nodes"`
	Streams     []apitypes.Stream         `json:"streams"`
	Alarms      []apitypes.AlarmThreshold `json:"alarms"`
	ScaleEvents []apitypes.ScaleEvent     `json:"scaleEvents"`
	Autoscale   []autoscaler.RoleTrace    `json:"autoscale"`
}

func (s *Server) picture(ctx context.Context) (Picture, error) {
	groups, err := s.groups(ctx)
	if err != nil {
		return Picture{}, fmt.Errorf("node groups: %w", err)
	}
	streams, err := s.liveStreams(ctx)
	if err != nil {
		return Picture{}, fmt.Errorf("streams: %w", err)
	}
	alarms, err := s.thresholds(ctx)
	if err != nil {
		return Picture{}, fmt.Errorf("alarm thresholds: %w", err)
	}
	events, err := s.Store.ScaleEvents(ctx, "", watchScaleEvents)
	if err != nil {
		return Picture{}, fmt.Errorf("scale events: %w", err)
	}
	pic := Picture{
		Groups:      nonNil(convertAll(groups, groupToAPI)),
		Nodes:       nonNil(convertAll(s.Cluster.Nodes(""), nodeToAPI)),
		Streams:     nonNil(streams),
		Alarms:      nonNil(convertAll(alarms, thresholdToAPI)),
		ScaleEvents: nonNil(convertAll(events, scaleEventToAPI)),
		Autoscale:   []autoscaler.RoleTrace{},
	}
	if s.Trace != nil {
		trace, err := s.Trace(ctx)
		if err != nil {
			return Picture{}, fmt.Errorf("autoscaling trace: %w", err)
		}
		// a group deleted a moment ago keeps samples in the reader's window: its chart goes with it
		for _, rt := range trace {
			if slices.ContainsFunc(groups, func(g store.NodeGroup) bool { return g.Name == rt.Group }) {
				rt.Samples = thin(rt.Samples, chartPoints)
				pic.Autoscale = append(pic.Autoscale, rt)
			}
		}
	}
	return pic, nil
}

// chartPoints bounds the samples of one chart in a picture. Fifteen minutes of a tick a second would make
// each picture (sent every second to every console) carry 900 points per group and role, more than the
// rest of a mid-sized cluster; a chart shows no more than a few hundred.
const chartPoints = 300

// thin returns at most n points of ps, each standing for an equal run of consecutive samples: the highest
// load and projection of the run (a spike that made the autoscaler act stays visible), its last time and
// node count. ps itself is not changed.
func thin(ps []autoscaler.TracePoint, n int) []autoscaler.TracePoint {
	if len(ps) <= n {
		return ps
	}
	out := make([]autoscaler.TracePoint, 0, n)
	for b := range n {
		run := ps[b*len(ps)/n : (b+1)*len(ps)/n]
		p := run[len(run)-1]
		for _, q := range run {
			p.Load, p.Predicted = max(p.Load, q.Load), max(p.Predicted, q.Predicted)
		}
		out = append(out, p)
	}
	return out
}

func (n nativeAPI) watch(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx in front: pass events on at once
	w.WriteHeader(http.StatusOK)
	// tell the browser how soon to reconnect after the manager went away
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("live updates need a flushing connection: %w", err)
	}
	ch, unsubscribe := n.s.subscribe()
	defer unsubscribe()
	ping := time.NewTicker(watchPing)
	defer ping.Stop()
	closing := n.s.watch.done()
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return nil
		case <-closing:
			return nil // the manager is stopping: the console reconnects to it, or to another
		case msg = <-ch:
		case <-ping.C:
			if n.s.authorized(r) != nil {
				return nil // signed out or expired meanwhile: the console reconnects and is refused
			}
			msg = []byte(": ping\n\n")
		}
		if _, err := w.Write(msg); err != nil {
			return nil // the console went away
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
