package segmenter

import "errors"

var (
	// ErrEnded is returned by waits when the stream ended before what was waited for existed.
	ErrEnded = errors.New("stream ended")
	// ErrNotFound is returned for a name that is not (or no longer) an object of the segmenter.
	ErrNotFound = errors.New("no such object")
	// ErrNoTracks is returned by New when no track can be carried in the segments.
	ErrNoTracks = errors.New("no track can be carried in HLS segments (want H.264, H.265, AAC or Opus)")
	// ErrFormat is returned by New for a Config.Format it does not know or cannot combine with the rest
	// of the configuration.
	ErrFormat = errors.New("invalid segment format")
	// ErrTooLarge is returned by Write when a segment would exceed Config.SegmentMaxSize.
	ErrTooLarge = errors.New("segment exceeds the maximum size")
)
