package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzParseRequest checks the parser against net/http on any input: a request this server takes is one
// net/http's server would take too, read the same in every field a handler sees.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET /live/a/index.m3u8?_HLS_msn=1&_HLS_part=2 HTTP/1.1\r\nHost: a:1\r\nUser-Agent: x\r\n\r\n",
		"HEAD /a%20b/c HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
		"GET /p!a'(t)*h/?q=%zz#f HTTP/1.1\r\nHost: [::1]:80\r\nX: \t v \t\r\nX: w\r\n\r\n",
		"OPTIONS /x? HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
		"GET //double/slash HTTP/1.1\r\nHost: \r\nAccept-encoding: gzip\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		end, ok := headerEnd(raw)
		if !ok || end == 0 {
			return
		}
		got := parseRequest(context.Background(), raw[:end], "192.0.2.1:1234")
		if got == nil {
			return // net/http's to answer: nothing to compare
		}
		want, err := netHTTPRead(raw[:end])
		if err != nil {
			t.Fatalf("took %q, which net/http's server refuses: %v", raw[:end], err)
		}
		fields := []struct {
			name      string
			got, want any
		}{
			{"method", got.Method, want.Method},
			{"URL", *got.URL, *want.URL},
			{"host", got.Host, want.Host},
			{"request URI", got.RequestURI, want.RequestURI},
			{"proto", got.Proto, want.Proto},
			{"close", got.Close, want.Close},
			{"content length", got.ContentLength, want.ContentLength},
			{"header", got.Header, want.Header},
		}
		for _, fl := range fields {
			if !reflect.DeepEqual(fl.got, fl.want) {
				t.Errorf("%q: %s %#v, net/http %#v", raw[:end], fl.name, fl.got, fl.want)
			}
		}
	})
}

// netHTTPRead reads b as net/http's server does (http.ReadRequest and the checks its connection adds);
// an error for anything it would answer with an error or read a body for.
func netHTTPRead(b []byte) (*http.Request, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	if br.Buffered() != 0 {
		return nil, errors.New("the header block was not read whole")
	}
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		return nil, errors.New("not HTTP/1.1")
	}
	// ReadRequest moves Host out of the header (it refuses two): was there one?
	hasHost := false
	for _, line := range bytes.Split(b, []byte("\r\n"))[1:] {
		name, _, _ := bytes.Cut(line, []byte(":"))
		hasHost = hasHost || bytes.EqualFold(name, []byte("Host"))
	}
	if !hasHost || !httpguts.ValidHostHeader(r.Host) {
		return nil, errors.New("missing or malformed Host")
	}
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, errors.New("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, errors.New("invalid header value")
			}
		}
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return nil, errors.New("a body")
	}
	return r, nil
}
