package stream

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Codec describes the codec of a track and its decoder parameters.
type Codec interface {
	IsVideo() bool
	// ClockRate is the timescale the muxers use for this codec.
	ClockRate() int
	String() string
}

// H264 is AVC video. SPS and PPS are the parameter sets announced by the publisher.
type H264 struct{ SPS, PPS []byte }

// H265 is HEVC video.
type H265 struct{ VPS, SPS, PPS []byte }

// AV1 video.
type AV1 struct{ SequenceHeader []byte }

// VP9 video.
type VP9 struct{}

// MPEG4Audio is AAC audio.
type MPEG4Audio struct {
	Config mpeg4audio.AudioSpecificConfig
}

// Opus audio.
type Opus struct{ ChannelCount int }

func (*H264) IsVideo() bool       { return true }
func (*H265) IsVideo() bool       { return true }
func (*AV1) IsVideo() bool        { return true }
func (*VP9) IsVideo() bool        { return true }
func (*MPEG4Audio) IsVideo() bool { return false }
func (*Opus) IsVideo() bool       { return false }

func (*H264) ClockRate() int         { return 90000 }
func (*H265) ClockRate() int         { return 90000 }
func (*AV1) ClockRate() int          { return 90000 }
func (*VP9) ClockRate() int          { return 90000 }
func (c *MPEG4Audio) ClockRate() int { return c.Config.SampleRate }
func (*Opus) ClockRate() int         { return 48000 }

func (*H264) String() string { return "H264" }
func (*H265) String() string { return "H265" }
func (*AV1) String() string  { return "AV1" }
func (*VP9) String() string  { return "VP9" }
func (c *MPEG4Audio) String() string {
	return fmt.Sprintf("AAC %d Hz %d ch", c.Config.SampleRate, c.Config.ChannelCount)
}
func (c *Opus) String() string { return fmt.Sprintf("Opus %d ch", c.ChannelCount) }

// IsH264RandomAccess reports whether an H.264 access unit holds an IDR picture.
func IsH264RandomAccess(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && n[0]&0x1F == 5 {
			return true
		}
	}
	return false
}

// IsH265RandomAccess reports whether an H.265 access unit holds an IRAP picture.
func IsH265RandomAccess(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 {
			if t := (n[0] >> 1) & 0x3F; t >= 16 && t <= 21 {
				return true
			}
		}
	}
	return false
}

// WithH264Params puts SPS and PPS in front of an IDR access unit that lacks them, so that every segment
// starts decodable (RTMP carries them only in the sequence header; some WHIP publishers send them once).
func WithH264Params(au [][]byte, sps, pps []byte) [][]byte {
	if !h264.IsRandomAccess(au) || sps == nil || pps == nil {
		return au
	}
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1F) == h264.NALUTypeSPS {
			return au
		}
	}
	return append([][]byte{sps, pps}, au...)
}

// WithH265Params does for H.265 what WithH264Params does for H.264.
func WithH265Params(au [][]byte, vps, sps, pps []byte) [][]byte {
	if !h265.IsRandomAccess(au) || vps == nil || sps == nil || pps == nil {
		return au
	}
	for _, n := range au {
		if len(n) > 0 && h265.NALUType((n[0]>>1)&0x3F) == h265.NALUType_SPS_NUT {
			return au
		}
	}
	return append([][]byte{vps, sps, pps}, au...)
}
