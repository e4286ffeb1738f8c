package nodeapi

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// MaxNameLen is the longest app name, stream name, node id or label accepted.
const MaxNameLen = 128

// ValidateStreamName checks that s is "<app>/<stream>" with both parts of [A-Za-z0-9_-]{1,128}, so that
// nothing else ever reaches a path, a key or a log line.
func ValidateStreamName(s string) error { return invalid(checkStream(s)) }

// ValidateRole checks that role is origin, relay, edge or transcoder.
func ValidateRole(role string) error { return invalid(checkRole(role)) }

// ValidateNodeID checks a node id: [A-Za-z0-9_.-]{1,128}, not starting with a dot.
func ValidateNodeID(id string) error { return invalid(checkID(id)) }

// Validate checks a registration.
func (r RegisterRequest) Validate() error {
	if r.ID != "" {
		if err := checkID(r.ID); err != nil {
			return invalid(err)
		}
	}
	if err := checkRole(string(r.Role)); err != nil {
		return invalid(err)
	}
	if r.Version == "" {
		return invalid(errors.New("version is required"))
	}
	if len(r.Version) > 64 || strings.IndexFunc(r.Version, func(c rune) bool { return c <= ' ' || c > '~' }) >= 0 {
		return invalid(fmt.Errorf("version %s: want 1 to 64 printable ASCII characters without spaces", clip(r.Version)))
	}
	for _, l := range []struct{ key, v string }{{"group", r.Group}, {"region", r.Region}, {"zone", r.Zone}} {
		if l.v != "" && (!isName(l.v, true) || l.v[0] == '.') {
			return invalid(fmt.Errorf("%s %s: want [A-Za-z0-9_.-]{1,128}", l.key, clip(l.v)))
		}
	}
	for _, a := range []struct{ key, v string }{
		{"addresses.rtmp", r.Addresses.RTMP}, {"addresses.srt", r.Addresses.SRT}, {"addresses.http", r.Addresses.HTTP},
	} {
		if err := checkHostPort(a.v); err != nil {
			return invalid(fmt.Errorf("%s %s: %w", a.key, clip(a.v), err))
		}
	}
	return nil
}

// Validate checks a report.
func (r ReportRequest) Validate() error {
	if err := checkID(r.ID); err != nil {
		return invalid(err)
	}
	s := r.Stats
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"connections", float64(s.Connections)}, {"publishers", float64(s.Publishers)},
		{"subscribers", float64(s.Subscribers)}, {"cpuPercent", s.CPUPercent},
		{"memoryUsedPercent", s.MemoryUsedPercent}, {"uptimeSeconds", s.UptimeSeconds},
	} {
		if !(f.v >= 0) { // also NaN, which JSON cannot carry but a Go caller can
			return invalid(fmt.Errorf("stats.%s: must not be negative", f.key))
		}
	}
	seen := make(map[string]struct{}, len(r.Streams))
	for i, st := range r.Streams {
		if err := checkStream(st.Name); err != nil {
			return invalid(fmt.Errorf("streams[%d]: %w", i, err))
		}
		if _, dup := seen[st.Name]; dup {
			return invalid(fmt.Errorf("streams[%d]: stream %q listed twice", i, st.Name))
		}
		seen[st.Name] = struct{}{}
		if err := checkProtocol(st.Protocol); err != nil {
			return invalid(fmt.Errorf("streams[%d]: %w", i, err))
		}
		if err := checkStreamDetail(st); err != nil {
			return invalid(fmt.Errorf("streams[%d].%w", i, err))
		}
	}
	return nil
}

// MaxRenditions bounds the renditions a report names for one stream.
const MaxRenditions = 32

// maxCodecsLen bounds a stream's codecs string: a few RFC 6381 codecs.
const maxCodecsLen = 128

