package ingest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/netguard"
)

// RTMPServer accepts RTMP publishers at rtmp://<host>/<app>/<stream>?key=…|token=….
type RTMPServer struct {
	Address     string
	ReadTimeout time.Duration // per message; a silent publisher is dropped after this
	MaxConns    int           // open connections at most (0: no cap); beyond it a new one is closed at once
	Registry    registry
	Auth        authorizer
	Takeover    bool
	Metrics     *mediametrics.Metrics
	Log         *slog.Logger
	// TLS, if set, makes the port RTMPS (RTMP inside TLS): its publications say protocol "rtmps"
	TLS *tls.Config

	ln    net.Listener
	gate  gate
	open  connSet[net.Conn]
	conns sync.WaitGroup
}

// Listen binds the port, so that Addr is known before Run.
func (s *RTMPServer) Listen() error {
	ln, err := net.Listen("tcp", s.Address)
	if err != nil {
		return fmt.Errorf("rtmp listen on %s: %w", s.Address, err)
	}
	// netguard also keeps a shortage of descriptors (EMFILE) from ending the accept loop: it retries
	s.ln = netguard.New(ln, s.MaxConns, s.Log)
	if s.TLS != nil {
		// RTMPS: RTMP inside TLS (the handshake completes on the connection's first read)
		s.ln = tls.NewListener(s.ln, s.TLS)
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = defaultReadTimeout
	}
	s.gate = gate{registry: s.Registry, auth: s.Auth, takeover: s.Takeover, metrics: s.Metrics}
	return nil
}

// protocol names the port's protocol in publications, logs and metrics.
func (s *RTMPServer) protocol() string {
	if s.TLS != nil {
		return "rtmps"
	}
	return "rtmp"
}

// Addr is the bound address.
func (s *RTMPServer) Addr() net.Addr { return s.ln.Addr() }

// Run accepts connections until ctx is cancelled, then closes every connection and waits for them.
func (s *RTMPServer) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.ln.Close()
		s.open.closeAll()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.conns.Wait()
				return nil
			}
			return fmt.Errorf("rtmp accept: %w", err) // temporary errors were retried by netguard
		}
		if !s.open.add(c) {
			continue
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer s.open.remove(c)
			s.handle(c)
		}()
	}
}

func (s *RTMPServer) handle(c net.Conn) {
	defer c.Close()
	log := s.Log.With("protocol", s.protocol(), "remote", c.RemoteAddr().String())
	err := s.serve(c, log)
	switch {
	case err == nil:
	case errors.Is(err, net.ErrClosed):
		log.Info("connection closed")
	default:
		log.Warn("connection closed", "cause", err)
	}
}

func (s *RTMPServer) serve(c net.Conn, log *slog.Logger) error {
	_ = c.SetDeadline(time.Now().Add(s.ReadTimeout))
	// RTMP arrives in small chunks: buffer reads so that a chunk is not a system call
	sc := &gortmplib.ServerConn{RW: struct {
		io.Reader
		io.Writer
	}{bufio.NewReaderSize(c, 32<<10), c}}
	if err := sc.Initialize(); err != nil {
		s.Metrics.BadConn(s.protocol())
		return fmt.Errorf("handshake: %w", err)
	}
	if err := sc.AcceptConn(); err != nil {
		s.Metrics.BadConn(s.protocol())
		return fmt.Errorf("connect: %w", err)
	}
	if !sc.Publish {
		_ = sc.RejectAction()
		return errors.New("playback over RTMP is not offered: play the stream over HLS")
	}
	path, err := s.gate.admit(s.protocol(), sc.URL.EscapedPath(), sc.URL.Query())
	if err != nil {
		_ = sc.RejectAction()
		return err
	}
	log = log.With("stream", path.String())
	if err := sc.AcceptAction(); err != nil {
		return fmt.Errorf("accepting publish: %w", err)
	}

	in := &rtmpInput{conn: sc, net: c, timeout: s.ReadTimeout}
	if err := in.readTracks(); err != nil {
		s.Metrics.Rejected(s.protocol(), "tracks")
		return fmt.Errorf("publish %s: %w", path, err)
	}
	st, err := s.gate.publish(stream.PublishRequest{
		Path: path, Tracks: in.tracks(), Protocol: s.protocol(), Remote: c.RemoteAddr().String(),
		Close: func() { c.Close() },
	})
	if err != nil {
		return err
	}
	defer s.Registry.Unpublish(st)
	logTracks(log, st)

	err = in.run(st)
	if errors.Is(err, net.ErrClosed) {
		log.Info("publisher stopped by the node")
		return nil
	}
	return fmt.Errorf("publisher of %s gone: %w", path, err)
}

// rtmpInput turns RTMP messages into stream units. It takes the tracks from the FLV sequence headers
// (and onMetaData, which says which tracks to expect) instead of probing seconds of media, so the muxer
// starts with the first GOP.
type rtmpInput struct {
	conn    *gortmplib.ServerConn
	net     net.Conn
	timeout time.Duration
	// deadlineSet is when the connection's deadline was last moved (read)
	deadlineSet time.Time

	video, audio         *stream.Track
	metaVideo, metaAudio bool // announced by onMetaData
	haveMeta             bool
	unsupported          error
	pending              []message.Message

	startSet bool
	start    time.Duration
	st       *stream.Stream

	// current parameter sets, re-sent in front of every IDR
	vps, sps, pps []byte
}

