package segmenter

import (
	"math/rand/v2"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/stretchr/testify/require"
)

// The hand-written fragment must be byte for byte what mediacommon's fmp4.Part writes, for every mix of
// tracks, sample flags, composition offsets and payload forms.
func TestFragmentMatchesMediacommon(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var reused []byte
	for round := range 300 {
		var tracks []fragmentTrack
		want := fmp4.Part{SequenceNumber: rng.Uint32()}
		for id := range 1 + rng.IntN(3) {
			ft := fragmentTrack{id: uint32(id + 1), baseTime: rng.Uint64() >> rng.IntN(64)}
			pt := &fmp4.PartTrack{ID: id + 1, BaseTime: ft.baseTime}
			for range 1 + rng.IntN(8) {
				smp := &sample{Sample: fmp4.Sample{
					Duration:        rng.Uint32N(6000),
					IsNonSyncSample: round%3 != 0 && rng.IntN(2) == 0,
				}}
				if round%4 != 0 && rng.IntN(2) == 0 {
					smp.PTSOffset = int32(rng.IntN(2000)) - 1000
				}
				expected := smp.Sample
				if rng.IntN(2) == 0 {
					// a video access unit, written in AVCC form
					for range 1 + rng.IntN(3) {
						smp.au = append(smp.au, bytesOf(1+rng.IntN(300)))
					}
					avcc, err := h264.AVCC(smp.au).Marshal()
					require.NoError(t, err)
					expected.Payload = avcc
				} else {
					smp.Payload = bytesOf(rng.IntN(300))
					expected.Payload = smp.Payload
				}
				ft.samples = append(ft.samples, smp)
				pt.Samples = append(pt.Samples, &expected)
			}
			tracks = append(tracks, ft)
			want.Tracks = append(want.Tracks, pt)
		}
		var buf seekablebuffer.Buffer
		require.NoError(t, want.Marshal(&buf))
		require.Equal(t, buf.Bytes(), marshalFragment(nil, want.SequenceNumber, tracks), "round %d", round)
		// written into the bytes of the round before (a buffer reused from part to part), whatever they hold
		reused = marshalFragment(reused, want.SequenceNumber, tracks)
		require.Equal(t, buf.Bytes(), reused, "round %d, reused buffer", round)
	}
}
