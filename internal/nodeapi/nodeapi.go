// Package nodeapi is the node↔manager wire protocol: the JSON types, the HTTP client a node uses and the
// HTTP handler a manager serves; it is the only place where the data plane and the control plane meet.
package nodeapi

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// The endpoints, all POST with a JSON body and `Authorization: Bearer <cluster secret>`.
const (
	PathRegister = "/nodeapi/v1/register"
	PathReport   = "/nodeapi/v1/report"
	PathStream   = "/nodeapi/v1/stream"
	PathLadder   = "/nodeapi/v1/ladder"
	PathOrigin   = "/nodeapi/v1/origin"
	PathParent   = "/nodeapi/v1/parent"
)

// Stream event actions.
const (
	ActionPublish   = "publish"
	ActionUnpublish = "unpublish"
)

// MaxBodyBytes bounds every request body the handler reads.
const MaxBodyBytes = 64 << 10

// RegisterRequest is what a node sends when it starts, and again whenever the manager has forgotten it.
type RegisterRequest struct {
	// ID is set when a cloud controller launched the node with an id; empty lets the manager choose.
	ID        string              `json:"id,omitempty"`
	Role      nodemodel.Role      `json:"role"`
	Version   string              `json:"version"`
	Group     string              `json:"group,omitempty"`
	Region    string              `json:"region,omitempty"`
	Zone      string              `json:"zone,omitempty"`
	Addresses nodemodel.Addresses `json:"addresses"`
}

// RegisterResponse names the node and tells it how often to report.
type RegisterResponse struct {
	ID               string     `json:"id"`
	ReportIntervalMS int        `json:"reportIntervalMs"`
	Assignment       Assignment `json:"assignment"`
}

// ReportRequest is a node's periodic heartbeat. Streams is the complete list of its live streams: it is
// the source of truth when stream events were lost.
type ReportRequest struct {
	ID      string                 `json:"id"`
	Stats   nodemodel.Load         `json:"stats"`
	Streams []nodemodel.StreamLoad `json:"streams"`
	// Drain says the node is being stopped (PathDrain, Kubernetes' preStop) and asks the manager to drain
	// it: to send it no new viewers or publishers.
	Drain bool `json:"drain,omitempty"`
}

// ReportResponse carries the node's current assignment.
type ReportResponse struct {
	ReportIntervalMS int        `json:"reportIntervalMs"`
	Assignment       Assignment `json:"assignment"`
}

// StreamEvent tells the manager at once that a stream started or ended on a node.
type StreamEvent struct {
	ID       string `json:"id"` // the node
	Stream   string `json:"stream"`
	Action   string `json:"action"` // ActionPublish or ActionUnpublish
	Protocol string `json:"protocol,omitempty"`
}

// LadderRequest asks for the adaptive ladder provisioned for a stream (an origin that transcodes asks
// when the stream starts).
type LadderRequest struct {
	ID     string `json:"id"` // the node
	Stream string `json:"stream"`
}

// LadderResponse is the stream's provisioned ladder; Found is false when none was provisioned (the
// origin's own configuration applies).
type LadderResponse struct {
	Found        bool   `json:"found"`
	Rungs        []Rung `json:"rungs,omitempty"`
	AudioBitrate int    `json:"audioBitrate,omitempty"` // 0: the origin's
}

// OriginRequest asks which origin a stream belongs to. A transcoder node asks where a stream published on
// it goes: the origin that will serve it (Red5's transcode=true broadcast, where the publisher publishes
// to the transcoder). An edge or relay asks where a stream lives that its parent does not carry (several
// origins in a group, no relay in front of them): ErrUnavailable when it is live on none.
type OriginRequest struct {
	ID     string `json:"id"` // the node
	Stream string `json:"stream"`
}

// OriginResponse names the origin, by the base URL of its HTTP port (PathSources takes the source there).
type OriginResponse struct {
	Origin string `json:"origin"` // e.g. http://10.0.0.7:8080
}

// ParentRequest asks for an edge's or relay's parent at once, when it has none: it entered service
// before any parent did, so its last assignment named none, and a viewer the manager sent it is waiting.
type ParentRequest struct {
	ID string `json:"id"` // the node
}

// ParentResponse names the parent the manager assigns the node (the same as its next assignment's).
type ParentResponse struct {
	Parent string `json:"parent"` // the parent's HTTP base URL, e.g. http://10.0.0.7:8080
}

// ViaTranscoder is the protocol an origin records for a stream whose publisher publishes (with protocol)
// to a transcoder node, which gives the stream and its renditions to the origin: the manager gives no
// other transcoder that stream's ladder to make.
func ViaTranscoder(protocol string) string { return viaTranscoder + protocol }

// IsViaTranscoder reports whether protocol is one of ViaTranscoder's.
func IsViaTranscoder(protocol string) bool { return strings.HasPrefix(protocol, viaTranscoder) }

// The protocols of a node's renditions, as its reports list them: made by the node's own ffmpeg, or
// given to an origin by a transcoder node.
const (
	ProtocolTranscode  = "transcode"
	ProtocolTranscoder = "transcoder"
)

