package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/webrtc/client"
)

// pullTimeout bounds the WHEP request to the parent.
const pullTimeout = 10 * time.Second

// pullSource feeds an edge's hub from one WHEP session to its parent: the parent's RTP is forwarded
// as it is (already packetized once, at the origin).
type pullSource struct {
	sess      *client.Session
	video     bool
	audio     bool
	videoSSRC atomic.Uint32
	once      sync.Once
	closed    sync.Once
	end       func() // ends the hub's source, once
	log       *slog.Logger
}

// pull opens the upstream session of p for h.
func (s *Server) pull(ctx context.Context, p stream.Path, h *hub, log *slog.Logger) (*pullSource, error) {
	parent := ""
	if s.Parent != nil {
		parent = s.Parent(ctx)
	}
	if parent == "" {
		return nil, fmt.Errorf("%w: this node has no parent assigned yet", ErrNotLive)
	}
	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	src, err := s.subscribe(ctx, parent, p, h, log)
	var se *client.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound && s.Locate != nil {
		// the parent has no such stream: it may be live on another origin of the cluster
		if other := strings.TrimRight(s.Locate(ctx, p), "/"); other != "" && other != parent {
			src, err = s.subscribe(ctx, other, p, h, log)
		}
	}
	if err != nil {
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			return nil, fmt.Errorf("%w: the parent has no %s", ErrNotLive, p)
		}
		return nil, statusErr(http.StatusBadGateway, "taking %s from the parent: %v", p, err)
	}
	pc := src.sess.PC
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			src.end()
		}
	})
	if st := pc.ConnectionState(); st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
		src.end() // it broke before the handler was set
	}
	// the parent's video SSRC from its answer: a keyframe can be asked for before any packet has come
	// (the parent's hub sends a viewer nothing until a keyframe)
	var ssrc uint32
	src.video, src.audio, ssrc = answered(pc.RemoteDescription())
	if ssrc != 0 {
		src.videoSSRC.CompareAndSwap(0, ssrc)
	}
	src.log.Info("pulling the stream over WHEP", "stream", p.String(), "video", src.video, "audio", src.audio)
	return src, nil
}

// subscribe opens a WHEP session for p at base, forwarding its tracks to h.
func (s *Server) subscribe(ctx context.Context, base string, p stream.Path, h *hub, log *slog.Logger) (*pullSource, error) {
	src := &pullSource{log: log.With("component", "webrtc-pull", "parent", base)}
	src.end = func() { src.closed.Do(func() { close(h.done) }) }
	hc := &http.Client{Timeout: pullTimeout, Transport: s.ParentTransport}
	sess, err := client.Subscribe(ctx, s.api, hc, base+"/"+p.String()+"/whep", func(t *webrtc.TrackRemote) {
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			src.videoSSRC.Store(uint32(t.SSRC()))
		}
		go src.forward(t, h, src.end)
	})
	if err != nil {
		return nil, err
	}
	src.sess = sess
	return src, nil
}

// answered reads the parent's answer: which media it sends, and the SSRC it announces for its video
// ("a=ssrc:<n> ...", 0 if none).
func answered(d *webrtc.SessionDescription) (video, audio bool, ssrc uint32) {
	var sd sdp.SessionDescription
	if d == nil || sd.UnmarshalString(d.SDP) != nil {
		return false, false, 0
	}
	for _, m := range sd.MediaDescriptions {
		sends := false
		for _, a := range m.Attributes {
			switch {
			case a.Key == "sendonly" || a.Key == "sendrecv":
				sends = true
			case a.Key == "ssrc" && m.MediaName.Media == "video" && ssrc == 0:
				field, _, _ := strings.Cut(a.Value, " ")
				if n, err := strconv.ParseUint(field, 10, 32); err == nil {
					ssrc = uint32(n)
				}
			}
		}
		switch {
		case !sends:
		case m.MediaName.Media == "video":
			video = true
		case m.MediaName.Media == "audio":
			audio = true
		}
	}
	return video, audio, ssrc
}

// forward copies one upstream track's packets to the hub until the session ends.
func (s *pullSource) forward(t *webrtc.TrackRemote, h *hub, end func()) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	isH264 := strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeH264)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			end()
			return
		}
		if video {
			h.writeVideo(pkt, isH264 && client.IsH264KeyStart(pkt.Payload))
		} else {
			h.writeAudio(pkt)
		}
	}
}

func (s *pullSource) hasVideo() bool { return s.video }
func (s *pullSource) hasAudio() bool { return s.audio }

// keyframe passes a viewer's request upstream as a PLI: the parent rate-limits it again.
func (s *pullSource) keyframe() {
	if ssrc := s.videoSSRC.Load(); ssrc != 0 {
		_ = s.sess.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

func (s *pullSource) stop() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.sess.Close(ctx); err != nil {
			s.log.Info("ending the upstream session", "cause", err)
		}
	})
}
