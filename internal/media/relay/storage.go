package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// The storage pathway: the storage push's copy of a stream (in a bucket, or a CDN in front of it) is a
// pathway of its own in the multivariant playlists an edge serves, so that the steering server can send
// players there when no edge can serve them, and players whose edges all fail go there by themselves.
// The edge reads the stream's multivariant playlist from storage, as a player would, and adds its
// variants and renditions with absolute URIs, the storage pathway's PATHWAY-ID and group IDs of their
// own (a pathway's variants must refer to its own renditions). The segmenter names objects the same on
// the node and in storage, so a player moving between an edge and storage goes on with the next part.

const (
	// storageRefresh is how long what was read of a stream's storage playlist is used before it is read
	// again (in the background: players are served what was read meanwhile); storageRetry the same after
	// a failure (no storage pathway meanwhile).
	storageRefresh = 10 * time.Second
	storageRetry   = 5 * time.Second
	// storageWait bounds how long a player's first multivariant request waits for storage to answer; the
	// read goes on (storageTimeout at most) for the players after it.
	storageWait    = time.Second
	storageTimeout = 3 * time.Second
	// maxStoragePlaylist bounds the size of a multivariant playlist read from storage.
	maxStoragePlaylist = 256 << 10
	// maxStorageStreams bounds the streams remembered; past it the entries not used for a minute go.
	maxStorageStreams = 4096
)

// storageVariants remembers, per stream, the variants its storage playlist adds (see variants).
type storageVariants struct {
	mu      sync.Mutex
	streams map[string]*storageEntry // by the storage playlist's URL
}

type storageEntry struct {
	lines   []byte        // the storage pathway's lines for the multivariant playlist; nil: none
	fetched time.Time     // when the last read ended (zero: never)
	used    time.Time     // when a player last asked
	reading chan struct{} // closed when the read under way ends; nil when none is
}