// checkStreamDetail checks the figures of a reported stream; the error starts with the field's name.
func checkStreamDetail(st nodemodel.StreamLoad) error {
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"subscribers", int64(st.Subscribers)}, {"width", int64(st.Width)}, {"height", int64(st.Height)},
		{"bitrate", st.Bitrate}, {"hlsViewers", int64(st.HLSViewers)}, {"webrtcViewers", int64(st.WebRTCViewers)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%s: must not be negative", f.key)
		}
	}
	if len(st.Codecs) > maxCodecsLen || strings.IndexFunc(st.Codecs, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ',' || c == '_' || c == '-')
	}) >= 0 {
		return fmt.Errorf("codecs %s: want RFC 6381 codecs, comma-separated, of at most %d bytes", clip(st.Codecs), maxCodecsLen)
	}
	if len(st.Renditions) > MaxRenditions {
		return fmt.Errorf("renditions: at most %d, not %d", MaxRenditions, len(st.Renditions))
	}
	for j, r := range st.Renditions {
		if err := checkStream(r); err != nil {
			return fmt.Errorf("renditions[%d]: %w", j, err)
		}
	}
	return nil
}

// Validate checks a ladder request.
func (r LadderRequest) Validate() error {
	if err := checkID(r.ID); err != nil {
		return invalid(err)
	}
	return invalid(checkStream(r.Stream))
}

// Validate checks an origin request.
func (r OriginRequest) Validate() error {
	if err := checkID(r.ID); err != nil {
		return invalid(err)
	}
	return invalid(checkStream(r.Stream))
}

// Validate checks a parent request.
func (r ParentRequest) Validate() error { return invalid(checkID(r.ID)) }

// Validate checks a stream event.
func (e StreamEvent) Validate() error {
	if err := checkID(e.ID); err != nil {
		return invalid(err)
	}
	if err := checkStream(e.Stream); err != nil {
		return invalid(err)
	}
	switch e.Action {
	case ActionPublish, ActionUnpublish:
	case "":
		return invalid(errors.New("action is required"))
	default:
		return invalid(fmt.Errorf("action %s: must be publish or unpublish", clip(e.Action)))
	}
	return invalid(checkProtocol(e.Protocol))
}

// invalid marks a problem as ErrInvalid (nil stays nil).
func invalid(problem error) error {
	if problem == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, problem)
}

func checkStream(s string) error {
	app, name, ok := strings.Cut(s, "/")
	if !ok || !isName(app, false) || !isName(name, false) {
		return fmt.Errorf("stream %s: want <app>/<stream>, each part of [A-Za-z0-9_-]{1,128}", clip(s))
	}
	return nil
}

func checkRole(role string) error {
	switch {
	case nodemodel.Role(role).Valid():
		return nil
	case role == "":
		return errors.New("role is required")
	}
	return fmt.Errorf("role %s: must be origin, relay, edge or transcoder", clip(role))
}

func checkID(id string) error {
	if id == "" {
		return errors.New("id is required")
	}
	if !isName(id, true) || id[0] == '.' {
		return fmt.Errorf("id %s: want [A-Za-z0-9_.-]{1,128}, not starting with a dot", clip(id))
	}
	return nil
}

func checkProtocol(p string) error {
	// a stream a transcoder node gives its origin is named by the protocol it was published with there
	if p != "" && (len(p) > 32 || !isName(strings.TrimPrefix(p, viaTranscoder), false)) {
		return fmt.Errorf("protocol %s: want [A-Za-z0-9_-]{0,32}, or transcoder/ and one", clip(p))
	}
	return nil
}

func checkHostPort(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 255 {
		return errors.New("longer than 255 bytes")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" || strings.IndexFunc(host, func(c rune) bool { return c <= ' ' || c > '~' || c == '/' }) >= 0 {
		return errors.New("want a host that clients can reach")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("want a port from 1 to 65535")
	}
	return nil
}

// isName reports whether s is 1 to MaxNameLen bytes of [A-Za-z0-9_-], and dots when dot is set.
func isName(s string, dot bool) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '.' && dot:
		default:
			return false
		}
	}
	return true
}

// clipLen is the most of a client's value that goes into an error message.
const clipLen = 40

// clip quotes s for an error message, cut short so that a hostile value cannot flood a response or a
// log line.
func clip(s string) string {
	if len(s) <= clipLen {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:clipLen]), len(s))
}

// cut shortens s, which the JSON decoder made from the body and holds no quotes to escape.
func cut(s string) string {
	if len(s) <= clipLen {
		return s
	}
	return s[:clipLen] + "…"
}
