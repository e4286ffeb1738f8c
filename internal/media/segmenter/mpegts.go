package segmenter

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
)

// tsClockRate is the clock of MPEG-TS timestamps.
const tsClockRate = 90000

// maxAudioPES bounds the audio frames put in one PES packet, as ffmpeg does (its pes_payload_size).
const maxAudioPES = 2930

// tsWriter writes segments as MPEG-TS. One writer serves the whole stream, as one transport stream cut
// into pieces: continuity counters and timestamps run on from a segment to the next.
type tsWriter struct {
	w   *mpegts.Writer
	out sink
	// next is where each audio track's next frame starts, on the track's clock
	next map[*track]int64
}

func newTSWriter(tracks []*track) (*tsWriter, error) {
	tw := &tsWriter{next: map[*track]int64{}}
	tw.w = &mpegts.Writer{W: &tw.out}
	for _, t := range tracks {
		tw.w.Tracks = append(tw.w.Tracks, t.ts)
	}
	if err := tw.w.Initialize(); err != nil {
		return nil, fmt.Errorf("MPEG-TS writer: %w", err)
	}
	return tw, nil
}

// tsSample is a sample to write.
type tsSample struct {
	t   *track
	smp *sample
	dts int64 // on the track's clock, audio frames made contiguous
	key int64 // the order of writing
}

// segment writes the samples of the segment being written, taking them from the tracks (nil without
// samples).
func (tw *tsWriter) segment(tracks []*track) ([]byte, error) {
	var all []tsSample
	for _, t := range tracks {
		for i, smp := range t.samples {
			x := tsSample{t: t, smp: smp, dts: smp.dts}
			if !t.isVideo() {
				x.dts = tw.audioDTS(t, smp)
			}
			x.key = rescale(x.dts, t.clockRate, tsClockRate)
			if t.leading && i == 0 {
				// the segment opens with the leading track's random-access point, before which the writer
				// puts PAT and PMT: the segment decodes alone
				x.key = math.MinInt64
			}
			all = append(all, x)
		}
		t.samples = nil
	}
	if len(all) == 0 {
		return nil, nil
	}
	// in decode order across tracks, as a demuxer expects to meet them
	slices.SortStableFunc(all, func(a, b tsSample) int { return cmp.Compare(a.key, b.key) })
	for len(all) > 0 {
		n := run(all)
		if err := tw.write(all[:n]); err != nil {
			tw.out.b = nil
			return nil, fmt.Errorf("writing MPEG-TS segment: %w", err)
		}
		all = all[n:]
	}
	data := tw.out.b
	tw.out.b = nil
	return data, nil
}

// audioDTS returns the decode time to write for audio frame smp: a frame that starts within half a frame
// of the end of the one before follows it exactly. Publishers' timestamps jitter (RTMP's are whole
// milliseconds) and iOS stutters on MPEG-TS audio whose timestamps do not add up, as gohlslib found; a
// larger difference is a real gap, or drift, and is kept.
func (tw *tsWriter) audioDTS(t *track, smp *sample) int64 {
	d := frameDuration(t, smp)
	dts := smp.dts
	if next, ok := tw.next[t]; ok && max(dts-next, next-dts) <= d/2 {
		dts = next
	}
	tw.next[t] = dts + d
	return dts
}

// frameDuration returns how long audio frame smp of t plays, on t's clock.
func frameDuration(t *track, smp *sample) int64 {
	if t.aac != nil {
		return mpeg4audio.SamplesPerAccessUnit
	}
	return opus.PacketDuration2(smp.Payload)
}

// run returns how many samples from the first go in one PES packet: audio frames that follow one
// another share one, which saves headers and, when audio leads, the PAT and PMT the writer puts in front
// of every audio PES packet of the leading track.
func run(all []tsSample) int {
	t := all[0].t
	if t.isVideo() {
		return 1
	}
	n, size := 1, all[0].smp.size()
	for n < len(all) && all[n].t == t && size+all[n].smp.size() <= maxAudioPES &&
		all[n].dts == all[n-1].dts+frameDuration(t, all[n-1].smp) {
		size += all[n].smp.size()
		n++
	}
	return n
}

// write writes samples of one track as one PES packet (a video one holds one sample).
func (tw *tsWriter) write(run []tsSample) error {
	t, smp := run[0].t, run[0].smp
	dts := rescale(run[0].dts, t.clockRate, tsClockRate)
	if t.isVideo() {
		pts := rescale(smp.dts+int64(smp.PTSOffset), t.clockRate, tsClockRate)
		if t.h264 != nil {
			return tw.w.WriteH264(t.ts, pts, dts, smp.au)
		}
		return tw.w.WriteH265(t.ts, pts, dts, smp.au)
	}
	frames := make([][]byte, len(run))
	for i, x := range run {
		frames[i] = x.smp.Payload
	}
	if t.aac != nil {
		return tw.w.WriteMPEG4Audio(t.ts, dts, frames)
	}
	return tw.w.WriteOpus(t.ts, dts, frames)
}

// rescale converts v ticks of 1/from s to ticks of 1/to s, rounding down, without overflowing for long
// publications.
func rescale(v int64, from, to int) int64 {
	return v/int64(from)*int64(to) + v%int64(from)*int64(to)/int64(from)
}

// sink collects what the writer writes.
type sink struct{ b []byte }

func (s *sink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}
