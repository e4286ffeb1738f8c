package client

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Viewer is a WHEP session that counts what it receives: the tests' and the load generator's player.
type Viewer struct {
	*Session
	Started time.Time // when the offer was sent

	VideoPackets atomic.Uint64
	AudioPackets atomic.Uint64
	Bytes        atomic.Uint64
	Keyframes    atomic.Uint64 // H.264 keyframe starts seen
	Lost         atomic.Uint64 // packets missing from the sequence, after retransmissions
	Codecs       sync.Map      // kind → MIME type

	firstKey atomic.Int64 // ns after Started of the first keyframe start (0: none yet)
	lastRecv atomic.Int64 // unix ns of the last packet
}

// Watch opens a WHEP session at endpoint and counts its packets until the session ends.
func Watch(ctx context.Context, api *webrtc.API, hc *http.Client, endpoint string) (*Viewer, error) {
	v := &Viewer{Started: time.Now()}
	s, err := Subscribe(ctx, api, hc, endpoint, v.read)
	if err != nil {
		return nil, err
	}
	v.Session = s
	return v, nil
}

// FirstKeyframe is how long after the offer the first keyframe began arriving (0 if none has).
func (v *Viewer) FirstKeyframe() time.Duration { return time.Duration(v.firstKey.Load()) }

// LastPacket is when the last packet arrived.
func (v *Viewer) LastPacket() time.Time { return time.Unix(0, v.lastRecv.Load()) }

// RequestKeyframe sends a PLI for the video track, as a decoder that lost its reference does.
func (v *Viewer) RequestKeyframe(ssrc uint32) error {
	return v.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

func (v *Viewer) read(t *webrtc.TrackRemote) {
	v.Codecs.Store(t.Kind().String(), t.Codec().MimeType)
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	isH264 := strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeH264)
	var last uint16
	started := false
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		v.lastRecv.Store(time.Now().UnixNano())
		v.Bytes.Add(uint64(len(pkt.Payload)))
		if started {
			if gap := int16(pkt.SequenceNumber - last - 1); gap > 0 {
				v.Lost.Add(uint64(gap))
			}
		}
		if !started || int16(pkt.SequenceNumber-last) > 0 {
			last = pkt.SequenceNumber
		}
		started = true
		if !video {
			v.AudioPackets.Add(1)
			continue
		}
		v.VideoPackets.Add(1)
		if isH264 && IsH264KeyStart(pkt.Payload) {
			if v.Keyframes.Add(1) == 1 {
				v.firstKey.Store(int64(time.Since(v.Started)))
			}
		}
	}
}

// IsH264KeyStart reports whether an RTP payload starts a keyframe: an IDR slice or an SPS, alone, in a
// STAP-A, or at the start of an FU-A.
func IsH264KeyStart(payload []byte) bool {
	if len(payload) < 2 {
		return false
	}
	switch t := payload[0] & 0x1F; t {
	case 5, 7:
		return true
	case 24: // STAP-A: 16-bit size, then a NAL unit
		for b := payload[1:]; len(b) > 2; {
			size := int(b[0])<<8 | int(b[1])
			if size == 0 || len(b) < 2+size {
				return false
			}
			if nt := b[2] & 0x1F; nt == 5 || nt == 7 {
				return true
			}
			b = b[2+size:]
		}
	case 28: // FU-A: the start bit and the fragmented unit's type
		return payload[1]&0x80 != 0 && payload[1]&0x1F == 5
	}
	return false
}

// OnKeyframeRequest reads a sender's RTCP until its session ends (pion needs it read) and calls f for
// each PLI or FIR, a receiver's request for a keyframe.
func OnKeyframeRequest(sender *webrtc.RTPSender, f func()) {
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					f()
				}
			}
		}
	}()
}
