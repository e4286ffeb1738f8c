package webrtc

import (
	"net"
	"time"

	"github.com/nagare-video/nagare/internal/media/webrtc/client"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
)

// The codecs nagare negotiates. H.264 with packetization mode 1 is what every browser sends and decodes;
// several profile-level-ids are registered because pion matches an offer's H.264 by profile, and a WHIP
// publisher may offer only one. The WHEP tracks use the first (constrained baseline), which every
// browser offers; a decoder takes any profile once the session exists.
var (
	h264Codecs = []string{"42e01f", "42001f", "4d001f", "64001f"}
	// H264Capability is the codec of the tracks WHEP viewers get.
	H264Capability = webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}
	// OpusCapability is the audio codec, in both directions.
	OpusCapability = webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	}
)

// nackBuffer is how many sent packets each viewer's session keeps for retransmission (a power of two):
// about a second of a 1 Mbit/s stream. It is the largest part of a viewer's memory.
const nackBuffer = 128

// ICE timeouts: a peer that stops answering is disconnected after iceDisconnected and failed (its
// session reaped) after iceFailed.
const (
	iceDisconnected = 4 * time.Second
	iceFailed       = 8 * time.Second
	iceKeepalive    = 2 * time.Second
)

// newMediaEngine registers nagare's codecs and their RTCP feedback.
func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	feedback := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"},
		{Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
	for i, plid := range h264Codecs {
		c := webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: feedback,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid,
			},
			PayloadType: webrtc.PayloadType(102 + 2*i),
		}
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	opus := webrtc.RTPCodecParameters{RTPCodecCapability: OpusCapability, PayloadType: 111}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	return m, nil
}

// newAPI builds the pion API every session of a server uses: one UDP port for all sessions (ICE UDP mux)
// and ICE-TCP on the same port number, the advertised addresses in the candidates.
func newAPI(udp net.PacketConn, tcp net.Listener, publicIPs []string, loopback bool) (*webrtc.API, error) {
	m, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	// NACK: the generator asks publishers (and an edge's parent) to resend what was lost, the responder
	// resends to viewers from a short buffer
	if err := webrtc.ConfigureNackWithOptions(m, ir, nil, nack.ResponderSize(nackBuffer)); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	// transport-wide congestion control feedback lets a browser publisher adapt its bitrate
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: client.QuietLogs{}}
	se.SetICETimeouts(iceDisconnected, iceFailed, iceKeepalive)
	quiet := client.QuietLogs{}.NewLogger("ice")
	se.SetICEUDPMux(webrtc.NewICEUDPMux(quiet, udp))
	if tcp != nil {
		se.SetICETCPMux(webrtc.NewICETCPMux(quiet, tcp, 64))
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6,
			webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	}
	if len(publicIPs) > 0 {
		se.SetNAT1To1IPs(publicIPs, webrtc.ICECandidateTypeHost)
	}
	se.SetIncludeLoopbackCandidate(loopback)
	// no mDNS: candidates name addresses, and a server has no use for .local names
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}
