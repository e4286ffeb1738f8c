package loadtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// maxBody bounds what a virtual player reads of one response.
const maxBody = 32 << 20

// player is one virtual viewer. It plays a live stream as hls.js does in low-latency mode: the entry URL
// (redirects followed), the multivariant playlist, one variant's media playlist, then parts (LL-HLS) or
// segments (classic HLS) in order, asking with blocking playlist reloads (or polling every half target
// duration) for what is not listed yet; it follows HLS Content Steering (pathway clones by host name, as
// hls.js does) and falls back to the next pathway when its own keeps failing. What it loads feeds a
// playout model that plays in real time: startup, stalls, latency behind the program date.
type player struct {
	client *http.Client
	// h1, when set, makes the player's plain-http requests (client the rest)
	h1    *h1Client
	entry string
	top   bool // the variant with the highest BANDWIDTH (default: the first listed)

	mu sync.Mutex
	st ViewerStats
	po playout
	// loadMs are the load times of parts and segments since the last tick took them
	loadMs []float64
}

// ViewerStats is what one virtual viewer saw.
type ViewerStats struct {
	ID int `json:"id"`
	// StartupMs is from the first request to the first media loaded (nil: never started).
	StartupMs      *float64 `json:"startupMs"`
	Stalls         int      `json:"stalls"`
	StallMs        float64  `json:"stallMs"`
	LongestStallMs float64  `json:"longestStallMs"`
	Requests       int      `json:"requests"`
	Errors         int      `json:"errors"`
	Bytes          int64    `json:"bytes"`
	// LatencyMs samples the wall clock minus the program date at the playhead, at each load.
	LatencyMs       []float64      `json:"-"`
	LatencyP50Ms    float64        `json:"latencyP50Ms"`
	Hosts           map[string]int `json:"hosts"` // requests per host:port
	LastHost        string         `json:"lastHost"`
	PathwaySwitches int            `json:"pathwaySwitches"`
	LastError       string         `json:"lastError,omitempty"`
	// Cut: the viewer stalled for Config.CutAfter or longer at least once.
	Cut bool `json:"cut"`
	// StallLog is each stall (the first maxEvents), Moves each change of the host the viewer loads its
	// media from (the first maxEvents): when the viewer was moved, and where.
	StallLog []StallEvent `json:"stallLog,omitempty"`
	Moves    []Move       `json:"moves,omitempty"`
}

// StallEvent is one stall of a viewer: when it began, how long it lasted (to the load that ended it, or
// to the viewer's leaving), and the host the viewer loaded from when it ended.
type StallEvent struct {
	At   time.Time `json:"at"`
	Ms   float64   `json:"ms"`
	Host string    `json:"host"`
}

// Move is a change of the host a viewer loads its media from, the first included (From is then ""):
// the manager's redirect, a steering decision or a fallback to another pathway. At is when the first
// answer from To arrived.
type Move struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
}

// maxEvents bounds a viewer's stall log and moves.
const maxEvents = 256

// endStall counts a stall that began at began and lasted d.
func (st *ViewerStats) endStall(began time.Time, d time.Duration) {
	ms := float64(d.Microseconds()) / 1000
	st.StallMs += ms
	st.LongestStallMs = max(st.LongestStallMs, ms)
	if len(st.StallLog) < maxEvents {
		st.StallLog = append(st.StallLog, StallEvent{At: began, Ms: ms, Host: st.LastHost})
	}
}

// moveTo notes that the viewer's media comes from host now.
func (st *ViewerStats) moveTo(host string, at time.Time) {
	if host == st.LastHost {
		return
	}
	if len(st.Moves) < maxEvents {
		st.Moves = append(st.Moves, Move{At: at, From: st.LastHost, To: host})
	}
	st.LastHost = host
}

// maxLatencySamples bounds a viewer's latency samples (the newest are kept).
const maxLatencySamples = 4096

