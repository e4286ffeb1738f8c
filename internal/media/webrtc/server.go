// Package webrtc serves WebRTC on a media node: WHIP ingest (RFC 9725) on origins, turning a browser's or
// an encoder's RTP into the units of an ordinary live stream, and WHEP playback on origins, relays and
// edges, fanning each stream's RTP out to its viewers. Every session shares one UDP port (ICE UDP mux)
// and ICE-TCP on the same port number.
//
// A stream is packetized once per node: an origin packetizes the stream's units (whatever protocol
// published them) in one hub, an edge takes the RTP from its parent over one WHEP session per stream; each
// viewer's session only rewrites SSRC and payload type (pion's TrackLocalStaticRTP), and starts at a
// keyframe.
package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// Config configures a Server.
type Config struct {
	// Address is the UDP port every session shares, and the TCP port of ICE-TCP (host:port).
	Address string
	// PublicIPs are the addresses written in the candidates (default: the addresses the port is bound to).
	PublicIPs []string
	// ICEServers are announced to clients in Link headers (RFC 9725 §4.6): stun: and turn: URLs.
	ICEServers []ICEServer
	// ConnectTimeout reaps a session whose ICE and DTLS have not connected by then.
	ConnectTimeout time.Duration
	// MaxSessions bounds the node's WHIP and WHEP sessions together.
	MaxSessions int
	// OffersPerMinute bounds the offers one client address may make (0: unbounded).
	OffersPerMinute int
	// FFmpeg is the ffmpeg that turns AAC into Opus for WebRTC viewers ("": AAC sources play silent), and
	// a WHIP publication's Opus into AAC for its HLS.
	FFmpeg string
	// HLSAudio is the audio of a WHIP publication's HLS: "aac" (an AAC track made from its Opus, which
	// every HLS player plays) or "opus" (the Opus as it came: no ffmpeg, but not for Safari before 17).
	HLSAudio string
}

// ICEServer is a STUN or TURN server clients may use.
type ICEServer struct {
	URL        string
	Username   string
	Credential string
}

// Errors a client is answered with; each maps to an HTTP status in writeError.
var (
	ErrNotLive       = errors.New("stream is not live")
	ErrNoCodec       = errors.New("no supported codec")
	ErrBadOffer      = errors.New("malformed SDP offer")
	ErrTooMany       = errors.New("too many WebRTC sessions on this node")
	ErrRateLimited   = errors.New("too many offers from this address")
	ErrUnknown       = errors.New("unknown session")
	ErrNotPublishing = errors.New("this node does not take publishers")
)

type registry interface {
	Get(p stream.Path) *stream.Stream
	Publish(req stream.PublishRequest) (*stream.Stream, error)
	Unpublish(s *stream.Stream)
}

type authorizer interface {
	Authorize(p stream.Path, q url.Values) error
}

// Server is the WebRTC side of a node.
type Server struct {
	Config
	// Registry holds the node's live streams (origins); nil on edges and relays, which pull from Parent.
	Registry registry
	// Auth checks WHIP publishers' credentials (origins).
	Auth authorizer
	// Takeover lets a new publisher replace the live one.
	Takeover bool
	// Parent returns the base URL an edge or relay pulls WebRTC streams from ("" while it has none). It
	// may take a moment (an edge without a parent asks its manager for one) and should give up with ctx.
	Parent func(ctx context.Context) string
	// Locate, when set, names the base URL of a node that carries a stream the parent does not have
	// (several origins in a cluster, each with its own streams: see relay.Server.Locate); "" when none.
	Locate func(ctx context.Context, p stream.Path) string
	// ParentTransport, if set, carries the WHEP requests to the parent (its TLS trusts the parent's
	// certificate); nil: http.DefaultTransport.
	ParentTransport http.RoundTripper
	// ClientIP names the address a request comes from, for the per-address bound on offers (nil: the
	// connection's; a node trusts the manager's proxy mode to name its client).
	ClientIP func(*http.Request) string
	Log      *slog.Logger

	api *webrtc.API
	udp net.PacketConn
	tcp net.Listener

	mu       sync.Mutex
	sessions map[string]*session
	added    chan struct{} // a session was added: Run reaps while some have not connected
	hubs     map[stream.Path]*hub
	closed   bool
	limiter  *offerLimiter

	counts Counts
}

