// Package apitypes is the wire format of the manager's native API (/api/v1): the JSON bodies clients
// send and decode. It is the API's own, apart from the store's records, so that a change to the store
// (a renamed column, a new field) does not change what clients see; the server converts between the two.
// It imports only the node vocabulary, so clients such as `nagare ctl` use it without the server.
package apitypes

import (
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// RoleLimits is a scale policy's rule for one role.
type RoleLimits struct {
	Role            nodemodel.Role `json:"role"`
	MinLimit        int            `json:"minLimit"`
	MaxLimit        int            `json:"maxLimit"`
	ScaleAdjustment int            `json:"scaleAdjustment"`
}

// ScalePolicy is a scale policy: created with POST /scalepolicies, replaced with PUT
// /scalepolicies/{name} (Name may then be left out), and answered by both and by the GETs. Durations are
// milliseconds; 0 means the manager's default.
type ScalePolicy struct {
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Targets     []RoleLimits `json:"targets"`
	WarmUpMS    int64        `json:"warmUpMs,omitempty"`
	CoolDownMS  int64        `json:"coolDownMs,omitempty"`
	CreatedAt   time.Time    `json:"createdAt,omitzero"`
	UpdatedAt   time.Time    `json:"updatedAt,omitzero"`
}

// LaunchTarget is a launch configuration's settings for one role.
type LaunchTarget struct {
	Role               nodemodel.Role `json:"role"`
	InstanceType       string         `json:"instanceType"`
	ConnectionCapacity int            `json:"connectionCapacity"`
}

// KV is a property or metadata entry of a launch configuration.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// LaunchConfig is a launch configuration, sent and answered in the same shape (the times of a request
// are ignored).
type LaunchConfig struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Image       string         `json:"image"`
	Version     string         `json:"version"`
	Targets     []LaunchTarget `json:"targets"`
	Properties  []KV           `json:"properties"`
	Metadata    []KV           `json:"metadata"`
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
}

// NewNodeGroup is the body of POST /nodegroups; without Name the manager makes one up (group-<uuid>).
type NewNodeGroup struct {
	Name         string   `json:"name,omitempty"`
	Regions      []string `json:"regions"`
	LaunchConfig string   `json:"launchConfig"`
	ScalePolicy  string   `json:"scalePolicy"`
}

// NodeGroup is a node group as the API answers it.
type NodeGroup struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Regions      []string  `json:"regions"`
	LaunchConfig string    `json:"launchConfig"`
	ScalePolicy  string    `json:"scalePolicy"`
	CreatedAt    time.Time `json:"createdAt"`
	// Deleting: the group's deletion was asked for; its nodes are being terminated.
	Deleting bool `json:"deleting,omitempty"`
}

// GroupDeletion is the answer (202) of deleting a group whose nodes are being terminated first.
type GroupDeletion struct {
	Group       string   `json:"group"`
	Terminating []string `json:"terminating"`
}

// Addresses are where clients reach a node, host:port per protocol (left out when the protocol is off).
type Addresses struct {
	RTMP  string `json:"rtmp,omitempty"`
	RTMPS string `json:"rtmps,omitempty"` // RTMP inside TLS
	SRT   string `json:"srt,omitempty"`
	HTTP  string `json:"http,omitempty"`
	TLS   bool   `json:"tls,omitempty"` // the HTTP port serves TLS (https)
}

// NodeStats is a node's last load report.
type NodeStats struct {
	Connections       int     `json:"connections"`
	Publishers        int     `json:"publishers"`
	Subscribers       int     `json:"subscribers"`
	StreamCount       int     `json:"streamCount,omitempty"`
	BytesIn           uint64  `json:"bytesIn"`
	BytesOut          uint64  `json:"bytesOut"`
	CPUPercent        float64 `json:"cpuPercent"`
	MemoryBytes       uint64  `json:"memoryBytes"`
	MemoryUsedPercent float64 `json:"memoryUsedPercent"`
	UptimeSeconds     float64 `json:"uptimeSeconds,omitempty"`
	// Overloaded says why the node cannot keep up (its transcoding falls behind real time): it takes
	// nothing new and counts as full for scaling. Absent when it keeps up.
	Overloaded string `json:"overloaded,omitempty"`
	// Streams names the streams the node carries (<app>/<stream>).
	Streams []string `json:"streams"`
}

