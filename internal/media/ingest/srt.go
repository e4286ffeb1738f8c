package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	srt "github.com/datarhei/gosrt"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// SRTServer accepts SRT publishers carrying MPEG-TS, with a stream id of the form
// publish:<app>/<stream>[?key=…|token=…] or the SRT access-control form #!::r=<app>/<stream>,m=publish,….
type SRTServer struct {
	Address     string
	ReadTimeout time.Duration
	Registry    registry
	Auth        authorizer
	Takeover    bool
	Metrics     *mediametrics.Metrics
	Log         *slog.Logger
	// Passphrase, if set, makes SRT's AES encryption with it required of every caller (the key length,
	// 16, 24 or 32 bytes, is the caller's, as with libsrt)
	Passphrase string

	ln   srt.Listener
	gate gate
	open connSet[srt.Conn]
}

// maxStreamIDLen is SRT's own limit on the stream id.
const maxStreamIDLen = 512

// ParseStreamID reads the path and credentials from an SRT stream id. mode is "publish", "read", or
// (access-control form without m=) "request".
func ParseStreamID(id string) (mode, path string, q url.Values, err error) {
	if len(id) > maxStreamIDLen {
		return "", "", nil, fmt.Errorf("stream id longer than %d bytes", maxStreamIDLen)
	}
	if rest, ok := strings.CutPrefix(id, "#!::"); ok {
		q = url.Values{}
		mode = "request"
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "r":
				path = v
			case "m":
				mode = v
			case "key", "token":
				q.Set(k, v)
			}
		}
		if path == "" {
			return "", "", nil, errors.New("stream id has no r=<app>/<stream>")
		}
		return mode, path, q, nil
	}
	mode, rest, ok := strings.Cut(id, ":")
	if !ok || (mode != "publish" && mode != "read") {
		return "", "", nil, errors.New("stream id must be publish:<app>/<stream>[?key=…|token=…]")
	}
	path, rawQuery, _ := strings.Cut(rest, "?")
	q, err = url.ParseQuery(rawQuery)
	if err != nil {
		return "", "", nil, fmt.Errorf("stream id query: %w", err)
	}
	return mode, path, q, nil
}

// Listen binds the UDP port.
func (s *SRTServer) Listen() error {
	cfg := srt.DefaultConfig()
	ln, err := srt.Listen("srt", s.Address, cfg)
	if err != nil {
		return fmt.Errorf("srt listen on %s: %w", s.Address, err)
	}
	s.ln = ln
	if s.ReadTimeout == 0 {
		s.ReadTimeout = defaultReadTimeout
	}
	s.gate = gate{registry: s.Registry, auth: s.Auth, takeover: s.Takeover, metrics: s.Metrics}
	return nil
}

// Addr is the bound address.
func (s *SRTServer) Addr() net.Addr { return s.ln.Addr() }

// Run accepts publishers until ctx is cancelled.
func (s *SRTServer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	go func() {
		<-ctx.Done()
		s.open.closeAll()
		s.ln.Close()
	}()
	for {
		req, err := s.ln.Accept2()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil || errors.Is(err, srt.ErrListenerClosed) {
				return nil
			}
			// gosrt returns an error only once its UDP socket has failed for good, and the same error on
			// every later call: retrying would spin. (Its connections share that socket, so a shortage of
			// descriptors, EMFILE, cannot reach this loop.)
			return fmt.Errorf("srt accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			log := s.Log.With("protocol", "srt", "remote", req.RemoteAddr().String())
			c, err := s.accept(req, log)
			if err != nil {
				log.Warn("publish refused", "cause", err)
				return
			}
			if !s.open.add(c.Conn) {
				return
			}
			defer s.open.remove(c.Conn)
			s.serve(c, log)
		}()
	}
}

// pendingConn carries the admitted path from the handshake to the session.
type pendingConn struct {
	srt.Conn
	path stream.Path
}