const (
	// maxProbeMessages bounds what a publisher may send before its tracks are known.
	maxProbeMessages = 1000
	// probeWindow is how much media we wait, past the first frame, for a track onMetaData announced.
	probeWindow = 500 * time.Millisecond
)

func (in *rtmpInput) read() (message.Message, error) {
	// both directions: reading may write an acknowledgement, which must not hit a stale write deadline.
	// The deadline moves at most every eighth of the timeout, not for every message: each move reprograms
	// two of the runtime's timers, about 2 % of a publisher's CPU when done for each of its ~80 messages a
	// second. A publisher that goes silent is dropped after between 7/8 of the timeout and the timeout.
	if now := time.Now(); now.Sub(in.deadlineSet) >= in.timeout/8 {
		_ = in.net.SetDeadline(now.Add(in.timeout))
		in.deadlineSet = now
	}
	return in.conn.Read()
}

func (in *rtmpInput) tracks() []*stream.Track {
	var out []*stream.Track
	if in.video != nil {
		out = append(out, in.video)
	}
	if in.audio != nil {
		out = append(out, in.audio)
	}
	return out
}

func (in *rtmpInput) readTracks() error {
	var firstDTS time.Duration
	haveMedia := false
	for i := 0; i < maxProbeMessages; i++ {
		msg, err := in.read()
		if err != nil {
			return err
		}
		in.configure(msg)
		dts, isMedia := mediaDTS(msg)
		if !isMedia {
			continue
		}
		in.pending = append(in.pending, msg)
		if !haveMedia {
			haveMedia, firstDTS = true, dts
		}
		complete := (!in.metaVideo || in.video != nil) && (!in.metaAudio || in.audio != nil)
		if !in.haveMeta {
			complete = in.video != nil || in.audio != nil
		}
		if complete || dts-firstDTS >= probeWindow {
			break
		}
	}
	if in.video == nil && in.audio == nil {
		if in.unsupported != nil {
			return in.unsupported
		}
		return ErrNoTracks
	}
	if in.unsupported != nil && ((in.metaVideo && in.video == nil) || (in.metaAudio && in.audio == nil)) {
		return in.unsupported
	}
	return nil
}

// configure records tracks and parameter sets announced by a message.
func (in *rtmpInput) configure(msg message.Message) {
	switch m := msg.(type) {
	case *message.DataAMF0:
		in.readMetadata(m)
	case *message.Video:
		switch {
		case m.Type != message.VideoTypeConfig:
		case m.Codec == message.CodecH264 && m.AVCConfig != nil:
			in.sps = m.AVCConfig.SequenceParameterSets[0].NALUnit
			in.pps = m.AVCConfig.PictureParameterSets[0].NALUnit
			if in.video == nil {
				in.video = &stream.Track{Codec: &stream.H264{SPS: in.sps, PPS: in.pps}}
			}
		case m.Codec == message.CodecH265 && m.HEVCConfig != nil:
			in.setH265(m.HEVCConfig.NaluArrays)
		}
	case *message.VideoExSequenceStart:
		switch m.FourCC {
		case message.FourCCAVC:
			in.sps = m.AVCConfig.SequenceParameterSets[0].NALUnit
			in.pps = m.AVCConfig.PictureParameterSets[0].NALUnit
			if in.video == nil {
				in.video = &stream.Track{Codec: &stream.H264{SPS: in.sps, PPS: in.pps}}
			}
		case message.FourCCHEVC:
			in.setH265(m.HEVCConfig.NaluArrays)
		default:
			in.unsupported = fmt.Errorf("%w: video %s (H.264 and H.265 are supported)", ErrUnsupportedCodec, fourCC(m.FourCC))
		}
	case *message.Audio:
		switch {
		case m.Codec != message.CodecMPEG4Audio:
			in.unsupported = fmt.Errorf("%w: FLV audio codec %d (AAC and Opus are supported)", ErrUnsupportedCodec, m.Codec)
		case m.AACType == message.AudioAACTypeConfig && m.AACConfig != nil && in.audio == nil:
			in.audio = &stream.Track{Codec: &stream.MPEG4Audio{Config: *m.AACConfig}}
		}
	case *message.AudioExSequenceStart:
		switch {
		case in.audio != nil:
		case m.FourCC == message.FourCCMP4A && m.AACConfig != nil:
			in.audio = &stream.Track{Codec: &stream.MPEG4Audio{Config: *m.AACConfig}}
		case m.FourCC == message.FourCCOpus && m.OpusConfig != nil:
			in.audio = &stream.Track{Codec: &stream.Opus{ChannelCount: int(m.OpusConfig.ChannelCount)}}
		default:
			in.unsupported = fmt.Errorf("%w: audio %s (AAC and Opus are supported)", ErrUnsupportedCodec, fourCC(m.FourCC))
		}
	case *message.VideoExCodedFrames:
		if m.FourCC != message.FourCCAVC && m.FourCC != message.FourCCHEVC {
			in.unsupported = fmt.Errorf("%w: video %s (H.264 and H.265 are supported)", ErrUnsupportedCodec, fourCC(m.FourCC))
		}
	case *message.AudioExCodedFrames:
		if m.FourCC != message.FourCCMP4A && m.FourCC != message.FourCCOpus {
			in.unsupported = fmt.Errorf("%w: audio %s (AAC and Opus are supported)", ErrUnsupportedCodec, fourCC(m.FourCC))
		}
	}
}