// Node is one media server as the manager knows it.
type Node struct {
	ID         string          `json:"id"`
	Group      string          `json:"group"`
	Role       nodemodel.Role  `json:"role"`
	State      nodemodel.State `json:"state"`
	Region     string          `json:"region"`
	Zone       string          `json:"zone"`
	Version    string          `json:"version"`
	Capacity   int             `json:"capacity"`
	Addresses  Addresses       `json:"addresses"`
	Parent     string          `json:"parent,omitempty"`
	Stats      NodeStats       `json:"stats"`
	LastReport time.Time       `json:"lastReport"`
	CreatedAt  time.Time       `json:"createdAt"`
	UpdatedAt  time.Time       `json:"updatedAt"`
}

// NodeEvent is one lifecycle transition of a node (From is "" for a new node).
type NodeEvent struct {
	ID     int64           `json:"id"`
	NodeID string          `json:"nodeId"`
	From   nodemodel.State `json:"from"`
	To     nodemodel.State `json:"to"`
	Cause  string          `json:"cause"`
	At     time.Time       `json:"at"`
}

// Stream is a live stream and the origin carrying it.
type Stream struct {
	Name      string    `json:"name"` // <app>/<stream>
	NodeID    string    `json:"nodeId"`
	Protocol  string    `json:"protocol"`
	StartedAt time.Time `json:"startedAt"`
	// The rest is what the nodes reported of the stream, absent where they did not: its RFC 6381 codecs
	// ("avc1.64001f,mp4a.40.2"), picture size, incoming bit rate in bit/s, the renditions of its ladder
	// and whether the origin records it (the origin's report); its viewers (the sum over the origin and
	// the edges) and the edges that have some.
	Codecs     string         `json:"codecs,omitempty"`
	Width      int            `json:"width,omitempty"`
	Height     int            `json:"height,omitempty"`
	Bitrate    int64          `json:"bitrate,omitempty"`
	Renditions []string       `json:"renditions,omitempty"`
	Recording  *bool          `json:"recording,omitempty"`
	Viewers    *StreamViewers `json:"viewers,omitempty"`
	Edges      []StreamEdge   `json:"edges,omitempty"`
}

// StreamViewers counts a stream's viewers by protocol.
type StreamViewers struct {
	HLS    int `json:"hls"`
	WebRTC int `json:"webrtc"`
}

// StreamEdge is a node other than the origin whose viewers watch a stream, with their counts.
type StreamEdge struct {
	NodeID string `json:"nodeId"`
	HLS    int    `json:"hls"`
	WebRTC int    `json:"webrtc"`
}

// AlarmThreshold is the load, in percent of capacity, at which a role scales out.
type AlarmThreshold struct {
	Role      nodemodel.Role `json:"role"`
	Threshold int            `json:"threshold"`
}

// SetThreshold is the body of PUT /alarms/{role}.
type SetThreshold struct {
	Threshold int `json:"threshold"`
}

// ScaleEvent is one decision of the autoscaler that acted.
// Launch configuration properties the manager itself reads.
const (
	// VersionProperty names the nagare version a launch configuration's nodes must run; changing it
	// starts a rolling upgrade of its groups.
	VersionProperty = "nagare.version"
	// MaxSurgeProperty bounds how many nodes of a role a rolling upgrade launches ahead at once (1 when unset).
	MaxSurgeProperty = "nagare.rollout.maxSurge"
)

// Rollout is how far a group is in bringing its nodes to what its launch configuration asks for
// (GET /api/v1/nodegroups/{name}/rollout): a changed nagare.version property or image starts a rolling
// upgrade, which the autoscaler carries out one step at a time.
type Rollout struct {
	Group        string `json:"group"`
	LaunchConfig string `json:"launchConfig"`
	// Version is the software version the nodes must run, Image what they are made from ("" = any).
	Version string `json:"version"`
	Image   string `json:"image,omitempty"`
	// Done: every in-service node is current and none is being replaced.
	Done  bool          `json:"done"`
	Roles []RoleRollout `json:"roles"`
	// Events are the group's latest rolling-upgrade steps, oldest first.
	Events []ScaleEvent `json:"events"`
}

// RoleRollout counts one role's nodes by where they are in a rolling upgrade.
type RoleRollout struct {
	Role nodemodel.Role `json:"role"`
	// Current and Outdated are in service; Launching are pending or running; Draining are leaving.
	Current   int      `json:"current"`
	Outdated  int      `json:"outdated"`
	Launching int      `json:"launching"`
	Draining  int      `json:"draining"`
	Nodes     []string `json:"outdatedNodes"`
	// Unmanaged are in service but were not launched by the cloud controller (started by hand): a rolling
	// upgrade cannot replace them and leaves them alone.
	Unmanaged int `json:"unmanaged"`
}

