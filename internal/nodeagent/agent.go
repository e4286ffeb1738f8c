// Package nodeagent is the node side of the node↔manager protocol: it registers the node, reports its
// load at the interval the manager asks for, sends stream events, and hands on the manager's assignment.
package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

const (
	defaultMinInterval = time.Second
	defaultMaxInterval = 30 * time.Second
	// defaultInterval is used while the manager names no report interval.
	defaultInterval  = 5 * time.Second
	defaultQueueSize = 256
	// requestTimeout bounds each call, whatever the Client's own http.Client does.
	requestTimeout = 10 * time.Second
	// defaultMaxStreams bounds the streams a report lists: the manager routes by them, and a node
	// carrying more reports the rest in its count only.
	defaultMaxStreams = 500
)

// Agent keeps a node registered with the stream manager. Set the fields, then call Run; StreamStarted
// and StreamEnded may be called at any time, from any goroutine.
type Agent struct {
	Client *nodeapi.Client
	// Register is what the node registers as; it is sent again whenever the manager has forgotten it.
	Register nodeapi.RegisterRequest
	// Stats is read at each report (nil reports zeros and no streams). Load.Streams counts every stream
	// the node carries; the list holds those the manager needs to know of by name (an origin's
	// publications), most important first: a report that must be cut keeps the head of it.
	Stats func() (nodemodel.Load, []nodemodel.StreamLoad)
	// OnAssignment is called from Run's goroutine, in order, when the assignment changes (and once
	// for the first one). It should not block for long: reports wait for it. May be nil.
	OnAssignment func(nodeapi.Assignment)
	// Log receives the agent's logs (nil discards them); it never sees the cluster secret.
	Log *slog.Logger
	// MinInterval and MaxInterval clamp the manager's report interval and bound the retry backoff;
	// 0 means 1 s and 30 s.
	MinInterval, MaxInterval time.Duration
	// QueueSize bounds the stream events waiting to be sent (0 means 256); past it the oldest are
	// dropped, since the next report's stream list is the source of truth anyway.
	QueueSize int
	// MaxStreams bounds the streams a report lists (0 means 500), and MaxReportBytes its encoded size
	// (0 means nodeapi.MaxBodyBytes, what the manager reads); the streams past either are only counted.
	MaxStreams, MaxReportBytes int

	mu             sync.Mutex
	id             string
	assignment     nodeapi.Assignment
	haveAssignment bool
	queue          []queued
	seq            uint64
	dropped        uint64
	dropping       bool // events are being dropped: warn once, until a send succeeds again
	wake           chan struct{}
	cutting        bool // reports list only some of the streams: warn once, until they list all again
	draining       bool // Drain was called: every report asks the manager to drain the node
}

type queued struct {
	seq uint64
	ev  nodeapi.StreamEvent
}

// ErrNotRegistered is returned by a call made before the node registered (or while it registers again).
var ErrNotRegistered = errors.New("the node is not registered with the manager")

