package webrtc

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// firstKeyframeWait is how long a WHIP publication may send video before its first keyframe; it is
// asked for one every keyframeAskEvery meanwhile.
const (
	firstKeyframeWait = 10 * time.Second
	keyframeAskEvery  = 500 * time.Millisecond
)

// postWHIP creates a WHIP session: the publisher's offer is answered, and its media becomes the stream
// <app>/<stream> once the first keyframe arrives.
func (s *Server) postWHIP(w http.ResponseWriter, r *http.Request) {
	if s.Registry == nil {
		s.writeError(w, r, fmt.Errorf("%w: this %s node serves WHEP only; publish to an origin, or through the manager", ErrNotPublishing, "edge"))
		return
	}
	p, offer, err := s.admitOffer(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Auth.Authorize(p, credentials(r)); err != nil {
		s.writeError(w, r, fmt.Errorf("publish %s refused: %w", p, err))
		return
	}
	if !s.Takeover && s.Registry.Get(p) != nil {
		s.writeError(w, r, fmt.Errorf("publish %s refused: %w", p, stream.ErrAlreadyPublishing))
		return
	}
	video, audio, err := offeredMedia(offer)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ss, err := s.newSession("whip", p, r.RemoteAddr)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pub := &publication{server: s, sess: ss, wantVideo: video, wantAudio: audio}
	s.counts.Publishers.Add(1)
	ss.atClose(pub.end) // a new session: it has not ended
	ss.pc.OnTrack(pub.onTrack)
	answer, err := negotiate(r.Context(), ss.pc, offer)
	if err != nil {
		ss.close("negotiation failed")
		s.writeError(w, r, err)
		return
	}
	ss.log.Info("WHIP session created", "video", video, "audio", audio)
	s.answer(w, r, ss, answer)
}

// credentials maps the Authorization: Bearer of a WHIP request onto the query the authorizer reads: a
// signed token (v1.…) or a stream key. A key= or token= query parameter works too, as with RTMP.
func credentials(r *http.Request) url.Values {
	q := r.URL.Query()
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		bearer = strings.TrimSpace(bearer)
		if strings.HasPrefix(bearer, "v1.") {
			q.Set("token", bearer)
		} else {
			q.Set("key", bearer)
		}
	}
	return q
}

// offeredMedia reads which media an offer sends in a codec nagare takes: H.264 (packetization mode 1)
// video, Opus audio. An offer with neither is refused with what it offered.
func offeredMedia(offer string) (video, audio bool, err error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return false, false, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return false, false, fmt.Errorf("%w: no media section (m=)", ErrBadOffer)
	}
	var seen []string
	for _, m := range sd.MediaDescriptions {
		for _, f := range m.MediaName.Formats {
			codec, ok := rtpmap(m, f)
			if !ok {
				continue
			}
			seen = append(seen, m.MediaName.Media+" "+codec)
			name, _, _ := strings.Cut(codec, "/")
			switch {
			case m.MediaName.Media == "video" && strings.EqualFold(name, "H264") && packetizationMode1(m, f):
				video = true
			case m.MediaName.Media == "audio" && strings.EqualFold(name, "opus"):
				audio = true
			}
		}
	}
	if !video && !audio {
		if len(seen) == 0 {
			seen = []string{"nothing"}
		}
		return false, false, fmt.Errorf("%w: the offer has %s; nagare takes H264 (packetization-mode=1) video and Opus audio",
			ErrNoCodec, clip(strings.Join(seen, ", ")))
	}
	return video, audio, nil
}

func rtpmap(m *sdp.MediaDescription, format string) (string, bool) {
	for _, a := range m.Attributes {
		if a.Key == "rtpmap" {
			if pt, codec, ok := strings.Cut(a.Value, " "); ok && pt == format {
				return codec, true
			}
		}
	}
	return "", false
}

func packetizationMode1(m *sdp.MediaDescription, format string) bool {
	for _, a := range m.Attributes {
		if a.Key == "fmtp" {
			if pt, params, ok := strings.Cut(a.Value, " "); ok && pt == format {
				return strings.Contains(params, "packetization-mode=1")
			}
		}
	}
	return false
}

// publication turns a WHIP session's RTP into the units of a stream.
type publication struct {
	server    *Server
	sess      *session
	wantVideo bool
	wantAudio bool

	mu    sync.Mutex
	st    *stream.Stream
	video *stream.Track
	audio *stream.Track
	start time.Time // when the first packet of any track arrived: PTS 0
	ended bool

	videoSSRC webrtc.SSRC
	asks      coalescer
	toAAC     *opusToAAC // the AAC of the publication's HLS; nil with hls audio "opus"
}