// Counts are the server's running totals, for metrics and the load report.
type Counts struct {
	Publishers   atomic.Int64 // WHIP sessions now
	Viewers      atomic.Int64 // WHEP sessions now
	Rejected     atomic.Uint64
	ICETimeouts  atomic.Uint64
	PacketsOut   atomic.Uint64
	BytesOut     atomic.Uint64
	KeyframeAsks atomic.Uint64
}

// Listen binds the UDP and TCP ports.
func (s *Server) Listen() error {
	udp, tcp, err := listenPair(s.Address)
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(udp.LocalAddr().String())
	ip := net.ParseIP(host)
	api, err := newAPI(udp, tcp, s.PublicIPs, ip != nil && ip.IsLoopback())
	if err != nil {
		udp.Close()
		tcp.Close()
		return err
	}
	s.api, s.udp, s.tcp = api, udp, tcp
	s.sessions = map[string]*session{}
	s.added = make(chan struct{}, 1)
	s.hubs = map[stream.Path]*hub{}
	s.limiter = newOfferLimiter(s.OffersPerMinute)
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = 15 * time.Second
	}
	if s.MaxSessions <= 0 {
		s.MaxSessions = 10000
	}
	return nil
}

// udpBuffer is the kernel buffer size asked for the shared UDP port, each way: about 3 s of 10 Mbit/s.
const udpBuffer = 4 << 20

// listenPair binds UDP and TCP on the same port number. With port 0, the port the system gives UDP may be
// taken for TCP (by an outgoing connection, say): another is tried.
func listenPair(address string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(address)
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp", address)
		if err != nil {
			return nil, nil, fmt.Errorf("webrtc listen udp %s: %w", address, err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			growBuffers(udp, udpBuffer)
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" || attempt == 20 {
			return nil, nil, fmt.Errorf("webrtc listen tcp %s (ICE-TCP, on the UDP port's number): %w", udp.LocalAddr(), err)
		}
	}
}

// Addr is the bound UDP address (the TCP one has the same port).
func (s *Server) Addr() net.Addr { return s.udp.LocalAddr() }

// Counts returns the running totals.
func (s *Server) Counts() *Counts { return &s.counts }

// ViewersOf returns the WHEP sessions of p (every stream's when p is nil).
func (s *Server) ViewersOf(p *stream.Path) int {
	if p == nil {
		return int(s.counts.Viewers.Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hubs[*p]; h != nil {
		return h.viewerCount()
	}
	return 0
}

// ViewersByStream returns the WHEP sessions of every stream that has some.
func (s *Server) ViewersByStream() map[stream.Path]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[stream.Path]int, len(s.hubs))
	for p, h := range s.hubs {
		if n := h.viewerCount(); n > 0 {
			out[p] = n
		}
	}
	return out
}

// Run serves until ctx is done, then ends every session and closes the ports. Once a second it ends the
// sessions that did not connect in time; while none waits to connect, it does not wake at all.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.Close()
			return nil
		case <-t.C:
			if !s.reapUnconnected() {
				t.Stop()
			}
		case <-s.added:
			t.Reset(time.Second)
		}
	}
}

// Close ends every session and closes the ports.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	var sources []source
	for _, h := range s.hubs {
		sources = append(sources, h.src)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.close("node stopping")
	}
	for _, src := range sources {
		src.stop() // an edge's upstream sessions: DELETE at the parent
	}
	if s.udp != nil {
		s.udp.Close()
		s.tcp.Close()
	}
}

