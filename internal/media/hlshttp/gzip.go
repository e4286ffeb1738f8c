package hlshttp

import (
	"bytes"
	"compress/gzip"
	"hash/maphash"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/nagare-video/nagare/internal/httpenc"
)

// Playlists go out gzip-compressed to the clients that take it, as Apple asks of low-latency HLS servers
// ("Playlist compression"): a low-latency media playlist is reloaded by every viewer once a part (five
// times a second with parts of 200 ms, and once more for an audio rendition), and its lines differ little
// (1.6 kB of a live rendition's playlist compress to under 400 bytes). On a narrow link that is the
// difference between a low rendition playing and not: at 200 ms parts, a video and an audio playlist
// reloaded plainly take about 150 kbit/s, more than a phone's lowest rung.
//
// A playlist answered to many viewers is compressed once: compressed keeps the last bodies compressed,
// so the viewers of one version of a playlist (every viewer of a shared media playlist) share its bytes.

// gzipMin is the smallest body compressed: below it the gzip header and trailer (18 bytes) and the
// Content-Encoding and Vary headers eat what compression saves.
const gzipMin = 512

// gzipSlots is how many compressed bodies are kept: one or two per stream's live rendition, reused as
// playlists change.
const gzipSlots = 64

type gzipEntry struct {
	plain, gz []byte // never changed once stored
}

type gzipCache struct {
	slots [gzipSlots]atomic.Pointer[gzipEntry]
}

var (
	playlistGzip gzipCache
	gzipSeed     = maphash.MakeSeed()
)

// gzipWriters are reused: a gzip.Writer allocates its compressor's tables (hundreds of kB) when made.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return w
}}

// compressed returns body gzip-compressed: from the cache when the same body was compressed last in its
// slot, compressed now (and kept) otherwise.
func (c *gzipCache) compressed(body []byte) []byte {
	slot := &c.slots[maphash.Bytes(gzipSeed, body)%gzipSlots]
	if e := slot.Load(); e != nil && bytes.Equal(e.plain, body) {
		return e.gz
	}
	var b bytes.Buffer
	b.Grow(len(body)/3 + 64)
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&b)
	_, _ = w.Write(body) // a bytes.Buffer takes every byte
	_ = w.Close()
	gzipWriters.Put(w)
	gz := b.Bytes()
	slot.Store(&gzipEntry{plain: bytes.Clone(body), gz: gz})
	return gz
}

// encodePlaylist returns the body to send for a playlist of body to r: compressed (and the headers saying
// so set) when r takes gzip, the body is large enough and no byte range is asked for; body otherwise.
func encodePlaylist(h http.Header, r *http.Request, body []byte) []byte {
	// the cheapest test first: most requests that take no gzip (wrk, ffmpeg) send no Accept-Encoding
	if len(r.Header["Accept-Encoding"]) == 0 || len(body) < gzipMin || len(r.Header["Range"]) > 0 {
		return body
	}
	// whoever negotiates gets the answer marked as depending on it, compressed or not: a shared cache
	// must not hand a compressed playlist to a client that did not ask for one
	h["Vary"] = varyEncoding
	if !httpenc.AcceptsGzip(r) {
		return body
	}
	h["Content-Encoding"] = gzipEncoding
	return playlistGzip.compressed(body)
}

var (
	varyEncoding = []string{"Accept-Encoding"}
	gzipEncoding = []string{"gzip"}
)
