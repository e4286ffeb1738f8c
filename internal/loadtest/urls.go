package loadtest

import (
	"net/url"
	"strconv"
	"strings"
)

// A player resolves a URI for every part and builds a URL for every blocking reload, ten times a second:
// these do it without url.Parse, url.Values and their allocations where the result is the same.

// resolve is base.Parse(ref), made without parsing when ref is a plain file name with or without a
// query (as a part's or a segment's URI usually is: the node adds its session's) and base's path needs no
// cleaning.
func resolve(base *url.URL, ref string) (*url.URL, error) {
	dir := base.Path[:strings.LastIndexByte(base.Path, '/')+1]
	name, query, hasQuery := strings.Cut(ref, "?")
	if !plainName(name) || (hasQuery && !plainQuery(query)) ||
		base.RawPath != "" || base.Opaque != "" || !strings.HasPrefix(dir, "/") || strings.Contains(dir, "/.") {
		return base.Parse(ref)
	}
	return &url.URL{Scheme: base.Scheme, User: base.User, Host: base.Host, Path: dir + name, RawQuery: query}, nil
}

// plainName reports whether ref is a relative reference made of unreserved characters only (RFC 3986
// §2.3) and is no dot segment: resolved against a base, it replaces the base's last path segment, as is.
func plainName(ref string) bool {
	if ref == "" || ref == "." || ref == ".." {
		return false
	}
	for i := 0; i < len(ref); i++ {
		switch c := ref[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// plainQuery reports whether url.Parse keeps q, a reference's query, as it is: not empty, printable
// ASCII, no fragment.
func plainQuery(q string) bool {
	if q == "" {
		return false
	}
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// reloads makes the URLs of a media playlist's blocking reloads: its query with _HLS_msn and _HLS_part
// set, encoded as url.Values.Encode encodes it (keys sorted), from pieces computed once per media URL.
type reloads struct {
	media                  *url.URL
	before, between, after string // the encoded pairs of the other keys, around _HLS_msn and _HLS_part
	buf                    []byte
}

// url is the blocking reload of media for part `part` of segment msn.
func (r *reloads) url(media *url.URL, msn uint64, part int) *url.URL {
	if r.media != media {
		r.prepare(media)
	}
	b := r.buf[:0]
	if r.before != "" {
		b = append(append(b, r.before...), '&')
	}
	b = strconv.AppendUint(append(b, "_HLS_msn="...), msn, 10)
	if r.between != "" {
		b = append(append(b, '&'), r.between...)
	}
	b = strconv.AppendInt(append(b, "&_HLS_part="...), int64(part), 10)
	if r.after != "" {
		b = append(append(b, '&'), r.after...)
	}
	r.buf = b
	u := *media
	u.RawQuery = string(b)
	return &u
}

func (r *reloads) prepare(media *url.URL) {
	q := media.Query()
	q.Del("_HLS_msn")
	q.Del("_HLS_part")
	before, between, after := url.Values{}, url.Values{}, url.Values{}
	for k, vs := range q {
		switch {
		case k < "_HLS_msn":
			before[k] = vs
		case k < "_HLS_part":
			between[k] = vs
		default:
			after[k] = vs
		}
	}
	*r = reloads{media: media, buf: r.buf, before: before.Encode(), between: between.Encode(), after: after.Encode()}
}