type ScaleEvent struct {
	ID     int64          `json:"id"`
	Group  string         `json:"group"`
	Role   nodemodel.Role `json:"role"`
	Action string         `json:"action"`
	Reason string         `json:"reason"`
	// Load and Predicted are percentages of the role's in-service capacity; InfiniteLoad stands for
	// load with no in-service node to carry it.
	Load      float64   `json:"load"`
	Predicted float64   `json:"predicted"`
	Nodes     []string  `json:"nodes"`
	Manager   string    `json:"manager"`
	At        time.Time `json:"at"`
}

// InfiniteLoad is the load of a role that has demand but no in-service node.
const InfiniteLoad = 1e9

// Instance is what the cloud controller runs for one node.
type Instance struct {
	ID         string          `json:"id"`
	NodeID     string          `json:"nodeId"`
	Group      string          `json:"group"`
	Role       nodemodel.Role  `json:"role"`
	State      nodemodel.State `json:"state"`
	Address    string          `json:"address,omitempty"`
	LaunchedAt time.Time       `json:"launchedAt"`
	Reason     string          `json:"reason,omitempty"`
}

// Recording is the answer of PUT and DELETE /streams/{app}/{stream}/recording: the nodes that agreed.
type Recording struct {
	Nodes     []string `json:"nodes"`
	Recording bool     `json:"recording"`
	Stream    string   `json:"stream"`
}

// Route is the answer of the public routing calls /route/publish and /route/play.
type Route struct {
	Stream  string         `json:"stream"`
	NodeID  string         `json:"nodeId"`
	Role    nodemodel.Role `json:"role"`
	Region  string         `json:"region,omitempty"`
	RTMPURL string         `json:"rtmpUrl,omitempty"`
	// RTMPSURL is RTMP inside TLS, when the node offers it
	RTMPSURL string `json:"rtmpsUrl,omitempty"`
	SRTURL   string `json:"srtUrl,omitempty"`
	HLSURL   string `json:"hlsUrl,omitempty"`
	// WHIPURL (publish) and WHEPURL (play) are the node's WebRTC endpoints: POST an SDP offer there.
	WHIPURL string `json:"whipUrl,omitempty"`
	WHEPURL string `json:"whepUrl,omitempty"`
}

// Error is the body of every error answer of the native API.
type Error struct {
	Error string `json:"error"`
	// Field names the field of the request body the error is about, as the JSON names it
	// ("targets[0].minLimit"), when it is about one.
	Field string `json:"field,omitempty"`
}

// PublishTokenRequest asks for a publish token (POST /api/v1/tokens/publish); TTLSeconds 0 means an hour.
type PublishTokenRequest struct {
	Stream     string `json:"stream"`
	TTLSeconds int    `json:"ttlSeconds,omitempty"`
}

// PublishToken is a signed token that lets its holder publish one stream until ExpiresAt, and the WHIP
// URL (on the manager, which redirects to an origin) that carries it.
type PublishToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	WHIP      string    `json:"whip"`
}

// Session is a console session (POST and GET /console/api/session): the CSRF token the page sends in the
// X-CSRF-Token header of every write, and when the session ends. GET answers SignedIn false, with the
// Reason, when the request has no valid session.
type Session struct {
	SignedIn  bool      `json:"signedIn"`
	CSRF      string    `json:"csrf,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}

// LadderRung is one rendition of a provisioned ladder: the rendition is the stream <stream>_<name>.
// Height is the picture's short side (the width follows the source's aspect ratio); bit rates in bit/s,
// MaxRate 0 = 1.5 × VideoBitrate; FrameRate caps the frame rate (0 = the source's).
type LadderRung struct {
	Name         string  `json:"name"`
	Height       int     `json:"height"`
	VideoBitrate int     `json:"videoBitrate"`
	MaxRate      int     `json:"maxRate,omitempty"`
	FrameRate    float64 `json:"frameRate,omitempty"`
}

// LadderSpec is the body of PUT /streams/{app}/{stream}/ladder.
type LadderSpec struct {
	Rungs        []LadderRung `json:"rungs"`
	AudioBitrate int          `json:"audioBitrate,omitempty"` // 0: the origin's transcode.audioBitrate
}

// Ladder is a stream's provisioned ladder.
type Ladder struct {
	Stream       string       `json:"stream"`
	Rungs        []LadderRung `json:"rungs"`
	AudioBitrate int          `json:"audioBitrate,omitempty"`
	UpdatedAt    time.Time    `json:"updatedAt"`
}
