package selector

import "errors"

// Errors returned by the pick functions; callers test them with errors.Is.
var (
	// ErrNoOrigin means no origin of the group can take a publisher now.
	ErrNoOrigin = errors.New("no in-service origin available")
	// ErrNoEdge means neither an edge nor the origin carrying the stream can take a viewer now.
	ErrNoEdge = errors.New("no in-service edge or origin available for the stream")
	// ErrNoTranscoder means no transcoder node of the group can take a publisher now.
	ErrNoTranscoder = errors.New("no in-service transcoder available")
)