func (in *rtmpInput) readMetadata(m *message.DataAMF0) {
	for _, v := range m.Payload {
		var get func(string) (any, bool)
		switch o := v.(type) {
		case amf0Object:
			get = o.Get
		case amf0ECMAArray:
			get = amf0Object(o).Get
		default:
			continue
		}
		_, in.metaVideo = get("videocodecid")
		_, in.metaAudio = get("audiocodecid")
		in.haveMeta = true
	}
}

func (in *rtmpInput) setH265(arrays []hvccArray) {
	for _, arr := range arrays {
		if len(arr.Nalus) == 0 || len(arr.Nalus[0].NALUnit) == 0 {
			continue
		}
		switch arr.NaluType {
		case 32:
			in.vps = arr.Nalus[0].NALUnit
		case 33:
			in.sps = arr.Nalus[0].NALUnit
		case 34:
			in.pps = arr.Nalus[0].NALUnit
		}
	}
	if in.video == nil && in.vps != nil && in.sps != nil && in.pps != nil {
		in.video = &stream.Track{Codec: &stream.H265{VPS: in.vps, SPS: in.sps, PPS: in.pps}}
	}
}

func (in *rtmpInput) run(st *stream.Stream) error {
	in.st = st
	for _, msg := range in.pending {
		if err := in.process(msg); err != nil {
			return err
		}
	}
	in.pending = nil
	for {
		msg, err := in.read()
		if err != nil {
			return err
		}
		in.configure(msg)
		if err := in.process(msg); err != nil {
			return err
		}
	}
}

// process writes a media message to the stream.
func (in *rtmpInput) process(msg message.Message) error {
	switch m := msg.(type) {
	case *message.Video:
		if m.Type == message.VideoTypeAU {
			return in.writeVideo(m.DTS+m.PTSDelta, m.DTS, m.AU)
		}
	case *message.VideoExCodedFrames:
		return in.writeVideo(m.DTS+m.PTSDelta, m.DTS, m.Payload)
	case *message.VideoExFramesX:
		return in.writeVideo(m.DTS, m.DTS, m.Payload)
	case *message.Audio:
		if m.AACType == message.AudioAACTypeAU && len(m.AU) > 0 {
			in.writeAudio(m.DTS, m.AU)
		}
	case *message.AudioExCodedFrames:
		if len(m.Payload) > 0 {
			in.writeAudio(m.DTS, m.Payload)
		}
	}
	return nil
}

func (in *rtmpInput) pts(pts, dts time.Duration) time.Duration {
	if !in.startSet {
		in.start, in.startSet = dts, true
	}
	return pts - in.start
}

func (in *rtmpInput) writeVideo(pts, dts time.Duration, avcc []byte) error {
	if in.video == nil {
		return nil
	}
	au, err := unmarshalAVCC(avcc)
	if err != nil || len(au) == 0 {
		return err
	}
	switch in.video.Codec.(type) {
	case *stream.H264:
		au = stream.WithH264Params(au, in.sps, in.pps)
	case *stream.H265:
		au = stream.WithH265Params(au, in.vps, in.sps, in.pps)
	}
	in.st.Write(&stream.Unit{Track: in.video, NTP: time.Now(), PTS: in.pts(pts, dts), Payload: au, Size: stream.PayloadSize(au)})
	return nil
}

func (in *rtmpInput) writeAudio(dts time.Duration, frame []byte) {
	if in.audio == nil {
		return
	}
	in.st.Write(&stream.Unit{Track: in.audio, NTP: time.Now(), PTS: in.pts(dts, dts), Payload: [][]byte{frame}, Size: len(frame)})
}

func mediaDTS(msg message.Message) (time.Duration, bool) {
	switch m := msg.(type) {
	case *message.Video:
		return m.DTS, m.Type == message.VideoTypeAU
	case *message.VideoExCodedFrames:
		return m.DTS, true
	case *message.VideoExFramesX:
		return m.DTS, true
	case *message.Audio:
		return m.DTS, m.Codec != message.CodecMPEG4Audio || m.AACType == message.AudioAACTypeAU
	case *message.AudioExCodedFrames:
		return m.DTS, true
	}
	return 0, false
}

func fourCC(f message.FourCC) string {
	b := []byte{byte(f >> 24), byte(f >> 16), byte(f >> 8), byte(f)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// Close releases the port of a server that will not Run.
func (s *RTMPServer) Close() { s.ln.Close() }
