package transcode

import "errors"

var (
	// ErrNotVideo is returned by Probe and Process for a file that is not a video ffprobe can read: no
	// video stream, a still image, no duration, or not a media file at all. The error says which.
	ErrNotVideo = errors.New("not a video")
	// ErrIncomplete is returned by Process when ffmpeg ended without error but transcoded clearly less
	// than the source's duration: a truncated or corrupt file.
	ErrIncomplete = errors.New("transcoding ended early (truncated or corrupt file)")
	// ErrStalled is returned by Process when ffmpeg made no progress for Options.StallTimeout.
	ErrStalled = errors.New("ffmpeg made no progress")
)
