package nodeapi

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClientIP(t *testing.T) {
	const secret = "cluster-secret-0123456789"
	signed := func(ip, by string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://node/live/s/whep", nil)
		r.RemoteAddr = "10.0.0.1:5000" // the manager
		if by != "" {
			SignClient(r.Header, by, ip)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		want string
	}{
		{"signed by the manager", signed("203.0.113.9", secret), "203.0.113.9"},
		{"no signature", signed("203.0.113.9", ""), "10.0.0.1"},
		{"signed with another secret", signed("203.0.113.9", "another-secret-0123456789"), "10.0.0.1"},
		{"not an address", signed("nobody", secret), "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, ClientIP(tc.r, secret)) })
	}
	r := signed("203.0.113.9", secret)
	r.Header.Set(HeaderClient, "198.51.100.1") // a client claiming another address with a copied signature
	assert.Equal(t, "10.0.0.1", ClientIP(r, secret))
	assert.Equal(t, "10.0.0.1", ClientIP(signed("203.0.113.9", secret), ""), "a node without a secret trusts nobody")
}
