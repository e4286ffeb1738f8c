package webrtc

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// rtpMTU is the largest RTP payload nagare sends: below every path MTU once SRTP, UDP and IP are added.
const rtpMTU = 1200

// readerQueue is how many units the WebRTC reader of a stream may fall behind by before dropping.
const readerQueue = 512

// localSource feeds a hub from a stream published on this node: it packetizes each unit once.
type localSource struct {
	st     *stream.Stream
	reader *stream.Reader
	video  *stream.Track // H.264, or nil
	audio  *stream.Track // Opus or AAC, or nil
	aac    *aacToOpus    // turns AAC into Opus; nil for Opus or without ffmpeg
	log    *slog.Logger
	once   sync.Once
	// base is where RTP timestamps start (a random value, as RFC 3550 asks), for every track
	base uint32
}

// newLocalSource picks the tracks WebRTC can carry. ffmpeg is the AAC-to-Opus transcoder ("" for none).
func newLocalSource(st *stream.Stream, ffmpeg string, log *slog.Logger) (*localSource, error) {
	src := &localSource{st: st, log: log, base: rand.Uint32()}
	var skipped []string
	for _, t := range st.Tracks {
		if _, ok := t.Codec.(*stream.Opus); ok && src.audio == nil {
			src.audio = t // Opus first: a WHIP publication also carries AAC for its HLS
		}
	}
	for _, t := range st.Tracks {
		switch c := t.Codec.(type) {
		case *stream.H264:
			if src.video == nil {
				src.video = t
			}
		case *stream.Opus:
		case *stream.MPEG4Audio:
			if src.audio == nil && ffmpeg != "" {
				src.audio = t
				src.aac = newAACToOpus(ffmpeg, c, log)
			} else if ffmpeg == "" {
				skipped = append(skipped, t.Codec.String()+" (no ffmpeg to turn it into Opus)")
			}
		default:
			skipped = append(skipped, t.Codec.String())
		}
	}
	if src.video == nil && src.audio == nil {
		return nil, ErrNoCodec
	}
	if len(skipped) > 0 {
		log.Info("tracks WebRTC viewers do not get", "tracks", skipped)
	}
	src.reader = st.AddReader("webrtc", readerQueue)
	if src.reader == nil {
		return nil, ErrNotLive
	}
	return src, nil
}

func (s *localSource) hasVideo() bool { return s.video != nil }
func (s *localSource) hasAudio() bool { return s.audio != nil }

func (s *localSource) keyframe() {
	// RTMP and SRT publishers cannot be asked: their viewers wait for the next keyframe
	s.st.RequestKeyframe()
}

func (s *localSource) stop() {
	s.once.Do(func() { s.st.RemoveReader(s.reader) })
}

// run packetizes the stream's units into h until the stream ends or the source is stopped.
func (s *localSource) run(h *hub) {
	defer close(h.done)
	if s.aac != nil {
		go s.aac.run(h, s.base)
		defer s.aac.stop()
	}
	var (
		payloader  codecs.H264Payloader
		videoSeq   = rtp.NewRandomSequencer()
		audioSeq   = rtp.NewRandomSequencer()
		lastPTS    time.Duration
		warnedBFrm bool
		base       = s.base
	)
	for u := range s.reader.Units() {
		switch u.Track {
		case s.video:
			if u.PTS < lastPTS && !warnedBFrm {
				warnedBFrm = true
				s.log.Warn("the stream's video has B-frames, which WebRTC does not carry well: viewers may see it stutter; publish with B-frames off (x264: -bf 0 or -tune zerolatency)")
			}
			lastPTS = u.PTS
			annexB, err := h264.AnnexB(u.Payload).Marshal()
			if err != nil {
				continue
			}
			key := h264.IsRandomAccess(u.Payload)
			payloads := payloader.Payload(rtpMTU, annexB)
			ts := base + uint32(u.PTS*90000/time.Second)
			for i, pl := range payloads {
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(payloads)-1,
					SequenceNumber: videoSeq.NextSequenceNumber(), Timestamp: ts}, Payload: pl}
				h.writeVideo(pkt, key && i == 0)
			}
		case s.audio:
			if s.aac != nil {
				s.aac.feed(u)
				continue
			}
			ts := base + uint32(u.PTS*48000/time.Second)
			for _, frame := range u.Payload {
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: false,
					SequenceNumber: audioSeq.NextSequenceNumber(), Timestamp: ts}, Payload: frame}
				h.writeAudio(pkt)
				ts += uint32(opus.PacketDuration2(frame))
			}
		}
	}
}