func (p *publication) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	log := p.sess.log
	switch {
	case strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeH264) && p.wantVideo:
		p.mu.Lock()
		p.videoSSRC = t.SSRC()
		p.mu.Unlock()
		go p.readVideo(t)
	case strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeOpus) && p.wantAudio:
		go p.readAudio(t)
	default:
		log.Info("track ignored", "codec", t.Codec().MimeType)
	}
}

// askKeyframe sends the publisher a PLI, at most every keyframeAskEvery.
func (p *publication) askKeyframe() {
	p.asks.do(keyframeAskEvery, func() {
		p.mu.Lock()
		ssrc := p.videoSSRC
		p.mu.Unlock()
		if ssrc == 0 {
			return
		}
		p.server.counts.KeyframeAsks.Add(1)
		_ = p.sess.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}})
	})
}

// clock turns one track's RTP timestamps into PTS on the publication's timeline: the first packet is
// placed at its arrival time after the publication's start, the rest follow its RTP timestamps.
type clock struct {
	rate    int64
	started bool
	base    time.Duration
	last    uint32
	ticks   int64 // unwrapped ticks since the first packet
}

func (c *clock) pts(p *publication, ts uint32) time.Duration {
	if !c.started {
		c.started, c.last = true, ts
		p.mu.Lock()
		if p.start.IsZero() {
			p.start = time.Now()
		}
		c.base = time.Since(p.start)
		p.mu.Unlock()
	}
	c.ticks += int64(int32(ts - c.last))
	c.last = ts
	return c.base + time.Duration(c.ticks*int64(time.Second)/c.rate)
}

func (p *publication) readVideo(t *webrtc.TrackRemote) {
	clk := clock{rate: int64(t.Codec().ClockRate)}
	var fa frameAssembler
	var sps, pps []byte
	waitKey := true
	deadline := time.Now().Add(firstKeyframeWait)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			p.sess.close("publisher's video ended: " + err.Error())
			return
		}
		frame, lost := fa.push(pkt)
		if lost {
			waitKey = true
		}
		if frame == nil {
			continue
		}
		au, err := depacketizeH264(frame)
		if err != nil || len(au) == 0 {
			waitKey = true
			continue
		}
		for _, n := range au {
			switch h264.NALUType(n[0] & 0x1F) {
			case h264.NALUTypeSPS:
				sps = n
			case h264.NALUTypePPS:
				pps = n
			}
		}
		if waitKey {
			if !h264.IsRandomAccess(au) || sps == nil || pps == nil {
				if p.streamIfLive() == nil && time.Now().After(deadline) {
					p.sess.close(fmt.Sprintf("no H.264 keyframe with SPS and PPS within %s", firstKeyframeWait))
					return
				}
				p.askKeyframe()
				continue
			}
			waitKey = false
		}
		pts := clk.pts(p, frame[0].Timestamp)
		st := p.stream(sps, pps)
		if st == nil {
			if p.isEnded() {
				return
			}
			continue
		}
		au = stream.WithH264Params(au, sps, pps)
		st.Write(&stream.Unit{Track: p.video, NTP: time.Now(), PTS: pts, Payload: au, Size: stream.PayloadSize(au)})
	}
}

func (p *publication) readAudio(t *webrtc.TrackRemote) {
	clk := clock{rate: int64(t.Codec().ClockRate)}
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			p.sess.close("publisher's audio ended: " + err.Error())
			return
		}
		pts := clk.pts(p, pkt.Timestamp)
		if len(pkt.Payload) == 0 {
			continue
		}
		st := p.streamIfLive()
		if st == nil {
			if !p.wantVideo {
				st = p.stream(nil, nil) // audio only: live from the first packet
			}
			if st == nil {
				continue // before the first video keyframe
			}
		}
		frame := append([]byte(nil), pkt.Payload...)
		st.Write(&stream.Unit{Track: p.audio, NTP: time.Now(), PTS: pts, Payload: [][]byte{frame}, Size: len(frame)})
		if toAAC := p.aacEncoder(); toAAC != nil {
			toAAC.feed(pkt, pts)
		}
	}
}

func (p *publication) streamIfLive() *stream.Stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

func (p *publication) aacEncoder() *opusToAAC {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.toAAC
}

func (p *publication) isEnded() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended
}

