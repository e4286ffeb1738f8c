package webrtc

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/webrtc/client"
)

// postWHEP creates a WHEP session: the viewer's offer is answered with the stream's tracks, fed by the
// stream's hub (created for its first viewer).
func (s *Server) postWHEP(w http.ResponseWriter, r *http.Request) {
	p, offer, err := s.admitOffer(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, _, err := offeredMedia(offer); err != nil { // neither H.264 nor Opus: 406 before any work
		s.writeError(w, r, err)
		return
	}
	h, err := s.hub(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ss, err := s.newSession("whep", p, r.RemoteAddr)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v := &viewer{sess: ss}
	v.waitKey.Store(true)
	if err := s.addTracks(h, v); err != nil {
		ss.close("tracks not added")
		s.writeError(w, r, err)
		return
	}
	answer, err := negotiate(r.Context(), ss.pc, offer)
	if err != nil {
		ss.close("negotiation failed")
		s.writeError(w, r, err)
		return
	}
	if !h.add(v) {
		ss.close("the stream's hub ended meanwhile")
		s.writeError(w, r, fmt.Errorf("%w: the stream's feed was ending; retry", ErrTooMany))
		return
	}
	s.counts.Viewers.Add(1)
	if !ss.atClose(func() {
		h.remove(v)
		s.counts.Viewers.Add(-1)
	}) {
		h.remove(v) // the peer went away during the negotiation
		s.counts.Viewers.Add(-1)
		s.writeError(w, r, fmt.Errorf("%w: the session ended during its negotiation", ErrUnknown))
		return
	}
	ss.log.Info("WHEP session created", "viewers", h.viewerCount())
	s.answer(w, r, ss, answer)
}

// addTracks gives a viewer its own tracks for what the hub carries, and reads the RTCP the viewer sends:
// PLI and FIR become (rate-limited) keyframe requests to the source.
func (s *Server) addTracks(h *hub, v *viewer) error {
	add := func(c webrtc.RTPCodecCapability, kind string) (*boundTrack, error) {
		tr, err := webrtc.NewTrackLocalStaticRTP(c, kind, "nagare-"+h.path.String())
		if err != nil {
			return nil, err
		}
		t := &boundTrack{TrackLocalStaticRTP: tr}
		if kind == "video" {
			// the session can receive now: ask the source for a keyframe to start it (a WebRTC publisher
			// sends one at once; other viewers wait for the next)
			t.onBind = func() { go h.askKeyframe() }
		}
		sender, err := v.sess.pc.AddTrack(t)
		if err != nil {
			return nil, err
		}
		client.OnKeyframeRequest(sender, h.askKeyframe)
		return t, nil
	}
	var err error
	if h.src.hasVideo() {
		if v.video, err = add(H264Capability, "video"); err != nil {
			return err
		}
	}
	if h.src.hasAudio() {
		if v.audio, err = add(OpusCapability, "audio"); err != nil {
			return err
		}
	}
	return nil
}

// hub returns the stream's hub, starting its source for the first viewer: the local stream on an origin,
// a WHEP session to the parent on an edge or relay.
func (s *Server) hub(ctx context.Context, p stream.Path) (*hub, error) {
	s.mu.Lock()
	if h := s.hubs[p]; h != nil {
		select {
		case <-h.done:
		default:
			s.mu.Unlock()
			return h, nil
		}
	}
	s.mu.Unlock()

	h := newHub(p, &s.counts)
	log := s.Log.With("stream", p.String())
	if s.Registry != nil {
		st := s.Registry.Get(p)
		if st == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotLive, p)
		}
		src, err := newLocalSource(st, s.FFmpeg, log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: the stream carries %s", p, err, trackNames(st))
		}
		h.src = src
		go src.run(h)
	} else {
		src, err := s.pull(ctx, p, h, log)
		if err != nil {
			return nil, err
		}
		h.src = src
	}
	s.mu.Lock()
	if old := s.hubs[p]; old != nil {
		select {
		case <-old.done:
		default:
			// another viewer's request made one meanwhile: use it
			s.mu.Unlock()
			h.src.stop()
			return old, nil
		}
	}
	s.hubs[p] = h
	s.mu.Unlock()
	go s.watchHub(h)
	return h, nil
}

// watchHub ends a hub's viewers when its source ends (the publisher left, the parent's session broke),
// and stops the source when the hub has been idle for hubLinger.
func (s *Server) watchHub(h *hub) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			s.mu.Lock()
			if s.hubs[h.path] == h {
				delete(s.hubs, h.path)
			}
			s.mu.Unlock()
			for _, v := range *h.viewers.Load() {
				v.sess.close("the stream ended")
			}
			return
		case now := <-t.C:
			if h.idle(now) {
				s.mu.Lock()
				if s.hubs[h.path] == h {
					delete(s.hubs, h.path)
				}
				s.mu.Unlock()
				h.src.stop()
			}
		}
	}
}

func trackNames(st *stream.Stream) string {
	if len(st.Tracks) == 0 {
		return "no track"
	}
	s := ""
	for i, t := range st.Tracks {
		if i > 0 {
			s += ", "
		}
		s += t.Codec.String()
	}
	return s + " (WebRTC viewers get H264 and Opus, and AAC turned into Opus)"
}
