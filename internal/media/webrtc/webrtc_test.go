package webrtc

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/webrtc/client"
)

const chromeOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102 127\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n" +
	"a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:127 H264/90000\r\na=fmtp:127 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"

func TestOfferedMedia(t *testing.T) {
	for _, tc := range []struct {
		name         string
		offer        string
		video, audio bool
		err          error
	}{
		{"browser", chromeOffer, true, true, nil},
		{"H264 mode 0 only", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 127\r\n" +
			"a=rtpmap:127 H264/90000\r\na=fmtp:127 packetization-mode=0\r\n", false, false, ErrNoCodec},
		{"audio only", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 OPUS/48000/2\r\n", false, true, nil},
		{"VP8 and PCMU", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n" +
			"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n", false, false, ErrNoCodec},
		{"not SDP", "hello", false, false, ErrBadOffer},
		{"empty", "", false, false, ErrBadOffer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			video, audio, err := offeredMedia(tc.offer)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.video, video)
			assert.Equal(t, tc.audio, audio)
		})
	}
}

func pkt(seq uint16, ts uint32, marker bool, payload ...byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload}
}

func TestFrameAssembler(t *testing.T) {
	var a frameAssembler
	// in order, one packet per frame
	f, lost := a.push(pkt(65534, 0, true, 0x65, 1))
	require.Len(t, f, 1)
	assert.False(t, lost)
	// reordered inside a frame, across the sequence wrap
	f, _ = a.push(pkt(0, 3000, false, 0x41, 2))
	assert.Nil(t, f)
	f, lost = a.push(pkt(65535, 3000, false, 0x41, 1))
	assert.Nil(t, f)
	assert.False(t, lost)
	f, lost = a.push(pkt(1, 3000, true, 0x41, 3))
	require.Len(t, f, 3)
	assert.False(t, lost)
	assert.Equal(t, []uint16{65535, 0, 1}, []uint16{f[0].SequenceNumber, f[1].SequenceNumber, f[2].SequenceNumber})
	// a packet lost inside a frame: the frame is dropped and the loss reported
	a.push(pkt(2, 6000, false, 0x41))
	f, lost = a.push(pkt(4, 6000, true, 0x41))
	assert.Nil(t, f)
	assert.True(t, lost)
	// padding-only packets between frames and inside one take sequence numbers and lose nothing
	f, lost = a.push(pkt(5, 3000, false))
	assert.Nil(t, f)
	assert.False(t, lost)
	a.push(pkt(6, 9000, false, 0x41, 1))
	a.push(pkt(7, 9000, false))
	f, lost = a.push(pkt(8, 9000, true, 0x41, 2))
	require.Len(t, f, 3)
	assert.False(t, lost)
	au, err := depacketizeH264(f)
	require.NoError(t, err)
	assert.Len(t, au, 2)
	// a frame whose marker was lost: the next frame reports it
	a.push(pkt(9, 12000, false, 0x41))
	f, lost = a.push(pkt(11, 15000, true, 0x41))
	assert.Nil(t, f)
	assert.True(t, lost)
}

func TestDepacketizeH264(t *testing.T) {
	sps, pps, idr := []byte{0x67, 1, 2}, []byte{0x68, 3}, []byte{0x65, 4, 5, 6}
	stapA := append([]byte{24, 0, 3}, append(sps, append([]byte{0, 2}, pps...)...)...)
	fuStart := []byte{0x7C, 0x85, 4, 5} // FU-A (NRI 3), start, IDR
	fuEnd := []byte{0x7C, 0x45, 6}
	au, err := depacketizeH264([]*rtp.Packet{pkt(1, 0, false, stapA...), pkt(2, 0, false, fuStart...), pkt(3, 0, true, fuEnd...)})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{sps, pps, idr}, au)
	assert.True(t, client.IsH264KeyStart(stapA))
	assert.True(t, client.IsH264KeyStart(fuStart))
	assert.False(t, client.IsH264KeyStart(fuEnd))
	assert.False(t, client.IsH264KeyStart([]byte{0x41, 1}))
	_, err = depacketizeH264([]*rtp.Packet{pkt(1, 0, true)})
	assert.Error(t, err)
}

func TestClockUnwrapsTimestamps(t *testing.T) {
	p := &publication{start: time.Now()}
	c := clock{rate: 90000}
	first := c.pts(p, 4294967000)
	second := c.pts(p, 90000-296) // wraps past 2^32
	assert.Equal(t, time.Second, second-first)
	assert.Equal(t, first, c.pts(p, 4294967000), "a late packet goes back in time, not 13 hours ahead")
}

func TestOfferLimiter(t *testing.T) {
	l := newOfferLimiter(2)
	now := time.Now()
	assert.True(t, l.allow("a", now))
	assert.True(t, l.allow("a", now))
	assert.False(t, l.allow("a", now))
	assert.True(t, l.allow("b", now), "another address has its own bound")
	assert.True(t, l.allow("a", now.Add(time.Minute)), "a new minute")
	assert.True(t, newOfferLimiter(0).allow("a", now), "0: unbounded")
}

// FuzzOffer: whatever a client posts as an offer is answered with a clean error or accepted media,
// never a panic.
func FuzzOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add("v=0\r\nm=video 9 RTP/AVP 96\r\na=rtpmap:96\r\na=fmtp:96\r\n")
	f.Add("v=0\r\nm=\r\na=rtpmap:x H264/90000\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		video, audio, err := offeredMedia(offer)
		if err == nil && !video && !audio {
			t.Fatal("accepted an offer with no media")
		}
		if err != nil && !errors.Is(err, ErrNoCodec) && !errors.Is(err, ErrBadOffer) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// FuzzRTP: a publisher's RTP payloads, however broken, assemble and depacketize without a panic.
func FuzzRTP(f *testing.F) {
	f.Add([]byte{24, 0, 3, 0x67, 1, 2, 0, 2, 0x68, 3}, []byte{28, 0x85, 4}, []byte{28, 0x45, 6}, uint16(10))
	f.Add([]byte{28}, []byte{24, 0xff, 0xff}, []byte{}, uint16(65535))
	f.Fuzz(func(t *testing.T, a, b, c []byte, seq uint16) {
		var fa frameAssembler
		for i, p := range [][]byte{a, b, c} {
			frame, _ := fa.push(pkt(seq+uint16(i), 0, i == 2, p...))
			if frame != nil {
				_, _ = depacketizeH264(frame)
			}
			_ = client.IsH264KeyStart(p)
		}
	})
}

// TestCoalescer: calls within the interval are neither dropped nor repeated: one more call at its end.
func TestCoalescer(t *testing.T) {
	var c coalescer
	var n atomic.Int32
	f := func() { n.Add(1) }
	c.do(100*time.Millisecond, f) // at once
	for range 10 {
		c.do(100*time.Millisecond, f) // one deferred call for all ten
	}
	assert.Equal(t, int32(1), n.Load())
	require.Eventually(t, func() bool { return n.Load() == 2 }, time.Second, 5*time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	assert.Equal(t, int32(2), n.Load(), "nothing more than the one deferred call")
}
