package transcode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// The MPEG-TS this package exchanges — with ffmpeg, and between an origin and a transcoder node — keeps
// a stream's timestamps: every presentation time is the unit's (stream.Unit.PTS) plus tsBase, on the
// 90 kHz clock, unwrapped past 33 bits by the reader. A rendition made from it lines up with its source.

// Publication says what PublishTS publishes.
type Publication struct {
	Path     stream.Path
	Protocol string
	Remote   string
	// Close ends the writer of the MPEG-TS (takeover, node shutdown); nil: nothing to close.
	Close func()
	// Rendition marks the stream as a rendition of another (nil: a stream of its own).
	Rendition *stream.Rendition
	// OnVideo, if set, learns of every video unit's presentation time and arrival.
	OnVideo func(pts time.Duration, at time.Time)
}

// PublishTS publishes the MPEG-TS read from r (H.264 and AAC; other tracks are ignored) as a stream of
// reg, from its first bytes until r ends, and unpublishes it then.
func PublishTS(reg registry, r io.Reader, p Publication, log *slog.Logger) error {
	tr := &mpegts.Reader{R: bufio.NewReaderSize(r, 64<<10)}
	if err := tr.Initialize(); err != nil {
		return fmt.Errorf("reading MPEG-TS: %w", err)
	}
	var tracks []*stream.Track
	bind := map[*stream.Track]*mpegts.Track{}
	for _, t := range tr.Tracks() {
		var st *stream.Track
		switch c := t.Codec.(type) {
		case *tscodecs.H264:
			st = &stream.Track{Codec: &stream.H264{}}
		case *tscodecs.MPEG4Audio:
			st = &stream.Track{Codec: &stream.MPEG4Audio{Config: c.Config}}
		default:
			continue
		}
		tracks = append(tracks, st)
		bind[st] = t
	}
	if len(tracks) == 0 {
		return errors.New("the MPEG-TS has no H.264 nor AAC track")
	}
	st, err := reg.Publish(stream.PublishRequest{
		Path: p.Path, Tracks: tracks, Protocol: p.Protocol, Remote: p.Remote, Close: p.Close, Rendition: p.Rendition,
	})
	if err != nil {
		return fmt.Errorf("publishing %s: %w", p.Path, err)
	}
	defer reg.Unpublish(st)

	// 33-bit MPEG-TS times, unwrapped from the first one on
	var td mpegts.TimeDecoder
	var first int64
	firstSet := false
	at := func(raw int64) time.Duration {
		if !firstSet {
			first, firstSet = raw, true
		}
		v := first + td.Decode(raw)
		return time.Duration(v/90000)*time.Second + time.Duration(v%90000)*time.Second/90000 - tsBase
	}
	decodeErrors := 0
	tr.OnDecodeError(func(err error) {
		decodeErrors++
		if decodeErrors%100 == 1 {
			log.Warn("MPEG-TS decode error", "stream", p.Path.String(), "cause", err, "count", decodeErrors)
		}
	})
	for track, tsTrack := range bind {
		switch track.Codec.(type) {
		case *stream.H264:
			tr.OnDataH264(tsTrack, func(pts, _ int64, au [][]byte) error {
				now := time.Now()
				u := &stream.Unit{Track: track, NTP: now, PTS: at(pts), Payload: au, Size: stream.PayloadSize(au)}
				if p.OnVideo != nil {
					p.OnVideo(u.PTS, now)
				}
				st.Write(u)
				return nil
			})
		case *stream.MPEG4Audio:
			tr.OnDataMPEG4Audio(tsTrack, func(pts int64, aus [][]byte) error {
				st.Write(&stream.Unit{Track: track, NTP: time.Now(), PTS: at(pts), Payload: aus, Size: stream.PayloadSize(aus)})
				return nil
			})
		}
	}
	for {
		if err := tr.Read(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("reading MPEG-TS: %w", err)
		}
	}
}

// TSQueue is the units a reader of WriteTS may hold before it drops.
const TSQueue = 1024

// WriteTS writes st to w as MPEG-TS, from its next keyframe on, until st ends (nil), ctx is done, or a
// write fails. reader is st's reader to take the units from (nil: one is added, so the units before
// are not sent; a listener adds one in StreamStarted to send them all). flush, if set, is called
// whenever no unit is waiting (an HTTP response's Flush).
func WriteTS(ctx context.Context, st *stream.Stream, reader *stream.Reader, w io.Writer, flush func() error) error {
	if reader == nil {
		if reader = st.AddReader("mpegts", TSQueue); reader == nil {
			return errors.New("the stream has ended")
		}
	}
	defer st.RemoveReader(reader)
	bw := bufio.NewWriterSize(w, 64<<10)
	in, err := newInput(bw, st.Tracks)
	if err != nil {
		return err
	}
	units := reader.Units()
	for {
		select {
		case u, ok := <-units:
			if !ok {
				return bw.Flush()
			}
			if err := in.write(u); err != nil {
				if errors.Is(err, io.ErrClosedPipe) {
					return err
				}
				continue // a unit the muxer refused; the next ones go on
			}
			if len(units) == 0 {
				if err := bw.Flush(); err != nil {
					return err
				}
				if flush != nil {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