func (s *SRTServer) accept(req srt.ConnRequest, log *slog.Logger) (*pendingConn, error) {
	if s.Passphrase != "" {
		if !req.IsEncrypted() {
			s.Metrics.Rejected("srt", "unencrypted")
			req.Reject(srt.REJ_UNSECURE)
			return nil, errors.New("the caller does not encrypt, and srt.passphrase requires it")
		}
		if req.SetPassphrase(s.Passphrase) != nil { // its error says nothing the caller may not know
			s.Metrics.Rejected("srt", "passphrase")
			req.Reject(srt.REJ_BADSECRET)
			return nil, errors.New("the caller encrypts with another passphrase")
		}
	}
	mode, rawPath, q, err := ParseStreamID(req.StreamId())
	if err != nil {
		s.Metrics.Rejected("srt", "bad_path")
		reject(req, rejectBadRequest)
		return nil, err
	}
	if mode != "publish" {
		s.Metrics.Rejected("srt", "mode")
		reject(req, rejectBadMode)
		return nil, fmt.Errorf("mode %q is not offered: publish over SRT, play over HLS", mode)
	}
	path, err := s.gate.admit("srt", rawPath, q)
	if err != nil {
		reject(req, rejectionOf(err))
		return nil, err
	}
	c, err := req.Accept()
	if err != nil {
		return nil, fmt.Errorf("srt accept: %w", err)
	}
	return &pendingConn{Conn: c, path: path}, nil
}

// The SRT access-control rejection codes nagare sends (libsrt's srt/access_control.h; the codes are
// HTTP's status codes plus 1000). gosrt's REJX_CONFLICT is 1407, where libsrt has 1409.
const (
	rejectBadRequest   = 1400 // a stream id or stream name that cannot be read
	rejectUnauthorized = 1401 // no key or token given
	rejectForbidden    = 1403 // a wrong key, a bad or expired token, or publishing not set up here
	rejectBadMode      = 1405 // a mode other than publish
	rejectConflict     = 1409 // the name is already being published
)

// rejectionOf gives the rejection code of an error of gate.admit.
func rejectionOf(err error) int {
	switch {
	case errors.Is(err, stream.ErrInvalidPath):
		return rejectBadRequest
	case errors.Is(err, stream.ErrAlreadyPublishing):
		return rejectConflict
	case errors.Is(err, pubauth.ErrNoCredentials):
		return rejectUnauthorized
	default:
		return rejectForbidden
	}
}

// reject refuses a connection request with an access-control code. On the wire a rejection's handshake
// type is 1000 + the reason (libsrt subtracts 1000 when it reads it back; SRT's own REJ_* codes, 0–99,
// are sent the same way as 1000–1099). gosrt v0.11.0 sends the number given to Reject as it is, so a
// bare 1401 reached libsrt callers (srt-live-transmit, ffmpeg, OBS) as reason 401, "Unknown or
// erroneous", and they retried; 2401 reaches them as 1401.
func reject(req srt.ConnRequest, code int) {
	req.Reject(srt.RejectionReason(1000 + code))
}

func (s *SRTServer) serve(c *pendingConn, log *slog.Logger) {
	defer c.Close()
	log = log.With("stream", c.path.String())
	err := s.session(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		log.Warn("publisher gone", "cause", err)
		return
	}
	log.Info("publisher gone")
}

// deadlineReader bounds each read so that a silent publisher is dropped.
type deadlineReader struct {
	c       srt.Conn
	timeout time.Duration
}

func (r deadlineReader) Read(p []byte) (int, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(r.timeout))
	return r.c.Read(p)
}

