package bench

import "errors"

// Errors of `nagare bench`.
var (
	errUsage       = errors.New("usage")
	errNoVideo     = errors.New("the clip has no H.264 keyframe")
	errNotPlaylist = errors.New("not an HLS playlist")
	errWrkOutput   = errors.New("unrecognized wrk output")
)
