package relay

import (
	"bufio"
	"bytes"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// Steering is an edge's part in HLS Content Steering (RFC 8216bis §4.4.6.6): the steering server
// players ask, and the pathway this edge is.
type Steering struct {
	// ServerURI is the base of the steering server's URLs (<ServerURI>/<app>/<stream>).
	ServerURI string
	// Pathway is this edge's PATHWAY-ID.
	Pathway string
}

// addSteering adds EXT-X-CONTENT-STEERING (the steering server's URL for the stream, this edge as the
// initial pathway) to a multivariant playlist, and PATHWAY-ID to every variant. host is the Host the
// player asked with (over TLS or not): its port goes to the steering server, which can then move the
// player only to edges a pathway clone reaches (a clone replaces the host name, never the port).
func addSteering(b []byte, st *Steering, path stream.Path, host string, tls bool) []byte {
	port := "80"
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = p
	} else if tls {
		port = "443"
	}
	if _, err := strconv.Atoi(port); err != nil {
		port = ""
	}
	server := st.ServerURI + "/" + path.String()
	if port != "" {
		server += "?port=" + url.QueryEscape(port)
	}
	pathway := strconv.Quote(st.Pathway)
	var out bytes.Buffer
	out.Grow(len(b) + 256)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	tagged := false
	for sc.Scan() {
		line := sc.Text()
		if !tagged && line != "#EXTM3U" && !strings.HasPrefix(line, "#EXT-X-VERSION:") {
			// after the header lines, before the first that describes the stream
			out.WriteString(`#EXT-X-CONTENT-STEERING:SERVER-URI="` + server + `",PATHWAY-ID=` + pathway + "\n")
			tagged = true
		}
		if strings.HasPrefix(line, "#EXT-X-STREAM-INF:") {
			line += ",PATHWAY-ID=" + pathway
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
