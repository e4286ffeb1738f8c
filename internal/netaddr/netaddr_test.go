package netaddr

import "testing"

func TestLoopback(t *testing.T) {
	for in, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:1935": "127.0.0.1:1935", "[::]:5080": "127.0.0.1:5080",
		"10.1.2.3:80": "10.1.2.3:80", "[::1]:80": "[::1]:80", "example.com:443": "example.com:443", "garbage": "garbage",
	} {
		if got := Loopback(in); got != want {
			t.Errorf("Loopback(%q) = %q, want %q", in, got, want)
		}
	}
}
