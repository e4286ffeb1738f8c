package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// partKey names a part by its segment's media sequence number and its index in that segment.
type partKey struct {
	MSN   uint64
	Index int
}

type seen struct {
	Duration time.Duration
	At       time.Time
	// Stale marks what the first playlist fetched already listed: when it was listed is unknown.
	Stale bool
}

// observations record when each segment and part was first listed by a playlist.
type observations struct {
	mu       sync.Mutex
	segments map[uint64]seen
	parts    map[partKey]seen
	primed   bool
}

func newObservations() *observations {
	return &observations{segments: map[uint64]seen{}, parts: map[partKey]seen{}}
}

// add records what pl lists that was not listed before; at is when pl was received.
func (o *observations) add(pl *MediaPlaylist, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	stale := !o.primed
	o.primed = true
	for _, s := range pl.Segments {
		if s.Gap {
			continue
		}
		if _, ok := o.segments[s.MSN]; !ok {
			o.segments[s.MSN] = seen{Duration: s.Duration, At: at, Stale: stale}
		}
		o.addParts(s.MSN, s.Parts, at, stale)
	}
	o.addParts(pl.NextMSN(), pl.Parts, at, stale)
}

func (o *observations) addParts(msn uint64, parts []Part, at time.Time, stale bool) {
	for i, p := range parts {
		k := partKey{msn, i}
		if _, ok := o.parts[k]; !ok {
			o.parts[k] = seen{Duration: p.Duration, At: at, Stale: stale}
		}
	}
}

// attribution is the outcome of matching observations with the frames the publisher sent.
type attribution struct {
	Segments     []time.Duration // listing time − send time of the frame that completed the segment
	Parts        []time.Duration
	Unattributed int // segments or parts whose end matched no frame sent
}

// attribute computes the server-added lag of every segment and part observed (but those the first
// playlist fetched already listed). A segment or part is
// complete when the frame that follows it arrives (the segmenter cannot close it earlier), so its lag
// is measured from the send time of the first frame at or after its end. Media time 0 is the first
// frame sent, where the first segment starts. tol bounds the distance between the end of a segment
// or part, computed from the listed durations, and the frame matched with it.
func (o *observations) attribute(sent []SentFrame, tol time.Duration) attribution {
	o.mu.Lock()
	defer o.mu.Unlock()
	var a attribution
	msns := make([]uint64, 0, len(o.segments))
	for m := range o.segments {
		msns = append(msns, m)
	}
	slices.Sort(msns)
	// start of each segment in media time, as far as the sequence is unbroken from the first one
	start := map[uint64]time.Duration{}
	if len(msns) > 0 {
		end := time.Duration(0)
		start[msns[0]] = 0
		for i, m := range msns {
			if i > 0 && m != msns[i-1]+1 {
				break
			}
			end += o.segments[m].Duration
			start[m+1] = end
			if o.segments[m].Stale {
				continue
			}
			if lag, ok := lagAt(sent, end, o.segments[m].At, tol); ok {
				a.Segments = append(a.Segments, lag)
			} else {
				a.Unattributed++
			}
		}
	}
	keys := make([]partKey, 0, len(o.parts))
	for k := range o.parts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y partKey) int {
		if c := cmp.Compare(x.MSN, y.MSN); c != 0 {
			return c
		}
		return cmp.Compare(x.Index, y.Index)
	})
	var (
		cur    uint64
		end    time.Duration
		next   int
		usable bool
	)
	for _, k := range keys {
		if !usable || k.MSN != cur {
			cur, next = k.MSN, 0
			end, usable = start[k.MSN]
		}
		if !usable || k.Index != next {
			usable = false // a part of this segment was never seen: later ends are unknown
			a.Unattributed++
			continue
		}
		next++
		end += o.parts[k].Duration
		if o.parts[k].Stale {
			continue
		}
		if lag, ok := lagAt(sent, end, o.parts[k].At, tol); ok {
			a.Parts = append(a.Parts, lag)
		} else {
			a.Unattributed++
		}
	}
	return a
}

// lagAt finds the frame sent at media time end (within tol) and returns listed − its send time.
func lagAt(sent []SentFrame, end time.Duration, listed time.Time, tol time.Duration) (time.Duration, bool) {
	i, _ := slices.BinarySearchFunc(sent, end, func(f SentFrame, t time.Duration) int {
		switch {
		case f.Media < t:
			return -1
		case f.Media > t:
			return 1
		}
		return 0
	})
	best := -1
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= len(sent) {
			continue
		}
		if best < 0 || absDur(sent[j].Media-end) < absDur(sent[best].Media-end) {
			best = j
		}
	}
	if best < 0 || absDur(sent[best].Media-end) > tol {
		return 0, false
	}
	return listed.Sub(sent[best].At), true
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// fetch GETs u and returns the status, the body and when the body had been read.
func fetch(ctx context.Context, c *http.Client, u string) (int, []byte, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	at := time.Now()
	if err != nil {
		return resp.StatusCode, nil, at, err
	}
	return resp.StatusCode, b, at, nil
}

// mediaPlaylistURL polls u until it answers, and follows a multivariant playlist to its first variant.
func mediaPlaylistURL(ctx context.Context, c *http.Client, u string, every time.Duration) (string, error) {
	for {
		code, body, _, err := fetch(ctx, c, u)
		if err == nil && code == http.StatusOK {
			if v := VariantURI(body); v != "" {
				return resolve(u, v)
			}
			return u, nil
		}
		if err := sleepCtx(ctx, every); err != nil {
			return "", fmt.Errorf("waiting for %s: %w", u, err)
		}
	}
}

// poll fetches the media playlist every interval and records what it lists until ctx is done.
func poll(ctx context.Context, c *http.Client, u string, every time.Duration, obs *observations, onList func(*MediaPlaylist, time.Time) bool) {
	for ctx.Err() == nil {
		t := time.Now()
		code, body, at, err := fetch(ctx, c, u)
		if err == nil && code == http.StatusOK {
			if pl, err := ParseMediaPlaylist(body); err == nil {
				obs.add(pl, at)
				if onList != nil && onList(pl, at) {
					return
				}
			}
		}
		if err := sleepCtx(ctx, time.Until(t.Add(every))); err != nil {
			return
		}
	}
}

// block follows an LL-HLS playlist with blocking reloads (_HLS_msn, _HLS_part), asking each time for
// the part after the last one listed, so that every part and segment is seen the moment the server
// releases it. onPlaylist gets every playlist with the time it arrived.
func block(ctx context.Context, c *http.Client, u string, onPlaylist func(*MediaPlaylist, time.Time)) {
	base, err := url.Parse(u)
	if err != nil {
		return
	}
	next := u
	for ctx.Err() == nil {
		code, body, at, err := fetch(ctx, c, next)
		if err != nil || code != http.StatusOK {
			next = u // fall back to a plain reload, then resume blocking
			if sleepCtx(ctx, 10*time.Millisecond) != nil {
				return
			}
			continue
		}
		pl, err := ParseMediaPlaylist(body)
		if err != nil {
			next = u
			continue
		}
		onPlaylist(pl, at)
		q := base.Query()
		q.Set("_HLS_msn", strconv.FormatUint(pl.NextMSN(), 10))
		q.Set("_HLS_part", strconv.Itoa(len(pl.Parts)))
		nu := *base
		nu.RawQuery = q.Encode()
		next = nu.String()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
