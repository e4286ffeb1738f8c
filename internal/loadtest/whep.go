package loadtest

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/webrtc/client"
)

// WebRTC viewers behave as nagare's subscriber page does: they post a WHEP offer to the entry (the manager
// answers with a 307 to an edge, which the client follows), play from the first keyframe, and reconnect
// through the entry when the session fails, closes, or brings no packet for whepGiveUp.
const (
	// whepStall is the gap between video packets that counts as a stall (about 15 frames at 30 fps:
	// a frozen picture a viewer sees).
	whepStall = 500 * time.Millisecond
	// whepGiveUp is how long a session may bring nothing before the viewer reconnects (the page's 4 s).
	whepGiveUp = 4 * time.Second
	// whepPoll is how often a WebRTC viewer looks at its session.
	whepPoll = 100 * time.Millisecond
)

// runWHEP plays over WebRTC until ctx ends.
func (p *player) runWHEP(ctx context.Context, api *webrtc.API) {
	p.mu.Lock()
	p.po.began, p.po.rtc = time.Now(), true
	p.mu.Unlock()
	for ctx.Err() == nil {
		err := p.watchWHEP(ctx, api)
		if ctx.Err() != nil {
			return
		}
		p.fail(err)
		sleep(ctx, time.Second)
	}
}

// watchWHEP is one WHEP session, from the offer to its end; it returns why it ended.
func (p *player) watchWHEP(ctx context.Context, api *webrtc.API) error {
	v, err := client.Watch(ctx, api, p.client, p.entry)
	p.mu.Lock()
	p.st.Requests++
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("WHEP offer: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = v.Close(cctx)
		cancel()
	}()
	host := v.Endpoint
	if u, err := url.Parse(v.Endpoint); err == nil {
		host = u.Host
	}
	p.mu.Lock()
	if p.st.Hosts == nil {
		p.st.Hosts = map[string]int{}
	}
	p.st.Hosts[host]++
	p.st.moveTo(host, time.Now())
	p.mu.Unlock()

	var bytes uint64
	t := time.NewTicker(whepPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := time.Now()
		if st := v.PC.ConnectionState(); st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			return fmt.Errorf("WHEP session at %s %s", host, st)
		}
		got := v.Bytes.Load()
		p.mu.Lock()
		p.st.Bytes += int64(got - bytes)
		p.mu.Unlock()
		bytes = got
		if v.FirstKeyframe() == 0 {
			if now.Sub(v.Started) > whepGiveUp+2*time.Second {
				return fmt.Errorf("WHEP session at %s: no keyframe in %s", host, now.Sub(v.Started).Round(time.Second))
			}
			continue
		}
		last := v.LastPacket()
		p.mu.Lock()
		p.po.live(now, last, v.Started.Add(v.FirstKeyframe()), &p.st)
		p.mu.Unlock()
		if now.Sub(last) > whepGiveUp {
			return fmt.Errorf("WHEP session at %s: no packet for %s", host, whepGiveUp)
		}
	}
}

// live follows a WebRTC viewer: it started when its first keyframe arrived; it is stalled while no
// packet has come for whepStall, from its last packet to the next.
func (o *playout) live(now, last, first time.Time, st *ViewerStats) {
	if !o.started {
		o.started, o.playing = true, true
		ms := float64(first.Sub(o.began).Microseconds()) / 1000
		st.StartupMs = &ms
	}
	switch {
	case o.playing && now.Sub(last) > whepStall:
		o.playing, o.stallAt = false, last
		st.Stalls++
	case !o.playing && last.After(o.stallAt):
		st.endStall(o.stallAt, last.Sub(o.stallAt))
		o.playing = true
	}
}
