package segmenter

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/substructs"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// track is one track of the segments: the codec parameters that go into the init section (or the
// multivariant playlist), the decode-time extraction, and the samples of the part being written.
type track struct {
	id        int // fMP4 track ID, from 1
	clockRate int
	leading   bool          // segments and parts are cut on this track's timeline
	ts        *mpegts.Track // the MPEG-TS track, nil in fMP4

	// codec parameters of the samples being made. Video ones are replaced (never changed) at a
	// random-access point whose parameter sets differ, and paramsVersion counts the replacements: the
	// segmenter compares it with the version its init section was made from.
	h264          *mp4codecs.H264
	h265          *mp4codecs.H265
	aac           *mp4codecs.MPEG4Audio
	opus          *mp4codecs.Opus
	paramsVersion int
	// the latest video parameter sets met in the stream (no VPS in H.264), in force from the next
	// random-access point: an encoder may send them ahead of it
	vps, sps, pps []byte

	randomAccessSeen bool
	h264DTS          *h264.DTSExtractor
	h265DTS          *h265.DTSExtractor

	// next is the latest sample: its duration is known only when the following one arrives
	next    *sample
	lastDur uint32 // the latest known sample duration, for the last sample of a stream
	// reached is where the latest sample received ends, on the stream's timeline (started: there was one);
	// kept for the tracks that do not lead (Segmenter.waitsFor)
	reached time.Duration
	started bool

	samples  []*sample // of the part being written
	partBase int64     // decode time of samples[0]
}

// sample is an fMP4 sample with its decode time (in the track's clock) and wall-clock time. In MPEG-TS,
// a video sample keeps its access unit in au instead of Payload: the TS writer wants NAL units, and the
// fMP4 fragment writer prefixes each with its length as it copies it.
type sample struct {
	fmp4.Sample
	au  [][]byte
	dts int64
	ntp time.Time
	// early: a sample of a track that does not lead, written into the part that ended after it started,
	// before its successor told its duration (Segmenter.writeEarly)
	early bool
}

func (s *sample) size() int {
	n := len(s.Payload)
	for _, b := range s.au {
		n += len(b)
	}
	return n
}

// newTrack returns the track for codec c, or nil if c cannot be carried in the format.
func newTrack(id int, c stream.Codec, format string) *track {
	t := newMP4Track(id, c)
	if t == nil || format != FormatMPEGTS {
		return t
	}
	switch {
	case t.h264 != nil:
		t.ts = &mpegts.Track{Codec: &tscodecs.H264{}}
	case t.h265 != nil:
		t.ts = &mpegts.Track{Codec: &tscodecs.H265{}}
	case t.aac != nil:
		// MPEG-TS carries AAC in ADTS, which knows fewer object types, sample rates and layouts than an
		// AudioSpecificConfig: a track the writer would refuse frame after frame is not carried
		c := t.aac.Config
		probe := mpeg4audio.ADTSPackets{{Type: c.Type, SampleRate: c.SampleRate, ChannelConfig: c.ChannelConfig,
			ChannelCount: c.ChannelCount}} //nolint:staticcheck // the writer reads it too
		if _, err := probe.Marshal(); err != nil {
			return nil
		}
		t.ts = &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: t.aac.Config}}
	default:
		if t.opus.ChannelCount > 8 {
			return nil // beyond what the opus_audio_descriptor's channel_config_code names
		}
		t.ts = &mpegts.Track{Codec: &tscodecs.Opus{
			Desc: &substructs.OpusAudioDescriptor{ChannelConfigCode: uint8(t.opus.ChannelCount)},
		}}
	}
	return t
}

func newMP4Track(id int, c stream.Codec) *track {
	t := &track{id: id, clockRate: c.ClockRate()}
	switch c := c.(type) {
	case *stream.H264:
		t.sps, t.pps = bytes.Clone(c.SPS), bytes.Clone(c.PPS)
		t.h264 = &mp4codecs.H264{SPS: t.sps, PPS: t.pps}
	case *stream.H265:
		t.vps, t.sps, t.pps = bytes.Clone(c.VPS), bytes.Clone(c.SPS), bytes.Clone(c.PPS)
		t.h265 = &mp4codecs.H265{VPS: t.vps, SPS: t.sps, PPS: t.pps}
	case *stream.MPEG4Audio:
		if c.Config.SampleRate <= 0 {
			return nil
		}
		t.aac = &mp4codecs.MPEG4Audio{Config: c.Config}
	case *stream.Opus:
		t.opus = &mp4codecs.Opus{ChannelCount: max(c.ChannelCount, 1)}
	default:
		return nil
	}
	return t
}