// variants returns the lines that add st's storage pathway for path to a multivariant playlist, or nil
// when storage has no playable copy of the stream (or has not answered yet). It reads the storage
// playlist with client when it has none or what it has is old: the first player of a stream waits for
// that (storageWait at most), the others are served what was read before.
func (v *storageVariants) variants(ctx context.Context, client *http.Client, st *Steering, path stream.Path, log func(msg string, args ...any)) []byte {
	src := st.Storage + "/" + path.String() + "/" + st.StoragePlaylist
	now := time.Now()
	v.mu.Lock()
	if v.streams == nil {
		v.streams = map[string]*storageEntry{}
	}
	e := v.streams[src]
	if e == nil {
		if len(v.streams) >= maxStorageStreams {
			for k, o := range v.streams {
				if o.reading == nil && now.Sub(o.used) > time.Minute {
					delete(v.streams, k)
				}
			}
		}
		e = &storageEntry{}
		v.streams[src] = e
	}
	e.used = now
	age := storageRefresh
	if e.lines == nil {
		age = storageRetry
	}
	if e.reading == nil && (e.fetched.IsZero() || now.Sub(e.fetched) >= age) {
		done := make(chan struct{})
		e.reading = done
		go func() {
			lines, err := readStoragePlaylist(client, src, st.StoragePathway)
			v.mu.Lock()
			// logged when it starts failing, not at every retry of a stream that is not pushed
			report := err != nil && (e.fetched.IsZero() || e.lines != nil)
			e.lines, e.fetched, e.reading = lines, time.Now(), nil
			v.mu.Unlock()
			close(done)
			if report {
				log("no storage pathway for the stream", "stream", path.String(), "playlist", src, "cause", err)
			}
		}()
	}
	reading, lines := e.reading, e.lines
	if reading == nil || !e.fetched.IsZero() {
		v.mu.Unlock()
		return lines // what was read before (the usual case): nobody waits
	}
	v.mu.Unlock()
	t := time.NewTimer(storageWait)
	defer t.Stop()
	select {
	case <-reading:
	case <-t.C:
	case <-ctx.Done():
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return e.lines
}

// readStoragePlaylist reads the multivariant playlist at src and returns its variants and renditions as
// the pathway named pathway (see storagePathway).
func readStoragePlaylist(client *http.Client, src, pathway string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return nil, fmt.Errorf("storage answered %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxStoragePlaylist+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxStoragePlaylist {
		return nil, fmt.Errorf("the playlist is larger than %d bytes", maxStoragePlaylist)
	}
	return storagePathway(body, res.Request.URL, pathway)
}

// errNoVariant is storagePathway's error for a playlist that lists no variant.
var errNoVariant = errors.New("not a multivariant playlist with a variant")

// storagePathway turns the multivariant playlist body, read at base, into lines to add to another
// multivariant playlist as the pathway named pathway: its renditions (EXT-X-MEDIA) and variants
// (EXT-X-STREAM-INF) with their URIs made absolute (http or https only), PATHWAY-ID set, and every group
// ID suffixed with "-<pathway>" so that the pathway's variants refer to its own renditions. Everything
// else (header tags, I-frame playlists, session data, another steering tag) is left out.
func storagePathway(body []byte, base *url.URL, pathway string) ([]byte, error) {
	if !bytes.HasPrefix(body, []byte("#EXTM3U")) {
		return nil, errors.New("not a playlist (no #EXTM3U)")
	}
	resolve := func(ref string) (string, error) {
		u, err := base.Parse(strings.TrimSpace(ref))
		if err != nil {
			return "", fmt.Errorf("URI %q: %w", clipText(ref), err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return "", fmt.Errorf("URI %q is not http(s)", clipText(ref))
		}
		u.Fragment = ""
		return u.String(), nil
	}
	group := func(id string) string { return id + "-" + pathway }
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), maxStoragePlaylist)
	variants := 0
	inf := "" // a variant's EXT-X-STREAM-INF line, waiting for its URI line
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA:"):
			attrs, err := rewriteAttrs(line[len("#EXT-X-MEDIA:"):], func(name, value string) (string, error) {
				switch name {
				case "GROUP-ID":
					return quote(group(unquote(value))), nil
				case "URI":
					u, err := resolve(unquote(value))
					return quote(u), err
				}
				return value, nil
			})
			if err != nil {
				return nil, err
			}
			out.WriteString("#EXT-X-MEDIA:" + attrs + "\n")
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			attrs, err := rewriteAttrs(line[len("#EXT-X-STREAM-INF:"):], func(name, value string) (string, error) {
				switch name {
				case "AUDIO", "VIDEO", "SUBTITLES":
					return quote(group(unquote(value))), nil
				case "CLOSED-CAPTIONS":
					if strings.HasPrefix(value, `"`) {
						return quote(group(unquote(value))), nil
					}
				case "PATHWAY-ID":
					return "", nil // replaced below
				}
				return value, nil
			})
			if err != nil {
				return nil, err
			}
			inf = "#EXT-X-STREAM-INF:" + attrs + ",PATHWAY-ID=" + quote(pathway) + "\n"
		case inf != "" && line != "" && !strings.HasPrefix(line, "#"):
			u, err := resolve(line)
			if err != nil {
				return nil, err
			}
			out.WriteString(inf + u + "\n")
			inf = ""
			variants++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if variants == 0 {
		return nil, errNoVariant
	}
	return out.Bytes(), nil
}

// rewriteAttrs rewrites an attribute list (RFC 8216 §4.2: NAME=VALUE pairs separated by commas, a value
// a quoted string without escapes or a token without commas): edit gets each name and raw value (quotes
// included) and returns the value to write, or "" to leave the attribute out.
func rewriteAttrs(list string, edit func(name, value string) (string, error)) (string, error) {
	var out []string
	for rest := list; rest != ""; {
		name, after, ok := strings.Cut(rest, "=")
		if !ok || name == "" || strings.ContainsAny(name, `",`) {
			return "", fmt.Errorf("attribute list %q: no NAME=VALUE at %q", clipText(list), clipText(rest))
		}
		var value string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				return "", fmt.Errorf("attribute list %q: a quoted string does not end", clipText(list))
			}
			value, rest = after[:end+2], after[end+2:]
			if rest != "" && rest[0] != ',' {
				return "", fmt.Errorf("attribute list %q: no comma after %s", clipText(list), name)
			}
			rest = strings.TrimPrefix(rest, ",")
		} else {
			value, rest, _ = strings.Cut(after, ",")
		}
		v, err := edit(name, value)
		if err != nil {
			return "", err
		}
		if v != "" {
			out = append(out, name+"="+v)
		}
	}
	return strings.Join(out, ","), nil
}

// quote makes s a quoted string (it holds no quote: it comes from one, or is a URL, which escapes them).
func quote(s string) string { return `"` + s + `"` }

// unquote strips a quoted string's quotes.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// clipText shortens s for an error message.
func clipText(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
