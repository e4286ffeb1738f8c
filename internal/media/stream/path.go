// Package stream carries each published stream from its publisher to its readers in-process, and keeps
// the registry of live streams on a node.
package stream

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// MaxNameLen is the longest app or stream name accepted anywhere in nagare.
const MaxNameLen = 128

// ErrInvalidPath is returned for any stream path that is not exactly "<app>/<name>" with both parts
// made of [A-Za-z0-9_-]{1,128}. Nothing that fails this check ever reaches a file name or an object key.
var ErrInvalidPath = errors.New("invalid stream path")

// Path names a stream: <app>/<name>, e.g. live/stream1.
type Path struct {
	App  string
	Name string
}

func (p Path) String() string { return p.App + "/" + p.Name }

// MatchesAny reports whether p is selected by one of patterns: "app/stream", "app/*" or "*". No
// pattern selects every path.
func (p Path) MatchesAny(patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	name := p.String()
	for _, pat := range patterns {
		if nodemodel.StreamMatches(pat, name) {
			return true
		}
	}
	return false
}

// ValidName reports whether s is a legal app or stream name.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ParsePath parses "<app>/<name>" (a leading slash is allowed). It never unescapes: a request whose
// path holds %2e%2e or %00 arrives here still escaped and is refused.
func ParsePath(s string) (Path, error) {
	s = strings.TrimPrefix(s, "/")
	app, name, ok := strings.Cut(s, "/")
	if !ok {
		return Path{}, fmt.Errorf("%w: want <app>/<stream>", ErrInvalidPath)
	}
	if !ValidName(app) {
		return Path{}, fmt.Errorf("%w: app name must match [A-Za-z0-9_-]{1,128}", ErrInvalidPath)
	}
	if !ValidName(name) {
		return Path{}, fmt.Errorf("%w: stream name must match [A-Za-z0-9_-]{1,128}", ErrInvalidPath)
	}
	return Path{App: app, Name: name}, nil
}

// ErrBadFile is returned for a file name outside [A-Za-z0-9_.-]{1,128} or starting with a dot.
var ErrBadFile = errors.New("bad file name: want [A-Za-z0-9_.-]{1,128}")

// SplitRequestPath parses /<app>/<stream>/<file> without unescaping anything.
func SplitRequestPath(p string) (Path, string, error) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return Path{}, "", ErrInvalidPath
	}
	sp, err := ParsePath(p[:i])
	if err != nil {
		return sp, "", err
	}
	file := p[i+1:]
	if len(file) == 0 || len(file) > 128 || strings.HasPrefix(file, ".") {
		return sp, "", ErrBadFile
	}
	for j := 0; j < len(file); j++ {
		c := file[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return sp, "", ErrBadFile
		}
	}
	return sp, file, nil
}