func (p *player) snapshot() ViewerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.po.advance(time.Now(), &p.st)
	st := p.st
	st.LatencyMs = append([]float64(nil), p.st.LatencyMs...)
	st.StallLog = append([]StallEvent(nil), p.st.StallLog...)
	st.Moves = append([]Move(nil), p.st.Moves...)
	st.Hosts = make(map[string]int, len(p.st.Hosts))
	for h, n := range p.st.Hosts {
		st.Hosts[h] = n
	}
	return st
}

// get fetches a playlist (or the entry) from where the viewer plays, within timeout (0: the client's).
func (p *player) get(ctx context.Context, u *url.URL, timeout time.Duration) ([]byte, *url.URL, error) {
	return p.fetch(ctx, u, timeout, true, true)
}

// load fetches a media object from where the viewer plays; its bytes are counted, not kept.
func (p *player) load(ctx context.Context, u *url.URL, timeout time.Duration) error {
	_, _, err := p.fetch(ctx, u, timeout, true, false)
	return err
}

// fetch fetches u within timeout (0: stdTimeout, the net/http client's), counting the request, its bytes
// and its host (the host the viewer plays from when media is set); keep returns the body, which is valid
// until the player's next fetch. A status other than 200 is an error.
func (p *player) fetch(ctx context.Context, u *url.URL, timeout time.Duration, media, keep bool) ([]byte, *url.URL, error) {
	var (
		res      h1Result
		err      error
		deadline time.Time
	)
	if p.h1 != nil {
		res, err = p.h1.get(ctx, u, time.Now().Add(cmp.Or(timeout, stdTimeout)), keep)
	} else {
		if timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		res, err = stdGet(ctx, p.client, u, deadline, keep, "")
	}
	p.mu.Lock()
	p.st.Requests++
	if p.st.Hosts == nil {
		p.st.Hosts = map[string]int{}
	}
	p.st.Hosts[u.Host]++
	if res.final != nil && media {
		p.st.moveTo(res.final.Host, time.Now())
	}
	p.st.Bytes += res.n
	work := p.po.startWork
	if p.po.started {
		work = 0
	}
	p.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if res.status != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: HTTP %d", res.final.Redacted(), res.status)
	}
	if work > 0 {
		// the player's own work on what it loaded before its first frame: it asks for nothing meanwhile
		sleep(ctx, work)
	}
	return res.body, res.final, nil
}

func (p *player) fail(err error) {
	p.mu.Lock()
	p.st.Errors++
	p.st.LastError = err.Error()
	p.mu.Unlock()
}

// run plays until ctx ends (or the stream's playlist ends).
func (p *player) run(ctx context.Context) {
	p.mu.Lock()
	p.po.began = time.Now()
	p.mu.Unlock()
	for ctx.Err() == nil {
		err := p.play(ctx)
		if ctx.Err() != nil || err == nil {
			return
		}
		// the entry or the variant could not be read: start over, as a page reloading its player would
		p.fail(err)
		sleep(ctx, time.Second)
	}
}

func (p *player) play(ctx context.Context) error {
	entry, err := url.Parse(p.entry)
	if err != nil {
		return err
	}
	body, final, err := p.get(ctx, entry, 0)
	if err != nil {
		return err
	}
	media := final
	var st *steering
	if !isMedia(body) {
		mv, err := parseMultivariant(body)
		if err != nil {
			return fmt.Errorf("%s: %w", final.Redacted(), err)
		}
		// the variants of the pathway the playlist starts on (all of them without steering), as hls.js
		// filters its levels
		steered := mv.steeringURI != "" && slices.ContainsFunc(mv.variants, func(w variant) bool { return w.pathway == mv.pathway })
		var v *variant
		for i := range mv.variants {
			if w := &mv.variants[i]; (!steered || w.pathway == mv.pathway) && (v == nil || p.top && w.bandwidth > v.bandwidth) {
				v = w
			}
		}
		if v == nil {
			v = &mv.variants[0]
		}
		if media, err = final.Parse(v.uri); err != nil {
			return fmt.Errorf("variant URI %q: %w", v.uri, err)
		}
		if mv.steeringURI != "" {
			if su, err := final.Parse(mv.steeringURI); err == nil {
				st = newSteering(su, mv, *v, media, final)
			}
		}
		if body, _, err = p.get(ctx, media, 0); err != nil {
			return err
		}
	}
	pl, err := parseMedia(body)
	if err != nil {
		return fmt.Errorf("%s: %w", media.Redacted(), err)
	}
	return p.follow(ctx, media, pl, st)
}

