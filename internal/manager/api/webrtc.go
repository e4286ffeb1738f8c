package api

// WebRTC through the manager: WHIP publishers (RFC 9725) and WHEP viewers are sent to a node the way the
// other protocols are, either by a 307 that the client follows with its offer (the WHIP/WHEP way), or, for
// clients that do not follow redirects, by the manager forwarding the offer and the session's later
// PATCH and DELETE calls (Red5 Stream Manager 2.0's proxy mode).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

const (
	kindWHIP = "whip"
	kindWHEP = "whep"

	// maxSDP bounds a proxied offer, trickle fragment or node answer: SDP is a few kilobytes.
	maxSDP = 64 << 10
	// proxyTimeout bounds one proxied call, from the manager's request to the node's last byte.
	proxyTimeout = 10 * time.Second
	// proxyBase is where the proxy mode's calls live.
	proxyBase = "/proxy"
)

// forwardedRequest and forwardedAnswer are the headers the proxy passes on; Location is rewritten. A
// node's refusal keeps what the client needs to act on it (Retry-After, WWW-Authenticate).
var (
	forwardedRequest = []string{"Content-Type", "Authorization", "If-Match"}
	forwardedAnswer  = []string{"Content-Type", "ETag", "Link", "Accept-Patch", "Retry-After", "WWW-Authenticate"}
)

// nodeClient returns the client that calls the nodes. It follows no redirect (the node's 3xx goes back to
// the client) and uses no HTTP proxy from the environment: nodes are reached directly, as the redirects
// send clients.
func (s *Server) nodeClient() *http.Client {
	s.nodeOnce.Do(func() {
		tr := &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second}
		if s.NodeTransport != nil {
			tr = s.NodeTransport.Clone()
			tr.Proxy, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout = nil, 8, 90*time.Second
		}
		s.nodeHTTP = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	})
	return s.nodeHTTP
}

// webrtcTarget picks the node for a WHIP offer (the origin publishRoute picks) or a WHEP offer (the node
// playRoute picks) and returns it with the node's URL for the offer, the request's query kept.
func (s *Server) webrtcTarget(r *http.Request, kind string) (store.Node, string, error) {
	path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		return store.Node{}, "", err
	}
	q := r.URL.Query()
	var rt route
	target, noNode := "", selector.ErrNoEdge
	if kind == kindWHIP {
		rt, err = s.publishRoute(path, q.Get("group"))
		target, noNode = rt.WHIPURL, selector.ErrNoOrigin
	} else {
		rt, err = s.playRoute(path, q.Get("group"), q.Get("region"))
		target = rt.WHEPURL
	}
	if err != nil {
		return store.Node{}, "", err
	}
	if target == "" {
		return store.Node{}, "", fmt.Errorf("%w: node %s has no HTTP address", noNode, rt.Node.ID)
	}
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	return rt.Node, target, nil
}

// webrtcEntry answers POST /<app>/<stream>/whip|whep with a 307 to the chosen node's endpoint: WHIP and
// WHEP clients follow it with the same method and body.
func (s *Server) webrtcEntry(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, target, err := s.webrtcTarget(r, kind)
		if err != nil {
			s.fail(w, r, err, nativeErrors)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
	}
}

// proxyOffer is POST /proxy/whip|whep/<app>/<stream>: the offer goes to the chosen node, its answer back
// to the client, with the session URL turned into the manager's.
func (s *Server) proxyOffer(kind string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		n, target, err := s.webrtcTarget(r, kind)
		if err != nil {
			return err
		}
		return s.forward(w, r, n, target)
	}
}

