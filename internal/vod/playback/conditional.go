package playback

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/objstore"
)

// validators are a representation's ETag (strong, quoted) and modification time (zero = unknown).
type validators struct {
	etag    string
	modTime time.Time
}

// objectValidators derives a strong ETag from the key, size and modification time: the stores replace an
// object whole (Local renames, S3 overwrites), so the same three mean the same bytes.
func objectValidators(key string, info objstore.ObjectInfo) validators {
	sum := sha256.Sum256([]byte(key + "\x00" + strconv.FormatInt(info.Size, 10) + "\x00" + strconv.FormatInt(info.ModTime.UnixNano(), 10)))
	return validators{etag: `"` + hex.EncodeToString(sum[:16]) + `"`, modTime: info.ModTime}
}

// bodyValidators derives a strong ETag from a body built in memory.
func bodyValidators(body []byte, modTime time.Time) validators {
	sum := sha256.Sum256(body)
	return validators{etag: `"` + hex.EncodeToString(sum[:16]) + `"`, modTime: modTime}
}

// setHeaders sets ETag and Last-Modified.
func (v validators) setHeaders(h http.Header) {
	h.Set("ETag", v.etag)
	if !v.modTime.IsZero() {
		h.Set("Last-Modified", v.modTime.UTC().Format(http.TimeFormat))
	}
}

// modifiedAfter compares at the one-second resolution of HTTP dates.
func (v validators) modifiedAfter(t time.Time) bool { return v.modTime.Truncate(time.Second).After(t) }

// preconditions evaluates the conditional headers of a GET or HEAD in the order of RFC 9110 §13.2.2 and
// returns 412, 304, or 0 to go on.
func preconditions(r *http.Request, v validators) int {
	if im := r.Header.Values("If-Match"); len(im) > 0 {
		if !etagListMatches(strings.Join(im, ","), v.etag, false) {
			return http.StatusPreconditionFailed
		}
	} else if ius := r.Header.Get("If-Unmodified-Since"); ius != "" && !v.modTime.IsZero() {
		if t, err := http.ParseTime(ius); err == nil && v.modifiedAfter(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		if etagListMatches(strings.Join(inm, ","), v.etag, true) {
			return http.StatusNotModified
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" && !v.modTime.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !v.modifiedAfter(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// ifRange reports whether the Range header applies: no If-Range, or one naming the current representation
// by its strong ETag or its exact Last-Modified date (RFC 9110 §13.1.5). A weak or stale validator makes
// the answer the whole representation.
func ifRange(r *http.Request, v validators) bool {
	ir := strings.Trim(r.Header.Get("If-Range"), " \t")
	if ir == "" {
		return true
	}
	if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
		tag, rest, ok := scanETag(ir)
		return ok && rest == "" && etagEqual(tag, v.etag, false)
	}
	t, err := http.ParseTime(ir)
	return err == nil && !v.modTime.IsZero() && v.modTime.Truncate(time.Second).Equal(t)
}

// etagListMatches reports whether the If-Match or If-None-Match value list ("*" or entity-tags separated
// by commas) holds etag, by the weak or the strong comparison. A malformed list matches nothing after
// the fault.
func etagListMatches(list, etag string, weak bool) bool {
	list = strings.Trim(list, " \t")
	if list == "*" {
		return true
	}
	for {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			return false
		}
		tag, rest, ok := scanETag(list)
		if !ok {
			return false
		}
		if etagEqual(tag, etag, weak) {
			return true
		}
		list = strings.TrimLeft(rest, " \t")
		if list != "" && list[0] != ',' {
			return false
		}
	}
}

// scanETag reads the entity-tag (W/"..." or "...") s starts with.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) < start+2 || s[start] != '"' {
		return "", "", false
	}
	for i := start + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], s[i+1:], true
		case c == 0x21 || (c >= 0x23 && c != 0x7f):
		default:
			return "", "", false
		}
	}
	return "", "", false
}

func etagEqual(a, b string, weak bool) bool {
	if weak {
		return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
	}
	return a == b && !strings.HasPrefix(a, "W/")
}