// resumeAfterStall is the media a player of pl waits for ahead of its playhead to play on after a stall:
// a part on a playlist of parts; on a playlist of whole segments one and a half target durations, so
// that, whatever part of the segment being written it had loaded, it plays on with at least half a
// segment to spare over the next segment's arrival — as hls.js does after such a move (one stall of
// about 1.3 s, then about 2 s behind live with 1 s segments and no stall after it).
func resumeAfterStall(pl *mediaPlaylist) time.Duration {
	if pl.lowLatency() {
		return pl.partTarget
	}
	return pl.target * 3 / 2
}

// cursor is the next thing to load: part `part` of segment msn (LL-HLS), or segment msn. into is the
// media of segment msn loaded as parts before it.
type cursor struct {
	msn  uint64
	part int
	into time.Duration
}

// item is a part or segment to load.
type item struct {
	uri      string
	duration time.Duration
	date     time.Time
}

// follow loads the media of pl's rendition in order from a starting point behind the live edge.
func (p *player) follow(ctx context.Context, media *url.URL, pl *mediaPlaylist, st *steering) error {
	ll := pl.lowLatency()
	c, skip := start(pl)
	p.mu.Lock()
	if !p.po.started {
		p.po.skip = skip
	}
	p.mu.Unlock()
	var initURI string
	var rl reloads
	var parser reloadParser
	failures := 0
	// reload reads the playlist at u and goes on with it
	reload := func(u *url.URL, timeout time.Duration) error {
		body, _, err := p.get(ctx, u, timeout)
		if err != nil {
			return err
		}
		fresh, err := parser.parse(body, pl)
		if err != nil {
			return err
		}
		if fresh.lowLatency() != ll {
			// a move between a playlist of parts and one of whole segments (a pathway without parts, the
			// storage push's classic playlist): a stalled player now waits for as much as a player of
			// that playlist starts with. hls.js, moved from an edge's parts to the bucket's segments,
			// stalls once for about 1.3 s and plays on about 2 s behind live without another stall
			// (docs/steering.md); resuming with a part's worth ahead would put the player right at the
			// segments' arrival, stalling briefly at each one.
			p.mu.Lock()
			p.po.resume = resumeAfterStall(fresh)
			p.mu.Unlock()
		}
		// nothing holds on to the playlist replaced (its items were copied): its memory is the next one's
		pl, ll, failures = fresh, fresh.lowLatency(), 0
		if c.msn < pl.sequence {
			// behind the window (a long stall): go on from the oldest segment listed
			c = cursor{msn: pl.sequence}
		}
		return nil
	}
	// moveTo goes on from pathway URL u: its playlist first (a plain request, as hls.js reloads a level
	// on a new pathway), then its objects, the initialization section again
	moveTo := func(u *url.URL) {
		media, initURI = u, ""
		p.mu.Lock()
		p.st.PathwaySwitches++
		p.mu.Unlock()
		if err := reload(media, reloadTimeout(pl, false)); err != nil && ctx.Err() == nil {
			p.fail(err)
			failures++
		}
	}
	for ctx.Err() == nil {
		if st != nil && time.Now().After(st.due) {
			if moved := p.steer(ctx, st, media); moved != nil {
				moveTo(moved)
				continue
			}
		}
		if pl.initURI != "" && pl.initURI != initURI {
			u, err := resolve(media, pl.initURI)
			if err == nil {
				if err = p.load(ctx, u, 0); err == nil {
					initURI = pl.initURI
				}
			}
			if err != nil {
				p.fail(err)
				sleep(ctx, backoff(pl))
				continue
			}
		}
		it, next, ok := locate(pl, c, ll)
		if ok {
			u, err := resolve(media, it.uri)
			if err == nil {
				began := time.Now()
				err = p.load(ctx, u, mediaTimeout)
				if err == nil {
					p.mu.Lock()
					p.loadMs = append(p.loadMs, float64(time.Since(began).Microseconds())/1000)
					p.mu.Unlock()
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				p.fail(err)
				sleep(ctx, backoff(pl))
				// the playlist decides again: the object may have left the window
			} else {
				p.appended(it)
				c = next
				continue
			}
		} else if pl.endList {
			return nil
		}
		// reload: blocking for the next part (LL-HLS), or after half a target duration
		var u *url.URL
		if ll {
			u = rl.url(media, c.msn, c.part)
		} else {
			if !ok {
				sleep(ctx, pl.target/2)
			}
			q := media.Query()
			u = &url.URL{}
			*u = *media
			u.RawQuery = q.Encode()
		}
		err := reload(u, reloadTimeout(pl, ll))
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		p.fail(err)
		failures++
		if st != nil && failures >= 3 {
			// the pathway keeps failing: the next one the steering server named, as hls.js does
			if moved := st.fallBack(); moved != nil {
				failures = 0
				moveTo(moved)
				continue
			}
		}
		sleep(ctx, backoff(pl))
	}
	return nil
}

// mediaTimeout bounds the load of a part or segment, as hls.js's default fragment load policy does (10 s
// to the first byte): a frozen edge costs its players that long.
const mediaTimeout = 10 * time.Second

// reloadTimeout bounds a playlist reload as hls.js does: a blocking reload (LL-HLS) gets
// max(3 part targets, 0.8 target durations), so that a player notices a stuck edge within about a segment,
// and other reloads 10 s.
func reloadTimeout(pl *mediaPlaylist, blocking bool) time.Duration {
	if blocking && pl.partTarget > 0 {
		return max(3*pl.partTarget, pl.target*8/10)
	}
	return 10 * time.Second
}

func backoff(pl *mediaPlaylist) time.Duration {
	if pl.partTarget > 0 {
		return max(pl.partTarget, 200*time.Millisecond)
	}
	return min(max(pl.target/2, 200*time.Millisecond), time.Second)
}

// start picks where a player joining pl begins, as hls.js does: with LL-HLS, its start position is
// PART-HOLD-BACK (or three part targets) before the live edge, and it loads from the latest independent
// part at or before it, into which it seeks skip; without, three target durations behind the edge, from
// the segment's start.
func start(pl *mediaPlaylist) (c cursor, skip time.Duration) {
	if !pl.lowLatency() {
		return cursor{msn: pl.sequence + uint64(max(0, len(pl.segments)-3))}, 0
	}
	hold := pl.partHold
	if hold <= 0 {
		hold = 3 * pl.partTarget
	}
	// every listed part in order, with where it starts (time from the playlist's first part)
	type at struct {
		c     cursor
		start time.Duration
		ind   bool
	}
	var all []at
	var t time.Duration
	add := func(msn uint64, parts []part) {
		first := t
		for i, p := range parts {
			all = append(all, at{cursor{msn, i, t - first}, t, p.independent})
			t += p.duration
		}
	}
	for _, seg := range pl.segments {
		if len(seg.parts) == 0 {
			t += seg.duration
			continue
		}
		add(seg.msn, seg.parts)
	}
	add(pl.next(), pl.parts)
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].ind && t-all[i].start >= hold {
			return all[i].c, t - hold - all[i].start
		}
	}
	if len(all) > 0 {
		return all[0].c, 0
	}
	return cursor{msn: pl.next()}, 0
}

