package playback

import (
	"path"
	"strings"

	"github.com/nagare-video/nagare/internal/objstore"
)

// Bounds of what a request path may name.
const (
	maxIDLen      = 64
	maxSubPathLen = 512 // bytes of the path below the playlist's directory
	maxSubDepth   = 8   // "/"-separated elements of it
)

// validID accepts [A-Za-z0-9_-]{1,64}.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// validSubPath accepts a relative path of at most maxSubDepth elements of [A-Za-z0-9._-], none empty,
// none starting with "." (which rules out "..", ".", and the store's dot-named sidecars), no longer than
// objstore.MaxElemLen. Packagers name HLS files this way; anything else (a leading or doubled "/", a
// backslash, a NUL, a percent sign or any non-ASCII byte) is refused.
func validSubPath(sub string) bool {
	if sub == "" || len(sub) > maxSubPathLen {
		return false
	}
	depth := 0
	for elem := range strings.SplitSeq(sub, "/") {
		depth++
		if depth > maxSubDepth || elem == "" || elem[0] == '.' || len(elem) > objstore.MaxElemLen {
			return false
		}
		for i := 0; i < len(elem); i++ {
			if c := elem[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
				return false
			}
		}
	}
	return true
}

// hlsKey resolves sub, a path below the directory of the playlist at playlistKey, to an object key. It
// refuses any sub that validSubPath refuses and, as a second line, any key that is invalid or not below
// that directory.
func hlsKey(playlistKey, sub string) (string, bool) {
	if !validSubPath(sub) {
		return "", false
	}
	dir := path.Dir(playlistKey)
	key := sub
	if dir != "." {
		key = dir + "/" + sub
	}
	if !objstore.ValidKey(key) || path.Clean(key) != key {
		return "", false
	}
	if dir != "." && !strings.HasPrefix(key, dir+"/") {
		return "", false
	}
	return key, true
}

// mimePlaylist is the media type of HLS playlists.
const mimePlaylist = "application/vnd.apple.mpegurl"

// contentTypes maps the extensions of VOD files to their media types.
var contentTypes = map[string]string{
	".m3u8": mimePlaylist,
	".m4s":  "video/iso.segment",
	".mp4":  "video/mp4",
	".m4v":  "video/mp4",
	".m4a":  "audio/mp4",
	".aac":  "audio/aac",
	".ts":   "video/mp2t",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".png":  "image/png",
	".webp": "image/webp",
	".vtt":  "text/vtt",
}

// contentTypeOf returns the media type of key by its extension, or def ("" = the type the store keeps).
func contentTypeOf(key, def string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return ct
	}
	return def
}

func isPlaylist(key string) bool { return strings.EqualFold(path.Ext(key), ".m3u8") }