// proxySession is PATCH and DELETE /proxy/session/<node>/<app>/<stream>/<kind>/<id>: trickle ICE, ICE
// restarts and the end of a session the proxy mode started, forwarded to the node that holds it.
func (s *Server) proxySession(w http.ResponseWriter, r *http.Request) error {
	kind, id, nodeID := r.PathValue("kind"), r.PathValue("id"), r.PathValue("node")
	if kind != kindWHIP && kind != kindWHEP {
		return invalid("session kind %q must be whip or whep", clip(kind))
	}
	path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	if !validSessionID(id) {
		return invalid("session id %q must match [A-Za-z0-9_-]{1,64}", clip(id))
	}
	n, ok := s.Cluster.Node(nodeID)
	if !ok {
		return fmt.Errorf("node %q: %w", clip(nodeID), store.ErrNotFound)
	}
	if n.Addresses.HTTP == "" {
		return fmt.Errorf("%w: node %s has no HTTP address", ErrNodeUnreachable, n.ID)
	}
	target := n.Addresses.HTTPURL() + "/" + path + "/" + kind + "/" + id
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	return s.forward(w, r, n, target)
}

// forward sends r (method, body, forwardedRequest headers) to target on node n and writes the node's
// answer: its status, body and forwardedAnswer headers, and its Location made the manager's.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, n store.Node, target string) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDP))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return fmt.Errorf("%w: the body is over %d bytes", ErrTooLarge, maxSDP)
		}
		return invalid("reading the body: %v", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), proxyTimeout)
	defer cancel()
	var rd io.Reader = http.NoBody
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, rd)
	if err != nil {
		return fmt.Errorf("building the request to node %s: %w", n.ID, err)
	}
	for _, k := range forwardedRequest {
		if v := r.Header.Values(k); len(v) > 0 {
			req.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && s.ClusterSecret != "" {
		// the node bounds offers per client address: name the client, not this manager
		nodeapi.SignClient(req.Header, s.ClusterSecret, host)
	}
	res, err := s.nodeClient().Do(req)
	if err != nil {
		return unreachable(n, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxSDP+1))
	if err != nil {
		return unreachable(n, err)
	}
	if len(answer) > maxSDP {
		return fmt.Errorf("%w: node %s answered more than %d bytes", ErrNodeUnreachable, n.ID, maxSDP)
	}
	h := w.Header()
	for _, k := range forwardedAnswer {
		if v := res.Header.Values(k); len(v) > 0 {
			h[http.CanonicalHeaderKey(k)] = v // ETag's is Etag
		}
	}
	if loc := res.Header.Get("Location"); loc != "" {
		// a relative Location is the node's: resolved here, it cannot be taken for one of the manager's
		if u, err := req.URL.Parse(loc); err == nil {
			if mine, ok := managerSessionURL(r, n, req.URL, u); ok {
				loc = mine
			} else {
				s.Log.Warn("node answered a Location that is not one of its sessions; passed on", "node", n.ID, "path", r.URL.Path)
				loc = u.String()
			}
		}
		h.Set("Location", loc)
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(answer)
	return nil
}

// unreachable is the error of a node that did not answer. The request's URL is left out (its query may
// hold a token): the node and the network's own words are enough.
func unreachable(n store.Node, err error) error {
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s", proxyTimeout)
	}
	return fmt.Errorf("%w: node %s (%s): %v", ErrNodeUnreachable, n.ID, n.Addresses.HTTP, err)
}

// managerSessionURL turns u, the node's Location for a session (resolved against sent, the node URL the
// request went to), into the manager's /proxy/session URL for it, on the host and scheme the client
// called. It reports false when u is not a session URL of node n for the stream and kind of sent.
func managerSessionURL(r *http.Request, n store.Node, sent, u *url.URL) (string, bool) {
	if u.Scheme != "http" || !strings.EqualFold(u.Host, n.Addresses.HTTP) || u.User != nil {
		return "", false
	}
	// sent is /<app>/<stream>/<kind> for an offer, /<app>/<stream>/<kind>/<id> for a session call
	parts := strings.Split(strings.TrimPrefix(sent.Path, "/"), "/")
	if len(parts) < 3 {
		return "", false
	}
	prefix := "/" + strings.Join(parts[:3], "/") + "/"
	id, ok := strings.CutPrefix(u.Path, prefix)
	if !ok || !validSessionID(id) || u.RawPath != "" {
		return "", false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	out := scheme + "://" + r.Host + proxyBase + "/session/" + n.ID + prefix + id
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out, true
}

// validSessionID reports whether id is a session id a node may hand out: [A-Za-z0-9_-]{1,64}.
func validSessionID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