// locate finds what c names in pl and the cursor after it; ok is false when pl does not list it yet.
func locate(pl *mediaPlaylist, c cursor, ll bool) (it item, next cursor, ok bool) {
	for {
		switch {
		case c.msn < pl.next():
			seg := pl.segments[c.msn-pl.sequence]
			if ll && len(seg.parts) > 0 {
				if c.part >= len(seg.parts) {
					c = cursor{msn: c.msn + 1} // past a complete segment's last part: the next segment
					continue
				}
				p := seg.parts[c.part]
				return item{uri: pl.uri(p.uri), duration: p.duration, date: partDate(seg.date, seg.parts, c.part)},
					cursor{c.msn, c.part + 1, c.into + p.duration}, true
			}
			if seg.gap {
				c = cursor{msn: c.msn + 1} // nothing to load there
				continue
			}
			if c.part > 0 {
				// some of its parts were loaded, and the playlist lists it whole only now (its parts left
				// the playlist, or the player moved to a pathway without parts): the whole segment, as
				// hls.js loads the fragment its position falls in, of which only the rest is new media
				if c.into >= seg.duration {
					c = cursor{msn: c.msn + 1}
					continue
				}
				date := seg.date
				if !date.IsZero() {
					date = date.Add(c.into)
				}
				return item{uri: pl.uri(seg.uri), duration: seg.duration - c.into, date: date}, cursor{msn: c.msn + 1}, true
			}
			return item{uri: pl.uri(seg.uri), duration: seg.duration, date: seg.date}, cursor{msn: c.msn + 1}, true
		case c.msn == pl.next() && ll && c.part < len(pl.parts):
			p := pl.parts[c.part]
			return item{uri: pl.uri(p.uri), duration: p.duration, date: partDate(pl.nextDate, pl.parts, c.part)},
				cursor{c.msn, c.part + 1, c.into + p.duration}, true
		default:
			return item{}, c, false
		}
	}
}

