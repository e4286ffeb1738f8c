package relay

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	// Storage, when set, is the base URL of the storage push's copy of the streams, StoragePlaylist a
	// stream's multivariant playlist's name under <Storage>/<app>/<stream>/, and StoragePathway that
	// copy's PATHWAY-ID: its variants are added to the multivariant playlists (see storagePathway).
	Storage, StoragePlaylist, StoragePathway string
}

// addSteering adds EXT-X-CONTENT-STEERING (the steering server's URL for the stream, initial as the
// pathway the player starts on: this edge's, or the storage pathway's) to a multivariant playlist, and
// PATHWAY-ID to every variant. host is the Host the player asked with (over TLS or not): its port goes
// to the steering server, which can then move the player only to edges a pathway clone reaches (a clone
// replaces the host name, never the port). session
// is the player's viewer session id: the steering URL carries a token made from it (playerToken), by which
// the steering server tells the players of one edge apart when it moves some of them to another, and this
// edge as the player's home (a player keeps SERVER-URI when it changes pathways; the steering server
// rebalances a player only off its home, so never twice). extra, the storage pathway's variants and
// renditions (nil for none), goes at the end.
func addSteering(b []byte, st *Steering, path stream.Path, host string, tls bool, session, initial string, extra []byte) []byte {
	port := "80"
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = p
	} else if tls {
		port = "443"
	}
	if _, err := strconv.Atoi(port); err != nil {
		port = ""
	}
	var q []string
	if port != "" {
		q = append(q, "port="+url.QueryEscape(port))
	}
	if session != "" {
		// the player's token, and this edge as its home: the one a rebalance may move it off
		q = append(q, "player="+playerToken(session), "home="+url.QueryEscape(st.Pathway))
	}
	server := st.ServerURI + "/" + path.String()
	if len(q) > 0 {
		server += "?" + strings.Join(q, "&")
	}
	pathway := strconv.Quote(st.Pathway)
	var out bytes.Buffer
	out.Grow(len(b) + 256 + len(extra))
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	tagged := false
	for sc.Scan() {
		line := sc.Text()
		if !tagged && line != "#EXTM3U" && !strings.HasPrefix(line, "#EXT-X-VERSION:") {
			// after the header lines, before the first that describes the stream
			out.WriteString(`#EXT-X-CONTENT-STEERING:SERVER-URI="` + server + `",PATHWAY-ID=` + strconv.Quote(initial) + "\n")
			tagged = true
		}
		if strings.HasPrefix(line, "#EXT-X-STREAM-INF:") {
			line += ",PATHWAY-ID=" + pathway
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	out.Write(extra)
	return out.Bytes()
}

// playerToken is the token of the player with viewer session id session in its steering URL: 16 hex
// digits of a SHA-256 of the id. The same for one player on every edge (its URLs keep the id its first
// edge gave it, and hls.js keeps SERVER-URI's query in every steering request), while the id itself, which
// counts the player as a viewer, does not leave the edges.
func playerToken(session string) string {
	sum := sha256.Sum256([]byte(session))
	return hex.EncodeToString(sum[:8])
}
