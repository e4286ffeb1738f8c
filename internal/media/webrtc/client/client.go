// Package client is a WHIP and WHEP client (RFC 9725 and its WHEP counterpart): it posts a peer
// connection's offer to an endpoint, following redirects as the manager answers them, applies the answer,
// and ends the session with DELETE. Edges use it to take a stream from their parent; tests and the
// benchmark use it as publisher and viewer.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Session is a negotiated WHIP or WHEP session.
type Session struct {
	PC *webrtc.PeerConnection
	// Location is the session URL the server answered with (absolute).
	Location string
	// Endpoint is the URL that answered the offer, after redirects (the node reached).
	Endpoint string
	// ICEServers are the servers the answer's Link headers announced.
	ICEServers []string
	http       *http.Client
}

// StatusError is a refused offer: the server's status and its answer.
type StatusError struct {
	Status int
	Body   string
	Header http.Header
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), strings.TrimSpace(e.Body))
}

// NewAPI builds a pion API for clients: the default codecs and interceptors, loopback candidates
// included (a client on the server's machine), then the caller's settings.
func NewAPI(settings ...func(*webrtc.SettingEngine)) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: QuietLogs{}}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	for _, set := range settings {
		set(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Negotiate offers pc's media at endpoint (its transceivers and tracks set up by the caller) with token
// as the bearer ("" for none), and applies the answer. The caller closes the session.
func Negotiate(ctx context.Context, hc *http.Client, pc *webrtc.PeerConnection, endpoint, token string) (*Session, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("creating the offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("setting the offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, &StatusError{Status: resp.StatusCode, Body: string(body), Header: resp.Header}
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return nil, errors.New("the answer has no Location")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return nil, fmt.Errorf("applying the answer: %w", err)
	}
	s := &Session{PC: pc, Location: loc.String(), Endpoint: resp.Request.URL.String(), http: hc}
	for _, l := range resp.Header.Values("Link") {
		if u, rest, ok := strings.Cut(strings.TrimPrefix(l, "<"), ">"); ok && strings.Contains(rest, `rel="ice-server"`) {
			s.ICEServers = append(s.ICEServers, u)
		}
	}
	return s, nil
}

// Node returns the host:port of the node that answered.
func (s *Session) Node() string {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return ""
	}
	return u.Host
}

// Close ends the session: DELETE at its Location, then the peer connection.
func (s *Session) Close(ctx context.Context) error {
	var err error
	req, rerr := http.NewRequestWithContext(ctx, http.MethodDelete, s.Location, nil)
	if rerr == nil {
		resp, derr := s.http.Do(req)
		if derr != nil {
			err = derr
		} else {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
				err = fmt.Errorf("DELETE %s: %s", s.Location, resp.Status)
			}
		}
	}
	return errors.Join(err, s.PC.Close())
}

// Subscribe opens a WHEP session that receives video and audio; onTrack is called for each remote track.
func Subscribe(ctx context.Context, api *webrtc.API, hc *http.Client, endpoint string, onTrack func(*webrtc.TrackRemote)) (*Session, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { onTrack(t) })
	s, err := Negotiate(ctx, hc, pc, endpoint, "")
	if err != nil {
		pc.Close()
		return nil, err
	}
	return s, nil
}

// QuietLogs keeps pion's own loggers to errors that matter to nobody reading nagare's log: it discards
// them; nagare logs what matters about a session, with its cause.
type QuietLogs struct{}

// NewLogger returns a logger that writes nothing.
func (QuietLogs) NewLogger(string) logging.LeveledLogger {
	return logging.NewDefaultLeveledLoggerForScope("", logging.LogLevelDisabled, io.Discard)
}