func (t *track) isVideo() bool { return t.h264 != nil || t.h265 != nil }

func (t *track) mp4Codec() mp4codecs.Codec {
	switch {
	case t.h264 != nil:
		return t.h264
	case t.h265 != nil:
		return t.h265
	case t.aac != nil:
		return t.aac
	default:
		return t.opus
	}
}

// defaultDuration is the duration given to the last sample of a stream when no earlier one tells.
func (t *track) defaultDuration() uint32 {
	if t.lastDur > 0 {
		return t.lastDur
	}
	switch {
	case t.aac != nil:
		return mpeg4audio.SamplesPerAccessUnit
	case t.opus != nil:
		return 960 // 20 ms
	default:
		return uint32(t.clockRate / 25)
	}
}

// toTicks converts d to units of 1/rate s without overflowing for long publications.
func toTicks(d time.Duration, rate int) int64 {
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	return sec*int64(rate) + rem*int64(rate)/int64(time.Second)
}

// toDuration converts ticks of 1/rate s to a duration.
func toDuration(ticks int64, rate int) time.Duration {
	sec := ticks / int64(rate)
	rem := ticks % int64(rate)
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(rate)
}

// nonEmpty drops empty NAL units, frames or packets, which no codec parser accepts.
func nonEmpty(in [][]byte) [][]byte {
	for _, b := range in {
		if len(b) == 0 {
			out := make([][]byte, 0, len(in))
			for _, b := range in {
				if len(b) > 0 {
					out = append(out, b)
				}
			}
			return out
		}
	}
	return in
}

// samplesOf turns a unit into samples. It returns no sample (and no error) for units that carry nothing
// to play or that come before the first random-access point.
func (t *track) samplesOf(u *stream.Unit) (out []*sample, randomAccess bool, err error) {
	payload := nonEmpty(u.Payload)
	if len(payload) == 0 {
		return nil, false, nil
	}
	pts := toTicks(u.PTS, t.clockRate)
	defer func() {
		// a parser of mediacommon must not take the node down with a malformed unit
		if r := recover(); r != nil {
			out, randomAccess, err = nil, false, fmt.Errorf("malformed unit: %v", r)
		}
	}()
	switch {
	case t.h264 != nil:
		return t.h264Samples(payload, pts, u.NTP)
	case t.h265 != nil:
		return t.h265Samples(payload, pts, u.NTP)
	case t.aac != nil:
		for i, au := range payload {
			out = append(out, &sample{
				Sample: fmp4.Sample{Payload: au},
				dts:    pts + int64(i)*mpeg4audio.SamplesPerAccessUnit,
				ntp:    u.NTP.Add(toDuration(int64(i)*mpeg4audio.SamplesPerAccessUnit, t.clockRate)),
			})
		}
		return out, true, nil
	default:
		ntp := u.NTP
		for _, pkt := range payload {
			out = append(out, &sample{Sample: fmp4.Sample{Payload: pkt}, dts: pts, ntp: ntp})
			d := opus.PacketDuration2(pkt)
			pts += d
			ntp = ntp.Add(toDuration(d, 48000))
		}
		return out, true, nil
	}
}