func partDate(segDate time.Time, parts []part, i int) time.Time {
	if segDate.IsZero() {
		return segDate
	}
	for _, p := range parts[:i] {
		segDate = segDate.Add(p.duration)
	}
	return segDate
}

// appended feeds a loaded part or segment to the playout model.
func (p *player) appended(it item) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.po.append(now, it, &p.st)
}

// steering is a player's HLS Content Steering state.
type steering struct {
	uri               *url.URL
	pathway, original string
	// listed are the media playlist URLs of the pathways the multivariant playlist lists (the one the
	// player started on among them): of each, the variant of the player's bandwidth, else its first
	listed   map[string]*url.URL
	clones   map[string]clone // pathway ID → how to reach it
	priority []string
	failed   map[string]bool // pathways given up on after errors
	due      time.Time
	ttl      time.Duration // the last manifest's
}

// clone is a pathway clone (RFC 8216bis §7.2): its base pathway's URIs with the host name replaced.
type clone struct {
	base, host string
}

// newSteering is the steering state of a player that plays variant v of mv (at media, mv read at final),
// asking the steering server at uri.
func newSteering(uri *url.URL, mv *multivariant, v variant, media, final *url.URL) *steering {
	st := &steering{uri: uri, pathway: mv.pathway, original: mv.pathway, listed: map[string]*url.URL{mv.pathway: media}}
	for _, w := range mv.variants {
		if w.pathway == "" || w.pathway == mv.pathway {
			continue
		}
		if prev, ok := st.listed[w.pathway]; ok && (prev == nil || w.bandwidth != v.bandwidth) {
			continue // the first variant of a pathway, unless one of the player's bandwidth comes later
		}
		if u, err := final.Parse(w.uri); err == nil {
			st.listed[w.pathway] = u
		}
	}
	return st
}

// manifest is a steering manifest (RFC 8216bis §7.1).
type manifest struct {
	Version         int      `json:"VERSION"`
	TTL             int      `json:"TTL"`
	ReloadURI       string   `json:"RELOAD-URI"`
	PathwayPriority []string `json:"PATHWAY-PRIORITY"`
	PathwayClones   []struct {
		BaseID         string `json:"BASE-ID"`
		ID             string `json:"ID"`
		URIReplacement struct {
			Host string `json:"HOST"`
		} `json:"URI-REPLACEMENT"`
	} `json:"PATHWAY-CLONES"`
}