func (s *SRTServer) session(c *pendingConn) error {
	br := bufio.NewReaderSize(deadlineReader{c: c.Conn, timeout: s.ReadTimeout}, 1500)
	r := &mpegts.Reader{R: br}
	if err := r.Initialize(); err != nil {
		s.Metrics.BadConn("srt")
		return fmt.Errorf("reading MPEG-TS tracks: %w", err)
	}
	var unsupported []string
	var tracks []*stream.Track
	bind := map[*stream.Track]*mpegts.Track{}
	for _, t := range r.Tracks() {
		var st *stream.Track
		switch codec := t.Codec.(type) {
		case *tscodecs.H264:
			st = &stream.Track{Codec: &stream.H264{}}
		case *tscodecs.H265:
			st = &stream.Track{Codec: &stream.H265{}}
		case *tscodecs.MPEG4Audio:
			st = &stream.Track{Codec: &stream.MPEG4Audio{Config: codec.Config}}
		case *tscodecs.Opus:
			n := codec.ChannelCount //nolint:staticcheck // Desc is optional
			if codec.Desc != nil {
				n = codec.Desc.ChannelCount()
			}
			st = &stream.Track{Codec: &stream.Opus{ChannelCount: n}}
		default:
			unsupported = append(unsupported, fmt.Sprintf("%T", t.Codec))
			continue
		}
		if st.Codec.IsVideo() && hasVideo(tracks) {
			continue // one video track per stream
		}
		tracks = append(tracks, st)
		bind[st] = t
	}
	if len(tracks) == 0 {
		s.Metrics.Rejected("srt", "tracks")
		if len(unsupported) > 0 {
			return fmt.Errorf("%w: %s (H.264, H.265, AAC and Opus are supported)", ErrUnsupportedCodec, strings.Join(unsupported, ", "))
		}
		return ErrNoTracks
	}

	st, err := s.gate.publish(stream.PublishRequest{
		Path: c.path, Tracks: tracks, Protocol: "srt", Remote: c.RemoteAddr().String(),
		Close: func() { c.Close() },
	})
	if err != nil {
		return err
	}
	defer s.Registry.Unpublish(st)
	logTracks(s.Log.With("protocol", "srt", "stream", c.path.String()), st)

	td := mpegts.NewTimeDecoder()
	decodeErrors := 0
	r.OnDecodeError(func(err error) {
		decodeErrors++
		if decodeErrors%100 == 1 {
			s.Log.Warn("mpeg-ts decode error", "stream", c.path.String(), "cause", err, "count", decodeErrors)
		}
	})
	for track, tsTrack := range bind {
		track := track
		switch track.Codec.(type) {
		case *stream.H264:
			r.OnDataH264(tsTrack, func(pts, _ int64, au [][]byte) error {
				st.Write(&stream.Unit{Track: track, NTP: time.Now(), PTS: ticks(td.Decode(pts), 90000), Payload: au, Size: stream.PayloadSize(au)})
				return nil
			})
		case *stream.H265:
			r.OnDataH265(tsTrack, func(pts, _ int64, au [][]byte) error {
				st.Write(&stream.Unit{Track: track, NTP: time.Now(), PTS: ticks(td.Decode(pts), 90000), Payload: au, Size: stream.PayloadSize(au)})
				return nil
			})
		case *stream.MPEG4Audio:
			r.OnDataMPEG4Audio(tsTrack, func(pts int64, aus [][]byte) error {
				st.Write(&stream.Unit{Track: track, NTP: time.Now(), PTS: ticks(td.Decode(pts), 90000), Payload: aus, Size: stream.PayloadSize(aus)})
				return nil
			})
		case *stream.Opus:
			r.OnDataOpus(tsTrack, func(pts int64, packets [][]byte) error {
				st.Write(&stream.Unit{Track: track, NTP: time.Now(), PTS: ticks(td.Decode(pts), 90000), Payload: packets, Size: stream.PayloadSize(packets)})
				return nil
			})
		}
	}
	for {
		if err := r.Read(); err != nil {
			return err
		}
	}
}

func hasVideo(ts []*stream.Track) bool {
	for _, t := range ts {
		if t.Codec.IsVideo() {
			return true
		}
	}
	return false
}

// ticks converts a timestamp in 1/rate seconds to a duration without overflow.
func ticks(v int64, rate int64) time.Duration {
	sec := v / rate
	return time.Duration(sec)*time.Second + time.Duration(v%rate)*time.Second/time.Duration(rate)
}

// Close releases the port of a server that will not Run.
func (s *SRTServer) Close() { s.ln.Close() }
