package nodeapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
)

// The manager's WHIP/WHEP proxy mode forwards offers to nodes from its own address. It names the client
// it forwards for in HeaderClient, signed with the cluster secret in HeaderClientSignature, so that a node
// applies its per-address bounds to the client rather than to the manager; an unsigned or wrongly signed
// name is ignored.
const (
	HeaderClient          = "X-Nagare-Client"
	HeaderClientSignature = "X-Nagare-Client-Signature"
)

// SignClient sets the forwarded client's address (an IP) on a request to a node.
func SignClient(h http.Header, secret, ip string) {
	h.Set(HeaderClient, ip)
	h.Set(HeaderClientSignature, clientMAC(secret, ip))
}

// ClientIP returns the address r comes from: the forwarded client's when the manager signed it with
// secret, else the connection's.
func ClientIP(r *http.Request, secret string) string {
	if ip := r.Header.Get(HeaderClient); ip != "" && secret != "" && net.ParseIP(ip) != nil {
		want := clientMAC(secret, ip)
		if hmac.Equal([]byte(want), []byte(r.Header.Get(HeaderClientSignature))) {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func clientMAC(secret, ip string) string {
	m := hmac.New(sha256.New, []byte("nagare client address\x00"+secret))
	m.Write([]byte(ip))
	return hex.EncodeToString(m.Sum(nil))
}