// steer asks the steering server and returns the media playlist URL on the pathway it names first, or
// nil to stay.
func (p *player) steer(ctx context.Context, st *steering, media *url.URL) *url.URL {
	u := *st.uri
	q := u.Query()
	q.Set("_HLS_pathway", st.pathway)
	q.Set("_HLS_throughput", strconv.FormatInt(p.throughput(), 10))
	u.RawQuery = q.Encode()
	// a failed request is tried again after the last TTL (RFC 8216bis §7.2: the player keeps its pathway
	// meanwhile; the manager's 429 asks for 2 s), before any manifest after 10 s
	st.due = time.Now().Add(cmp.Or(st.ttl, 10*time.Second))
	body, final, err := p.fetch(ctx, &u, 0, false, true)
	var m manifest
	if err == nil {
		err = json.Unmarshal(body, &m)
	}
	if err == nil && m.Version != 1 {
		err = fmt.Errorf("steering manifest VERSION %d", m.Version)
	}
	if err != nil {
		if ctx.Err() == nil {
			p.fail(fmt.Errorf("steering: %w", err))
		}
		return nil
	}
	if m.TTL > 0 {
		st.ttl = time.Duration(m.TTL) * time.Second
		st.due = time.Now().Add(st.ttl)
	}
	if m.ReloadURI != "" {
		if r, err := final.Parse(m.ReloadURI); err == nil {
			st.uri = r
		}
	}
	if st.clones == nil {
		st.clones = map[string]clone{}
	}
	for _, c := range m.PathwayClones {
		if !st.known(c.ID) && st.known(c.BaseID) && c.URIReplacement.Host != "" {
			st.clones[c.ID] = clone{base: c.BaseID, host: c.URIReplacement.Host}
		}
	}
	st.priority = m.PathwayPriority
	for _, id := range m.PathwayPriority {
		if st.failed[id] || !st.known(id) {
			continue
		}
		if id == st.pathway {
			return nil
		}
		return st.switchTo(id)
	}
	return nil
}

func (st *steering) known(id string) bool {
	_, cloned := st.clones[id]
	_, listed := st.listed[id]
	return cloned || listed
}

// switchTo moves the player to pathway id and returns its media playlist URL (see urlOf).
func (st *steering) switchTo(id string) *url.URL {
	st.pathway = id
	u := *st.urlOf(id, 0)
	return &u
}

// urlOf is the media playlist URL of pathway id: a listed pathway's own, or a clone's base pathway's with
// the host name replaced and the port kept, as hls.js does (depth bounds a chain of clones); the original
// pathway's for an unknown one.
func (st *steering) urlOf(id string, depth int) *url.URL {
	if u, ok := st.listed[id]; ok {
		return u
	}
	if c, ok := st.clones[id]; ok && depth < 8 {
		u := *st.urlOf(c.base, depth+1)
		if port := u.Port(); port != "" {
			u.Host = net.JoinHostPort(c.host, port)
		} else {
			u.Host = c.host
		}
		return &u
	}
	return st.listed[st.original]
}

// fallBack gives up on the current pathway and moves to the next one named, if any.
func (st *steering) fallBack() *url.URL {
	if st.failed == nil {
		st.failed = map[string]bool{}
	}
	st.failed[st.pathway] = true
	for _, id := range st.priority {
		if !st.failed[id] && st.known(id) {
			return st.switchTo(id)
		}
	}
	return nil
}

// throughput is the player's bandwidth estimate for the steering server (bits/s over its whole run).
func (p *player) throughput() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	secs := time.Since(p.po.began).Seconds()
	if secs <= 0 {
		return 0
	}
	return int64(float64(p.st.Bytes*8) / secs)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// errRemote refuses a target outside loopback without AllowRemote.
var errRemote = errors.New("the target is not on this machine: pass -allow-remote to load a remote server")
