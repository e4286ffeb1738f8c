package httpenc

import (
	"net/http"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	for _, c := range []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"gzip, deflate, br, zstd"}, true}, // Chromium's
		{[]string{"br", "GZip"}, true},
		{[]string{"deflate, br"}, false},
		{[]string{"x-gzip"}, false},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q = 0.0"}, false},
		{[]string{"gzip;q=0.5"}, true},
		{[]string{"gzip;q=junk"}, true},
		{[]string{"gzip;level=1"}, true},
		{[]string{"*"}, false}, // a wildcard is not asked for: a client that says * takes identity too
		{[]string{"identity;q=1, gzip ;q=0.001"}, true},
	} {
		r := &http.Request{Header: http.Header{"Accept-Encoding": c.header}}
		if got := AcceptsGzip(r); got != c.want {
			t.Errorf("Accept-Encoding %q: got %v, want %v", c.header, got, c.want)
		}
	}
}

func TestAcceptsGzipAllocatesNothing(t *testing.T) {
	r := &http.Request{Header: http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}}}
	if n := testing.AllocsPerRun(100, func() { AcceptsGzip(r) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}