// IsRendition reports whether protocol is that of a rendition (ProtocolTranscode, ProtocolTranscoder):
// a stream made from another, never itself the source of a ladder.
func IsRendition(protocol string) bool {
	return protocol == ProtocolTranscode || protocol == ProtocolTranscoder
}

const viaTranscoder = "transcoder/"

// Rung is one rendition of a ladder: the stream <stream>_<Name>, Height its picture's short side, bit
// rates in bit/s (MaxRate 0: 1.5 × VideoBitrate), FrameRate a cap on its frame rate (0: the source's).
type Rung struct {
	Name         string  `json:"name"`
	Height       int     `json:"height"`
	VideoBitrate int     `json:"videoBitrate"`
	MaxRate      int     `json:"maxRate,omitempty"`
	FrameRate    float64 `json:"frameRate,omitempty"`
}

// Assignment is what the manager wants of a node.
type Assignment struct {
	// State is the node's lifecycle state as the manager sees it.
	State nodemodel.State `json:"state"`
	// Parent is the HTTP base URL of the node an edge or relay pulls from ("" otherwise).
	Parent string `json:"parent,omitempty"`
	// Drain asks the node to take no new viewers or publishers and leave when empty or at DrainDeadline.
	Drain         bool      `json:"drain,omitempty"`
	DrainDeadline time.Time `json:"drainDeadline,omitzero"`
	// Transcode lists the streams a transcoder node makes the ladder of (other roles get none).
	Transcode []TranscodeJob `json:"transcode,omitempty"`
	// Steering, given to edges when the manager steers players (HLS Content Steering), is what the
	// edge's multivariant playlists name: the steering server and the edge's own pathway.
	Steering *Steering `json:"steering,omitempty"`
}

// Steering is an edge's part in HLS Content Steering.
type Steering struct {
	// ServerURI is the base of the steering server's URLs: <ServerURI>/<app>/<stream> answers players.
	ServerURI string `json:"serverUri"`
	// Pathway is the edge's PATHWAY-ID (its node ID).
	Pathway string `json:"pathway"`
	// Storage, when set, is where players read the storage push's copy of the streams: the edge adds
	// the variants of <Storage>/<app>/<stream>/<StoragePlaylist> to its multivariant playlists as the
	// pathway StoragePathway, which the steering server names when no edge can serve a player.
	Storage         string `json:"storage,omitempty"`
	StoragePlaylist string `json:"storagePlaylist,omitempty"`
}

// StoragePathway is the PATHWAY-ID of the storage push's copy of the streams (the bucket, or a CDN in
// front of it) in content steering. A node with this ID is never a pathway.
const StoragePathway = "cdn"

// StartPathwayParam is the query parameter of a request for an edge's multivariant playlist that names the
// pathway the player starts on (EXT-X-CONTENT-STEERING's PATHWAY-ID) when it is not the edge's own: only
// StoragePathway, which the manager asks for when it spills a new viewer to storage (every edge full).
const StartPathwayParam = "pathway"

// TranscodeJob gives a transcoder node a stream: it takes the stream from its origin (PathSources) and
// gives each rendition back to it (PathRenditions).
type TranscodeJob struct {
	Stream string `json:"stream"` // <app>/<stream>
	Origin string `json:"origin"` // the origin's HTTP base URL, e.g. http://10.0.0.7:8080
	// Ladder is the stream's provisioned ladder (nil or not Found: the transcoder's configured one)
	Ladder *LadderResponse `json:"ladder,omitempty"`
}

// Equal reports whether a and b assign the same thing (DrainDeadline compared as an instant).
func (a Assignment) Equal(b Assignment) bool {
	return a.State == b.State && a.Parent == b.Parent && a.Drain == b.Drain && a.DrainDeadline.Equal(b.DrainDeadline) &&
		slices.EqualFunc(a.Transcode, b.Transcode, TranscodeJob.Equal) &&
		(a.Steering == nil) == (b.Steering == nil) && (a.Steering == nil || *a.Steering == *b.Steering)
}

// Equal reports whether j and k are the same job with the same ladder.
func (j TranscodeJob) Equal(k TranscodeJob) bool {
	if j.Stream != k.Stream || j.Origin != k.Origin || (j.Ladder == nil) != (k.Ladder == nil) {
		return false
	}
	return j.Ladder == nil || j.Ladder.Found == k.Ladder.Found && j.Ladder.AudioBitrate == k.Ladder.AudioBitrate &&
		slices.Equal(j.Ladder.Rungs, k.Ladder.Rungs)
}

// Backend is what the manager plugs into NewHandler. Requests reach it already authenticated and
// validated. Errors wrapping ErrUnknownNode, ErrTooManyReports (see ThrottleError), ErrConflict and
// ErrInvalid are answered with their message; any other error is answered with a generic 500.
type Backend interface {
	Register(ctx context.Context, req RegisterRequest) (RegisterResponse, error)
	Report(ctx context.Context, req ReportRequest) (ReportResponse, error)
	StreamEvent(ctx context.Context, ev StreamEvent) error
	Ladder(ctx context.Context, req LadderRequest) (LadderResponse, error)
	Origin(ctx context.Context, req OriginRequest) (OriginResponse, error)
	Parent(ctx context.Context, req ParentRequest) (ParentResponse, error)
}