func (t *track) h264Samples(au [][]byte, pts int64, ntp time.Time) ([]*sample, bool, error) {
	randomAccess, picture, hasSPS := false, false, false
	for _, n := range au {
		switch h264.NALUType(n[0] & 0x1F) {
		case h264.NALUTypeIDR:
			randomAccess, picture = true, true
		case h264.NALUTypeNonIDR:
			picture = true
		case h264.NALUTypeSPS:
			hasSPS = true
			t.sps = remember(t.sps, n)
		case h264.NALUTypePPS:
			t.pps = remember(t.pps, n)
		}
	}
	if !picture {
		return nil, false, nil
	}
	if !t.randomAccessSeen {
		if !randomAccess {
			return nil, false, nil
		}
		t.randomAccessSeen = true
		t.h264DTS = &h264.DTSExtractor{}
		t.h264DTS.Initialize()
	}
	forDTS := au
	if randomAccess && !hasSPS && len(t.sps) > 0 {
		// the extractor reads the SPS in-band; a publisher that sends it out of band only still works
		forDTS = append([][]byte{t.sps, t.pps}, au...)
	}
	dts, err := t.h264DTS.Extract(forDTS, pts)
	if err != nil {
		return nil, false, fmt.Errorf("H.264 decode time: %w", err)
	}
	smp, err := t.videoSample(au, forDTS, pts, dts, randomAccess, ntp)
	if err != nil {
		return nil, false, fmt.Errorf("H.264 access unit: %w", err)
	}
	if randomAccess {
		t.takeParams()
	}
	return []*sample{smp}, randomAccess, nil
}

func (t *track) h265Samples(au [][]byte, pts int64, ntp time.Time) ([]*sample, bool, error) {
	randomAccess, hasSPS := false, false
	for _, n := range au {
		switch h265.NALUType((n[0] >> 1) & 0x3F) {
		case h265.NALUType_IDR_W_RADL, h265.NALUType_IDR_N_LP, h265.NALUType_CRA_NUT:
			randomAccess = true
		case h265.NALUType_VPS_NUT:
			t.vps = remember(t.vps, n)
		case h265.NALUType_SPS_NUT:
			hasSPS = true
			t.sps = remember(t.sps, n)
		case h265.NALUType_PPS_NUT:
			t.pps = remember(t.pps, n)
		}
	}
	if !t.randomAccessSeen {
		if !randomAccess {
			return nil, false, nil
		}
		t.randomAccessSeen = true
		t.h265DTS = &h265.DTSExtractor{}
		t.h265DTS.Initialize()
	}
	forDTS := au
	if randomAccess && !hasSPS && len(t.sps) > 0 {
		forDTS = append([][]byte{t.vps, t.sps, t.pps}, au...)
	}
	dts, err := t.h265DTS.Extract(forDTS, pts)
	if err != nil {
		return nil, false, fmt.Errorf("H.265 decode time: %w", err)
	}
	smp, err := t.videoSample(au, forDTS, pts, dts, randomAccess, ntp)
	if err != nil {
		return nil, false, fmt.Errorf("H.265 access unit: %w", err)
	}
	if randomAccess {
		t.takeParams()
	}
	return []*sample{smp}, randomAccess, nil
}

// remember returns the parameter set n, or old when n is the same (the stream repeats them).
func remember(old, n []byte) []byte {
	if bytes.Equal(old, n) {
		return old
	}
	return bytes.Clone(n)
}

// takeParams puts the parameter sets met in the stream in force, at a random-access point whose sample
// was made: one that was refused leaves the parameters of the samples already made in force.
func (t *track) takeParams() {
	switch {
	case t.h264 != nil && !(bytes.Equal(t.h264.SPS, t.sps) && bytes.Equal(t.h264.PPS, t.pps)):
		t.h264 = &mp4codecs.H264{SPS: t.sps, PPS: t.pps}
	case t.h265 != nil && !(bytes.Equal(t.h265.VPS, t.vps) && bytes.Equal(t.h265.SPS, t.sps) &&
		bytes.Equal(t.h265.PPS, t.pps)):
		t.h265 = &mp4codecs.H265{VPS: t.vps, SPS: t.sps, PPS: t.pps}
	default:
		return
	}
	t.paramsVersion++
}

// videoSample makes the sample of access unit au; withParams is au with the parameter sets in front if
// it is a random-access point.
func (t *track) videoSample(au, withParams [][]byte, pts, dts int64, randomAccess bool, ntp time.Time) (*sample, error) {
	smp := &sample{
		Sample: fmp4.Sample{PTSOffset: int32(pts - dts), IsNonSyncSample: !randomAccess},
		dts:    dts, ntp: ntp,
	}
	if t.ts != nil {
		// an MPEG-TS segment has no init section: its first access unit must carry the parameter sets
		smp.au = withParams
		return smp, nil
	}
	// fMP4: written in AVCC form (length-prefixed NAL units) straight into its fragment
	smp.au = au
	return smp, nil
}
