package library

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// videoJSON is the console's Video (docs/web.md, "VOD library"), plus the owner, which only the console sees.
type videoJSON struct {
	ID              string        `json:"id"`
	Owner           string        `json:"owner"`
	Title           string        `json:"title"`
	Description     string        `json:"description"`
	Visibility      string        `json:"visibility"`
	Status          string        `json:"status"`
	Failure         string        `json:"failure"`
	Progress        int32         `json:"progress"`
	DurationSeconds float64       `json:"durationSeconds"`
	Width           int32         `json:"width"`
	Height          int32         `json:"height"`
	Size            int64         `json:"size"`
	FileName        string        `json:"fileName"`
	CreatedAt       string        `json:"createdAt"`
	Stream          string        `json:"stream,omitempty"`
	Playback        *playbackJSON `json:"playback,omitempty"`
}

// publicVideoJSON is the public site's Video: what a viewer may know, never who owns it, the uploaded
// file's name or anything else of its making. A separate type, so that a field added to the console's
// Video never leaks here by accident.
type publicVideoJSON struct {
	ID              string        `json:"id"`
	Title           string        `json:"title"`
	Description     string        `json:"description"`
	Visibility      string        `json:"visibility"`
	Status          string        `json:"status"`
	DurationSeconds float64       `json:"durationSeconds"`
	Width           int32         `json:"width"`
	Height          int32         `json:"height"`
	CreatedAt       string        `json:"createdAt"`
	Stream          string        `json:"stream,omitempty"`
	Playback        *playbackJSON `json:"playback,omitempty"`
}

// publicItemJSON is a video in the public site's list.
type publicItemJSON struct {
	ID              string  `json:"id"`
	Title           string  `json:"title"`
	DurationSeconds float64 `json:"durationSeconds"`
	CreatedAt       string  `json:"createdAt"`
	Poster          string  `json:"poster"`
}

// playbackJSON are a ready video's URLs on the VOD service; expiresAt is set (RFC 3339) when they are
// signed, "" when they do not expire.
type playbackJSON struct {
	HLS        string `json:"hls,omitempty"`
	MP4        string `json:"mp4,omitempty"`
	Poster     string `json:"poster,omitempty"`
	Storyboard string `json:"storyboard,omitempty"`
	ExpiresAt  string `json:"expiresAt"`
}

func toVideoJSON(v *vodv1.Video, p *vodv1.Playback) videoJSON {
	return videoJSON{
		ID: v.GetId(), Owner: v.GetOwner(), Title: v.GetTitle(), Description: v.GetDescription(),
		Visibility: visibilityWord(v.GetVisibility()), Status: statusWord(v.GetStatus()), Failure: v.GetFailure(),
		Progress: v.GetProgress(), DurationSeconds: v.GetDurationSeconds(), Width: v.GetWidth(), Height: v.GetHeight(),
		Size: v.GetSize(), FileName: v.GetFileName(), CreatedAt: stamp(v.GetCreatedAt()), Stream: v.GetStream(),
		Playback: toPlaybackJSON(p),
	}
}

func toPublicVideoJSON(v *vodv1.Video, p *vodv1.Playback) publicVideoJSON {
	return publicVideoJSON{
		ID: v.GetId(), Title: v.GetTitle(), Description: v.GetDescription(),
		Visibility: visibilityWord(v.GetVisibility()), Status: statusWord(v.GetStatus()),
		DurationSeconds: v.GetDurationSeconds(), Width: v.GetWidth(), Height: v.GetHeight(),
		CreatedAt: stamp(v.GetCreatedAt()), Stream: v.GetStream(), Playback: toPlaybackJSON(p),
	}
}

func toPlaybackJSON(p *vodv1.Playback) *playbackJSON {
	if p == nil {
		return nil
	}
	return &playbackJSON{HLS: p.GetHls(), MP4: p.GetMp4(), Poster: p.GetPoster(), Storyboard: p.GetStoryboard(),
		ExpiresAt: stamp(p.GetExpiresAt())}
}

// stamp is a timestamp in RFC 3339 (UTC), "" when there is none.
func stamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

var visibilityWords = map[vodv1.Visibility]string{
	vodv1.Visibility_VISIBILITY_PRIVATE:  "private",
	vodv1.Visibility_VISIBILITY_UNLISTED: "unlisted",
	vodv1.Visibility_VISIBILITY_PUBLIC:   "public",
}

// visibilityWord is the JSON word of a visibility; unspecified is private (what the service makes of it).
func visibilityWord(v vodv1.Visibility) string {
	if w, ok := visibilityWords[v]; ok {
		return w
	}
	return "private"
}

// parseVisibility reads a visibility word.
func parseVisibility(word string) (vodv1.Visibility, bool) {
	for v, w := range visibilityWords {
		if w == word {
			return v, true
		}
	}
	return vodv1.Visibility_VISIBILITY_UNSPECIFIED, false
}

func statusWord(s vodv1.Status) string {
	switch s {
	case vodv1.Status_STATUS_UPLOADING:
		return "uploading"
	case vodv1.Status_STATUS_PROCESSING:
		return "processing"
	case vodv1.Status_STATUS_READY:
		return "ready"
	case vodv1.Status_STATUS_FAILED:
		return "failed"
	}
	return "unknown"
}