// Ladder asks the manager for the adaptive ladder provisioned for stream ("<app>/<stream>").
func (a *Agent) Ladder(ctx context.Context, stream string) (nodeapi.LadderResponse, error) {
	id := a.ID()
	if id == "" {
		return nodeapi.LadderResponse{}, ErrNotRegistered
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return a.Client.Ladder(ctx, nodeapi.LadderRequest{ID: id, Stream: stream})
}

// Origin asks the manager which origin serves stream ("<app>/<stream>") and answers the base URL of the
// origin's HTTP port: for a transcoder, where a stream published on it goes; for an edge or relay, where
// a stream its parent does not carry is live.
func (a *Agent) Origin(ctx context.Context, stream string) (string, error) {
	id := a.ID()
	if id == "" {
		return "", ErrNotRegistered
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := a.Client.Origin(ctx, nodeapi.OriginRequest{ID: id, Stream: stream})
	return resp.Origin, err
}

// Parent asks the manager at once for the parent of this edge or relay, which has none (its last
// assignment named none), and answers the parent's base URL. The next assignment names the same.
func (a *Agent) Parent(ctx context.Context) (string, error) {
	id := a.ID()
	if id == "" {
		return "", ErrNotRegistered
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := a.Client.Parent(ctx, nodeapi.ParentRequest{ID: id})
	return resp.Parent, err
}

// ID returns the id the manager assigned, or "" before registration and while registering again.
func (a *Agent) ID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Assignment returns the last assignment from the manager (the zero value before registration).
func (a *Agent) Assignment() nodeapi.Assignment {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.assignment
}

// Drain makes every report from now on ask the manager to drain the node (it is being stopped): the
// manager sends it no new viewers or publishers. It never blocks; the next report carries it.
func (a *Agent) Drain() {
	a.mu.Lock()
	a.draining = true
	a.mu.Unlock()
}

// DroppedEvents returns how many stream events were dropped because the queue was full.
func (a *Agent) DroppedEvents() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// StreamStarted queues a publish event for stream name ("<app>/<stream>"). It never blocks.
func (a *Agent) StreamStarted(name, protocol string) {
	a.enqueue(nodeapi.StreamEvent{Stream: name, Action: nodeapi.ActionPublish, Protocol: protocol})
}

// StreamEnded queues an unpublish event for stream name. It never blocks.
func (a *Agent) StreamEnded(name, protocol string) {
	a.enqueue(nodeapi.StreamEvent{Stream: name, Action: nodeapi.ActionUnpublish, Protocol: protocol})
}

// Run registers the node, then reports every interval until ctx is cancelled, when it returns nil. It
// rides out an unreachable or failing manager, registering again when the manager has forgotten the
// node; it returns an error only for a configuration that can never work.
func (a *Agent) Run(ctx context.Context) error {
	if a.Client == nil {
		return errors.New("nodeagent: no Client")
	}
	if err := a.Register.Validate(); err != nil {
		return fmt.Errorf("nodeagent: registration: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { a.sendEvents(ctx) })

	for {
		id, interval, ok := a.register(ctx)
		if !ok {
			return nil
		}
		if !a.report(ctx, id, interval) {
			return nil
		}
	}
}

// register calls the manager until it accepts the node, backing off while it fails. ok is false when
// ctx is done.
func (a *Agent) register(ctx context.Context) (id string, interval time.Duration, ok bool) {
	log := a.log()
	minI, maxI := a.bounds()
	backoff := minI
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := a.Client.Register(rctx, a.Register)
		cancel()
		if ctx.Err() != nil {
			return "", 0, false
		}
		if err == nil && resp.ID == "" {
			err = errors.New("the manager answered without a node id")
		}
		if err == nil {
			interval = a.interval(resp.ReportIntervalMS)
			a.mu.Lock()
			a.id = resp.ID
			a.mu.Unlock()
			a.signal()
			log.Info("registered with the stream manager", "id", resp.ID, "role", a.Register.Role,
				"attempts", attempt, "reportInterval", interval)
			a.setAssignment(resp.Assignment)
			return resp.ID, interval, true
		}
		wait := jitter(backoff)
		if ra := nodeapi.RetryAfter(err); ra > wait {
			wait = min(ra, maxI)
		}
		log.Warn("registering with the stream manager failed", "attempt", attempt, "retryIn", wait.Round(time.Millisecond), "err", err)
		if !sleep(ctx, wait) {
			return "", 0, false
		}
		backoff = min(backoff*2, maxI)
	}
}

// report sends a report now and then every interval. It returns true when the manager has forgotten
// the node, false when ctx is done.
func (a *Agent) report(ctx context.Context, id string, interval time.Duration) bool {
	log := a.log().With("id", id)
	minI, maxI := a.bounds()
	// limit is how many streams a report may list; it shrinks for good (for this registration) when the
	// manager refuses a report that fit our own bounds, so that the node keeps reporting whatever limit
	// the manager has
	limit := a.MaxStreams
	if limit <= 0 {
		limit = defaultMaxStreams
	}
	for {
		a.mu.Lock()
		req := nodeapi.ReportRequest{ID: id, Drain: a.draining}
		a.mu.Unlock()
		if a.Stats != nil {
			req.Stats, req.Streams = a.Stats()
		}
		size := a.fit(&req, limit, log)
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := a.Client.Report(rctx, req)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		wait := interval
		switch {
		case err == nil:
			if next := a.interval(resp.ReportIntervalMS); next != interval {
				log.Info("report interval changed", "from", interval, "to", next)
				interval, wait = next, next
			}
			a.setAssignment(resp.Assignment)
		case errors.Is(err, nodeapi.ErrUnknownNode):
			log.Warn("the stream manager does not know this node, registering again", "err", err)
			a.mu.Lock()
			a.id = ""
			a.mu.Unlock()
			return true
		case errors.Is(err, nodeapi.ErrTooManyReports):
			if ra := nodeapi.RetryAfter(err); ra > 0 {
				wait = min(max(ra, minI), maxI)
			}
			log.Warn("the stream manager asks for fewer reports", "retryIn", wait, "err", err)
		case errors.Is(err, nodeapi.ErrInvalid) && len(req.Streams) > 0:
			// too large, or a stream the manager will not take: a report it refuses is as good as none,
			// and after its node timeout the node would be marked dead. Send it again now, listing fewer.
			limit = len(req.Streams) / 2
			log.Error("the stream manager refused the report, sending it again with fewer streams listed",
				"bytes", size, "streams", len(req.Streams), "streamCount", req.Stats.Streams, "listing", limit, "err", err)
			continue
		case errors.Is(err, nodeapi.ErrInvalid):
			log.Error("the stream manager refused the report", "bytes", size, "streamCount", req.Stats.Streams,
				"retryIn", wait, "err", err)
		default:
			log.Warn("report failed", "retryIn", wait, "err", err)
		}
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// fit bounds req's stream list to limit entries and its encoding to MaxReportBytes, keeping the head of
// the list and the count of every stream in Stats.Streams. It returns the encoded size, and warns once
// when it starts cutting lists (and says when it stops).
func (a *Agent) fit(req *nodeapi.ReportRequest, limit int, log *slog.Logger) int {
	maxBytes := a.MaxReportBytes
	if maxBytes <= 0 {
		maxBytes = nodeapi.MaxBodyBytes
	}
	if req.Streams == nil {
		req.Streams = []nodemodel.StreamLoad{}
	}
	all := len(req.Streams)
	req.Stats.Streams = max(req.Stats.Streams, all)
	if len(req.Streams) > limit {
		req.Streams = req.Streams[:limit]
	}
	size := encodedSize(req)
	if size > maxBytes {
		// the size of each entry decides how many fit: entries are a comma apart
		streams := req.Streams
		req.Streams = []nodemodel.StreamLoad{}
		size = encodedSize(req)
		n := 0
		for ; n < len(streams); n++ {
			entry := encodedSize(streams[n]) + 1
			if size+entry > maxBytes {
				break
			}
			size += entry
		}
		req.Streams = streams[:n]
		size = encodedSize(req)
	}
	a.mu.Lock()
	cut, was := len(req.Streams) < all, a.cutting
	a.cutting = cut
	a.mu.Unlock()
	switch {
	case cut && !was:
		log.Warn("the report lists only some of the node's streams, the others are counted only",
			"listed", len(req.Streams), "streams", all, "maxStreams", limit, "maxBytes", maxBytes)
	case !cut && was:
		log.Info("the report lists all of the node's streams again", "streams", all)
	}
	return size
}

func encodedSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0 // the client's encoding fails the same way, and says so
	}
	return len(b)
}

// setAssignment records as and tells OnAssignment when it changed.
func (a *Agent) setAssignment(as nodeapi.Assignment) {
	a.mu.Lock()
	changed := !a.haveAssignment || !a.assignment.Equal(as)
	a.assignment, a.haveAssignment = as, true
	a.mu.Unlock()
	if !changed {
		return
	}
	a.log().Info("assignment", "state", as.State, "parent", as.Parent, "drain", as.Drain, "drainDeadline", as.DrainDeadline)
	if a.OnAssignment != nil {
		a.OnAssignment(as)
	}
}

func (a *Agent) enqueue(ev nodeapi.StreamEvent) {
	size := a.QueueSize
	if size <= 0 {
		size = defaultQueueSize
	}
	a.mu.Lock()
	warn := false
	if n := len(a.queue) - size + 1; n > 0 {
		clear(a.queue[:n])
		a.queue = a.queue[n:]
		a.dropped += uint64(n)
		warn, a.dropping = !a.dropping, true
	}
	a.seq++
	a.queue = append(a.queue, queued{seq: a.seq, ev: ev})
	a.mu.Unlock()
	a.signal()
	if warn {
		a.log().Warn("stream event queue full, dropping the oldest events until the manager answers again")
	}
}

// signal wakes the event sender without blocking.
func (a *Agent) signal() {
	select {
	case a.wakeCh() <- struct{}{}:
	default:
	}
}

func (a *Agent) wakeCh() chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wake == nil {
		a.wake = make(chan struct{}, 1)
	}
	return a.wake
}

// next returns the oldest queued event, once the node has an id.
func (a *Agent) next() (queued, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.id == "" || len(a.queue) == 0 {
		return queued{}, false
	}
	q := a.queue[0]
	q.ev.ID = a.id
	return q, true
}

// sent removes the event numbered seq, unless an overflow has dropped it meanwhile.
func (a *Agent) sent(seq uint64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.queue) > 0 && a.queue[0].seq == seq {
		a.queue[0] = queued{}
		a.queue = a.queue[1:]
	}
	if ok {
		a.dropping = false
	}
}

// sendEvents delivers queued stream events one at a time, in order, until ctx is done. A failed send
// is retried with backoff; events pile up meanwhile and the oldest are dropped past QueueSize.
func (a *Agent) sendEvents(ctx context.Context) {
	log := a.log()
	minI, maxI := a.bounds()
	wake := a.wakeCh()
	backoff, failures := minI, 0
	for {
		q, ok := a.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				continue
			}
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := a.Client.StreamEvent(rctx, q.ev)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			a.sent(q.seq, true)
			backoff, failures = minI, 0
			continue
		case errors.Is(err, nodeapi.ErrInvalid):
			// retrying cannot help; the next report lists the node's streams anyway
			log.Warn("the stream manager refused a stream event, dropping it",
				"stream", q.ev.Stream, "action", q.ev.Action, "err", err)
			a.sent(q.seq, false)
			continue
		}
		failures++
		level := slog.LevelDebug
		if failures == 1 {
			level = slog.LevelWarn
		}
		wait := jitter(backoff)
		if ra := nodeapi.RetryAfter(err); ra > wait {
			wait = min(ra, maxI)
		}
		log.Log(ctx, level, "sending a stream event failed, retrying", "stream", q.ev.Stream, "action", q.ev.Action,
			"failures", failures, "retryIn", wait.Round(time.Millisecond), "err", err)
		if !sleep(ctx, wait) {
			return
		}
		backoff = min(backoff*2, maxI)
	}
}

func (a *Agent) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *Agent) bounds() (minI, maxI time.Duration) {
	minI, maxI = a.MinInterval, a.MaxInterval
	if minI <= 0 {
		minI = defaultMinInterval
	}
	if maxI <= 0 {
		maxI = defaultMaxInterval
	}
	return minI, max(minI, maxI)
}

// interval turns the manager's report interval into a duration within the bounds.
func (a *Agent) interval(ms int) time.Duration {
	minI, maxI := a.bounds()
	d := defaultInterval
	if ms > 0 {
		d = time.Duration(min(ms, int(maxI/time.Millisecond)+1)) * time.Millisecond // no overflow
	}
	return min(max(d, minI), maxI)
}

// jitter spreads retries of many nodes: a random wait in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or returns false when ctx is done first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
