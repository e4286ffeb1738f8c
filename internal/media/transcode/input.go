package transcode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// tsBase is added to every timestamp handed to ffmpeg and taken off every timestamp it gives back:
// MPEG-TS has no negative times, and the muxer's clock reference runs ahead of the decode time.
const tsBase = 10 * time.Second

// errNoVideo is returned for a source without an H.264 or H.265 track: there is nothing to scale.
var errNoVideo = errors.New("the source has no H.264 or H.265 video")

// input writes a source's units as one MPEG-TS stream (ffmpeg's input), its parameter sets in band at
// every keyframe and decode times derived from the presentation times, from the first keyframe on.
type input struct {
	w      *mpegts.Writer
	video  *stream.Track
	audio  *stream.Track
	vt, at *mpegts.Track

	started bool
	h264DTS *h264.DTSExtractor
	h265DTS *h265.DTSExtractor
	params  [][]byte // the latest parameter sets (VPS, SPS, PPS): prepended to keyframes without them
}

// newInput returns the writer for the source's first video track and first audio track it can carry.
func newInput(w io.Writer, tracks []*stream.Track) (*input, error) {
	in := &input{}
	var ts []*mpegts.Track
	for _, t := range tracks {
		if t == nil {
			continue
		}
		switch c := t.Codec.(type) {
		case *stream.H264:
			if in.video == nil {
				in.video, in.vt = t, &mpegts.Track{Codec: &tscodecs.H264{}}
				in.params = nonEmpty(c.SPS, c.PPS)
			}
		case *stream.H265:
			if in.video == nil {
				in.video, in.vt = t, &mpegts.Track{Codec: &tscodecs.H265{}}
				in.params = nonEmpty(c.VPS, c.SPS, c.PPS)
			}
		case *stream.MPEG4Audio:
			if in.audio == nil {
				in.audio, in.at = t, &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: c.Config}}
			}
		case *stream.Opus:
			if in.audio == nil {
				in.audio, in.at = t, &mpegts.Track{Codec: &tscodecs.Opus{ChannelCount: max(c.ChannelCount, 1)}} //nolint:staticcheck // Desc is optional
			}
		}
	}
	if in.video == nil {
		return nil, errNoVideo
	}
	ts = append(ts, in.vt)
	if in.at != nil {
		ts = append(ts, in.at)
	}
	in.w = &mpegts.Writer{W: w, Tracks: ts}
	if err := in.w.Initialize(); err != nil {
		return nil, fmt.Errorf("MPEG-TS writer: %w", err)
	}
	return in, nil
}

func nonEmpty(bs ...[]byte) [][]byte {
	var out [][]byte
	for _, b := range bs {
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

func ticks90(d time.Duration) int64 {
	d += tsBase
	return int64(d/time.Second)*90000 + int64(d%time.Second)*90000/int64(time.Second)
}

// keyframe reports whether u is a video keyframe of the source.
func (in *input) keyframe(u *stream.Unit) bool {
	if u.Track != in.video {
		return false
	}
	if _, ok := in.video.Codec.(*stream.H265); ok {
		return stream.IsH265RandomAccess(u.Payload)
	}
	return stream.IsH264RandomAccess(u.Payload)
}

// size returns the picture size of a keyframe's parameter sets (those in the unit, else the latest
// known), or zeros when they cannot be read.
func (in *input) size(u *stream.Unit) (w, h int) {
	w, h, _ = in.picture(u)
	return w, h
}

// picture returns the picture size and the frame rate (0 when the SPS does not tell) of a keyframe's
// parameter sets.
func (in *input) picture(u *stream.Unit) (w, h int, fps float64) {
	_, isH265 := in.video.Codec.(*stream.H265)
	sps := in.spsOf(u.Payload, isH265)
	if sps == nil {
		sps = in.spsOf(in.params, isH265)
	}
	if sps == nil {
		return 0, 0, 0
	}
	if isH265 {
		var s h265.SPS
		if s.Unmarshal(sps) != nil {
			return 0, 0, 0
		}
		return s.Width(), s.Height(), s.FPS()
	}
	var s h264.SPS
	if s.Unmarshal(sps) != nil {
		return 0, 0, 0
	}
	return s.Width(), s.Height(), s.FPS()
}

func (in *input) spsOf(nalus [][]byte, isH265 bool) []byte {
	for _, n := range nalus {
		switch {
		case len(n) == 0:
		case isH265 && h265.NALUType((n[0]>>1)&0x3F) == h265.NALUType_SPS_NUT:
			return n
		case !isH265 && h264.NALUType(n[0]&0x1F) == h264.NALUTypeSPS:
			return n
		}
	}
	return nil
}

// write writes u; units before the first keyframe are skipped (ffmpeg could not decode them).
func (in *input) write(u *stream.Unit) error {
	switch u.Track {
	case in.video:
		return in.writeVideo(u)
	case in.audio:
		if !in.started || in.at == nil {
			return nil
		}
		pts := ticks90(u.PTS)
		if _, ok := in.audio.Codec.(*stream.Opus); ok {
			return in.w.WriteOpus(in.at, pts, u.Payload)
		}
		return in.w.WriteMPEG4Audio(in.at, pts, u.Payload)
	}
	return nil
}

func (in *input) writeVideo(u *stream.Unit) error {
	key := in.keyframe(u)
	if !in.started {
		if !key {
			return nil
		}
		in.started = true
	}
	au := u.Payload
	_, isH265 := in.video.Codec.(*stream.H265)
	if key {
		if in.spsOf(au, isH265) == nil {
			au = append(append([][]byte{}, in.params...), au...)
		} else {
			in.rememberParams(au, isH265)
		}
	}
	pts := ticks90(u.PTS)
	if isH265 {
		if in.h265DTS == nil {
			in.h265DTS = &h265.DTSExtractor{}
			in.h265DTS.Initialize()
		}
		dts, err := in.h265DTS.Extract(au, pts)
		if err != nil {
			return fmt.Errorf("H.265 decode time: %w", err)
		}
		return in.w.WriteH265(in.vt, pts, dts, au)
	}
	if in.h264DTS == nil {
		in.h264DTS = &h264.DTSExtractor{}
		in.h264DTS.Initialize()
	}
	dts, err := in.h264DTS.Extract(au, pts)
	if err != nil {
		return fmt.Errorf("H.264 decode time: %w", err)
	}
	return in.w.WriteH264(in.vt, pts, dts, au)
}

// rememberParams keeps the parameter sets of a keyframe that carries them.
func (in *input) rememberParams(au [][]byte, isH265 bool) {
	var params [][]byte
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if isH265 {
			switch h265.NALUType((n[0] >> 1) & 0x3F) {
			case h265.NALUType_VPS_NUT, h265.NALUType_SPS_NUT, h265.NALUType_PPS_NUT:
				params = append(params, bytes.Clone(n))
			}
			continue
		}
		switch h264.NALUType(n[0] & 0x1F) {
		case h264.NALUTypeSPS, h264.NALUTypePPS:
			params = append(params, bytes.Clone(n))
		}
	}
	if len(params) > 0 {
		in.params = params
	}
}