// EndViewers ends every WHEP session, one after another spread evenly over the span `over`, with reason
// in the log, and returns how many it ended. A draining edge calls it: its players' pages reconnect through
// the manager, which sends them to another edge, a few at a time rather than all at once. Only for an
// edge, whose WHEP sessions are all players (an origin's include the pulls of its edges).
func (s *Server) EndViewers(over time.Duration, reason string) int {
	s.mu.Lock()
	var viewers []*session
	for _, ss := range s.sessions {
		if ss.kind == "whep" {
			viewers = append(viewers, ss)
		}
	}
	s.mu.Unlock()
	for i, ss := range viewers {
		if i > 0 {
			time.Sleep(over / time.Duration(len(viewers)))
		}
		ss.close(reason)
	}
	return len(viewers)
}

// reapUnconnected ends the sessions whose ICE has not connected within ConnectTimeout. It reports whether
// other sessions have yet to connect.
func (s *Server) reapUnconnected() (waiting bool) {
	now := time.Now()
	var late []*session
	s.mu.Lock()
	for _, ss := range s.sessions {
		switch {
		case ss.connected.Load():
		case now.Sub(ss.created) > s.ConnectTimeout:
			late = append(late, ss)
		default:
			waiting = true
		}
	}
	s.mu.Unlock()
	for _, ss := range late {
		s.counts.ICETimeouts.Add(1)
		ss.close(fmt.Sprintf("ICE did not connect within %s", s.ConnectTimeout))
	}
	return waiting
}

// session is one WHIP or WHEP peer connection.
type session struct {
	id      string
	kind    string // "whip" or "whep"
	path    stream.Path
	remote  string
	pc      *webrtc.PeerConnection
	created time.Time
	log     *slog.Logger

	connected atomic.Bool
	once      sync.Once
	server    *Server

	mu      sync.Mutex
	ended   bool
	onClose []func()
}

// atClose has f called when the session ends; it reports false (and does not call f) if it has ended
// already.
func (ss *session) atClose(f func()) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return false
	}
	ss.onClose = append(ss.onClose, f)
	return true
}

// close ends the session once, with the reason in the log.
func (ss *session) close(reason string) {
	ss.once.Do(func() {
		ss.server.mu.Lock()
		delete(ss.server.sessions, ss.id)
		ss.server.mu.Unlock()
		_ = ss.pc.Close()
		ss.mu.Lock()
		ss.ended = true
		fs := ss.onClose
		ss.mu.Unlock()
		for _, f := range fs {
			f()
		}
		ss.log.Info("session ended", "reason", reason, "lasted", time.Since(ss.created).Round(time.Millisecond))
	})
}

// newSession creates the peer connection of a new session and registers it; the caller negotiates.
func (s *Server) newSession(kind string, p stream.Path, remote string) (*session, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrTooMany
	}
	if len(s.sessions) >= s.MaxSessions {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w (%d)", ErrTooMany, s.MaxSessions)
	}
	s.mu.Unlock()
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("peer connection: %w", err)
	}
	ss := &session{id: newID(), kind: kind, path: p, remote: remote, pc: pc, created: time.Now(), server: s}
	ss.log = s.Log.With("session", ss.id, "kind", kind, "stream", p.String(), "remote", remote)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			if !ss.connected.Swap(true) {
				ss.log.Info("session connected", "after", time.Since(ss.created).Round(time.Millisecond))
			}
		case webrtc.PeerConnectionStateFailed:
			go ss.close("connection failed (peer gone or unreachable)")
		case webrtc.PeerConnectionStateClosed:
			go ss.close("connection closed")
		}
	})
	s.mu.Lock()
	s.sessions[ss.id] = ss
	s.mu.Unlock()
	select {
	case s.added <- struct{}{}:
	default:
	}
	return ss, nil
}

func (s *Server) session(kind string, p stream.Path, id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil || ss.kind != kind || ss.path != p {
		return nil
	}
	return ss
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// negotiate answers offer on ss's peer connection, waiting for the (local, immediate) ICE gathering so
// that the answer carries every candidate.
func negotiate(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(5 * time.Second):
		return "", errors.New("ICE gathering did not finish")
	}
	return pc.LocalDescription().SDP, nil
}

// isPath reports whether the request is one this server answers (for the node's body guard).
func isPath(p string) bool {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	return (len(parts) == 3 || len(parts) == 4) && (parts[2] == "whip" || parts[2] == "whep")
}
