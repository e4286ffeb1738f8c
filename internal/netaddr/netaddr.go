// Package netaddr turns listen addresses into addresses a client can dial.
package netaddr

import "net"

// Loopback returns addr with a wildcard host ("", "0.0.0.0", "::") replaced by 127.0.0.1, so that a
// process on this machine can dial what a server bound; other addresses are returned as they are.
func Loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
