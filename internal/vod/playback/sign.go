package playback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sign returns the query parameters that let a private video's URLs play until expires:
// exp=<unix seconds>&sig=<unpadded base64url of HMAC-SHA256(secret, "vod\x00"+id+"\x00"+exp)>.
// The signature covers the id, not the path, so one signature opens every file of the video (the
// handler appends it to the URIs of the playlists it serves).
func Sign(secret []byte, id string, expires time.Time) url.Values {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return url.Values{"exp": {exp}, "sig": {base64.RawURLEncoding.EncodeToString(mac(secret, id, exp))}}
}

func mac(secret []byte, id, exp string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("vod\x00" + id + "\x00" + exp))
	return m.Sum(nil)
}

// URLs returns the playback URLs of video id below base (scheme, host and an optional path prefix), with
// q (from Sign, or nil for a public video) as their query. storyboard is the WebVTT track, which names
// the storyboard image.
func URLs(base, id string, q url.Values) (hls, mp4, poster, storyboard string) {
	root := strings.TrimRight(base, "/") + "/vod/" + url.PathEscape(id)
	query := ""
	if len(q) > 0 {
		query = "?" + q.Encode()
	}
	return root + "/index.m3u8" + query, root + ".mp4" + query, root + "/poster.jpg" + query, root + "/storyboard.vtt" + query
}

// authorize lets a public or unlisted video through, and a private one when the request carries a valid,
// unexpired signature for id, the id of the request's path. For a private video it returns the query to append to the URIs of the
// text files served (so that players can follow them).
func (h *Handler) authorize(r *http.Request, id string, m Media) (string, error) {
	if m.Visibility == Public || m.Visibility == Unlisted {
		return "", nil
	}
	q := r.URL.Query()
	exps, sigs := q["exp"], q["sig"]
	if len(exps) == 0 || len(sigs) == 0 {
		return "", errSigRequired
	}
	if len(exps) > 1 || len(sigs) > 1 || len(h.Secret) == 0 {
		return "", errBadSignature
	}
	exp, sig := exps[0], sigs[0]
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(h.Secret, id, exp)) {
		return "", errBadSignature
	}
	// Checked only once the signature holds, so "expired" is never said of a forged URL.
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", errBadSignature
	}
	if !h.now().Before(time.Unix(unix, 0)) {
		return "", errExpired
	}
	return url.Values{"exp": {exp}, "sig": {sig}}.Encode(), nil
}