// stream returns the live stream, publishing it first if needed (with the video's parameter sets).
func (p *publication) stream(sps, pps []byte) *stream.Stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st != nil || p.ended {
		return p.st
	}
	var tracks []*stream.Track
	if p.wantVideo {
		p.video = &stream.Track{Codec: &stream.H264{SPS: sps, PPS: pps}}
		tracks = append(tracks, p.video)
	}
	var aac *stream.Track
	if p.wantAudio {
		if p.server.HLSAudio == "aac" && p.server.FFmpeg != "" {
			// first: the HLS muxer takes a stream's first audio track, WebRTC viewers the Opus one
			aac = &stream.Track{Codec: &stream.MPEG4Audio{Config: AACConfig}}
			tracks = append(tracks, aac)
		}
		p.audio = &stream.Track{Codec: &stream.Opus{ChannelCount: 2}}
		tracks = append(tracks, p.audio)
	}
	st, err := p.server.Registry.Publish(stream.PublishRequest{
		Path: p.sess.path, Tracks: tracks, Protocol: "webrtc", Remote: p.sess.remote,
		Close:           func() { go p.sess.close("replaced by another publisher, or the node is stopping") },
		RequestKeyframe: func() { go p.askKeyframe() },
	})
	if err != nil {
		p.ended = true
		go p.sess.close("publish refused: " + err.Error())
		return nil
	}
	p.st = st
	if aac != nil {
		p.toAAC = newOpusToAAC(p.server.FFmpeg, p.sess.log)
		go p.toAAC.run(st, aac)
	}
	codecs := make([]string, len(tracks))
	for i, t := range tracks {
		codecs[i] = t.Codec.String()
	}
	p.sess.log.Info("publishing", "tracks", codecs)
	return st
}

// end unpublishes the stream when the session ends.
func (p *publication) end() {
	p.mu.Lock()
	st := p.st
	p.ended = true
	toAAC := p.toAAC
	p.mu.Unlock()
	if toAAC != nil {
		toAAC.stop()
	}
	p.server.counts.Publishers.Add(-1)
	if st != nil {
		p.server.Registry.Unpublish(st)
	}
}

// frameAssembler gathers the RTP packets of one video frame: a frame is complete when the packet with
// the marker bit arrives and every sequence number since the previous frame's end is there. A missing
// packet drops the frame and reports the loss (the caller then waits for a keyframe).
type frameAssembler struct {
	pkts    []*rtp.Packet
	next    uint16 // the sequence number the next frame starts with
	started bool
}

func (a *frameAssembler) push(pkt *rtp.Packet) (frame []*rtp.Packet, lost bool) {
	if len(pkt.Payload) == 0 {
		// padding only (a browser's bandwidth probe, sent on the media stream when no RTX is negotiated):
		// it carries no media but takes a sequence number
		switch {
		case len(a.pkts) > 0: // within a frame's run of sequence numbers, whatever its timestamp
			a.pkts = append(a.pkts, pkt)
		case len(a.pkts) == 0 && (!a.started || pkt.SequenceNumber == a.next):
			a.started, a.next = true, pkt.SequenceNumber+1
		}
		return nil, false
	}
	if len(a.pkts) > 0 && pkt.Timestamp != a.pkts[0].Timestamp {
		// a new frame began before the last one's marker: that one lost its end
		a.pkts = a.pkts[:0]
		lost = true
	}
	if len(a.pkts) >= 2048 { // bounds a hostile or broken publisher
		a.pkts = a.pkts[:0]
		lost = true
	}
	a.pkts = append(a.pkts, pkt)
	if !pkt.Marker {
		return nil, lost
	}
	sortBySeq(a.pkts)
	first := a.pkts[0].SequenceNumber
	contiguous := !a.started || first == a.next
	for i := 1; i < len(a.pkts) && contiguous; i++ {
		contiguous = a.pkts[i].SequenceNumber == a.pkts[i-1].SequenceNumber+1
	}
	a.started = true
	a.next = pkt.SequenceNumber + 1
	frame = append([]*rtp.Packet(nil), a.pkts...)
	a.pkts = a.pkts[:0]
	if !contiguous {
		return nil, true
	}
	return frame, lost
}

// sortBySeq orders a frame's packets by sequence number, across a wrap (insertion sort: they arrive
// nearly in order).
func sortBySeq(p []*rtp.Packet) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && int16(p[j].SequenceNumber-p[j-1].SequenceNumber) < 0; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// depacketizeH264 turns a frame's packets (RFC 6184: single NAL units, STAP-A, FU-A) into its NAL units.
func depacketizeH264(frame []*rtp.Packet) ([][]byte, error) {
	var d codecs.H264Packet
	var annexB []byte
	for _, pkt := range frame {
		if len(pkt.Payload) == 0 {
			continue // padding
		}
		b, err := d.Unmarshal(pkt.Payload)
		if err != nil {
			return nil, err
		}
		annexB = append(annexB, b...)
	}
	if len(annexB) == 0 {
		return nil, errors.New("empty frame")
	}
	var au h264.AnnexB
	if err := au.Unmarshal(annexB); err != nil {
		return nil, err
	}
	var out [][]byte
	for _, n := range au {
		if len(n) > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}
