package node

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

const (
	// askParentTimeout bounds the manager call of an edge that has no parent: a viewer waits for it.
	askParentTimeout = 3 * time.Second
	// askParentRetry is how long a failed call is remembered: however many viewers, or requests for
	// made-up names, reach an edge without a parent, it asks its manager about once per this at most.
	askParentRetry = time.Second
)

// parentAsker asks the manager for an edge's parent on behalf of every request that needs one while
// the edge has none (it entered service before any parent did, and its next report is up to an interval
// away): one call at a time for the whole node, since the parent is the node's and not a stream's, and a
// failure remembered for askParentRetry.
type parentAsker struct {
	ask func(context.Context) (string, error)
	// set records the parent found (only if the node still has none)
	set func(string)
	log *slog.Logger
	now func() time.Time // nil: time.Now

	mu     sync.Mutex
	call   *parentCall // the call in flight, nil when none is
	failed time.Time   // when the last call failed
}

// parentCall is one call to the manager, which the requests that come while it runs wait for.
type parentCall struct {
	done chan struct{}
	url  string // set before done is closed
}

func (a *parentAsker) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

// get returns the parent the manager names now: it joins the call in flight, or makes one unless the
// last failed less than askParentRetry ago. It returns "" when there is none, or when ctx ends first.
func (a *parentAsker) get(ctx context.Context) string {
	a.mu.Lock()
	if c := a.call; c != nil {
		a.mu.Unlock()
		select {
		case <-c.done:
			return c.url
		case <-ctx.Done():
			return ""
		}
	}
	if !a.failed.IsZero() && a.clock().Sub(a.failed) < askParentRetry {
		a.mu.Unlock()
		return ""
	}
	c := &parentCall{done: make(chan struct{})}
	a.call = c
	a.mu.Unlock()

	actx, cancel := context.WithTimeout(ctx, askParentTimeout)
	url, err := a.ask(actx)
	cancel()
	if err == nil && url == "" {
		err = errors.New("the manager named no parent")
	}
	switch {
	case err == nil:
		a.set(url)
		a.log.Info("parent given by the manager at once, ahead of the next report", "parent", url)
	case ctx.Err() != nil:
		// the request that asked went away: not the manager's failure, the next request asks again
	case errors.Is(err, nodeapi.ErrUnavailable):
		a.log.Info("no parent yet: the manager has none in service for this node", "retryIn", askParentRetry)
	default:
		a.log.Warn("asking the manager for a parent failed", "retryIn", askParentRetry, "cause", err)
	}
	a.mu.Lock()
	a.call = nil
	if err != nil && ctx.Err() == nil {
		a.failed = a.clock()
	}
	a.mu.Unlock()
	if err == nil {
		c.url = url
	}
	close(c.done)
	return c.url
}

const (
	// locateRate and locateBurst are a node's budget of calls asking its manager where a stream is that
	// its parent does not carry: a few new streams a second is plenty for real viewers, and requests for
	// made-up names cost the manager no more than that.
	locateRate  = 10
	locateBurst = 20
)

// streamLocator asks the manager where a stream is live that an edge's or relay's parent does not carry
// (several origins in a group, each with its own streams, and one parent per node): see
// relay.Server.Locate. Past its budget it answers "" at once, as when the stream is live nowhere.
type streamLocator struct {
	ask   func(ctx context.Context, stream string) (string, error)
	limit *rate.Limiter
	log   *slog.Logger
}

func newStreamLocator(ask func(context.Context, string) (string, error), log *slog.Logger) *streamLocator {
	return &streamLocator{ask: ask, limit: rate.NewLimiter(locateRate, locateBurst), log: log}
}

// locate returns the base URL of the origin where p is live, or "".
func (l *streamLocator) locate(ctx context.Context, p stream.Path) string {
	if !l.limit.Allow() {
		l.log.Debug("not asking where a stream is: too many asked this second", "stream", p.String())
		return ""
	}
	url, err := l.ask(ctx, p.String())
	switch {
	case err == nil:
		return url
	case errors.Is(err, nodeapi.ErrUnavailable):
		l.log.Debug("the stream is live on no origin", "stream", p.String())
	case ctx.Err() != nil:
	default:
		l.log.Warn("asking the manager where a stream is failed", "stream", p.String(), "cause", err)
	}
	return ""
}
