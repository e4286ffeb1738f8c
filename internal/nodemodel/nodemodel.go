// Package nodemodel is the vocabulary every part of nagare shares about a media node: its roles, its
// lifecycle states, its addresses and its load report. It imports nothing of the module, so the control
// plane, the data plane, the wire protocol and the cloud controllers can all use it.
package nodemodel

import "strings"

// Role is what a media node does.
type Role string

// The roles.
const (
	RoleOrigin     Role = "origin"     // takes publishers, muxes HLS once
	RoleRelay      Role = "relay"      // pulls from an origin for edges
	RoleEdge       Role = "edge"       // pulls from a relay or origin for viewers
	RoleTranscoder Role = "transcoder" // pulls a source, publishes a ladder back to an origin
)

// Roles lists every role in a stable order.
var Roles = []Role{RoleOrigin, RoleRelay, RoleEdge, RoleTranscoder}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// Pulls reports whether a node of role r takes its streams from a parent node.
func (r Role) Pulls() bool { return r == RoleEdge || r == RoleRelay }

// State is where a node is in its lifecycle, as the manager records it.
type State string

// The lifecycle states, in order.
const (
	StatePending     State = "pending"     // asked of a cloud, not running yet
	StateRunning     State = "running"     // running or registered, not serving yet
	StateInService   State = "inservice"   // serving
	StateDraining    State = "draining"    // taking nobody new, leaving when empty or at its deadline
	StateTerminating State = "terminating" // being stopped
	StateTerminated  State = "terminated"  // gone; kept for history
)

// States lists every lifecycle state in order.
var States = []State{StatePending, StateRunning, StateInService, StateDraining, StateTerminating, StateTerminated}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, x := range States {
		if s == x {
			return true
		}
	}
	return false
}

// Addresses are where clients reach a node, each host:port ("" when the protocol is off).
type Addresses struct {
	RTMP  string `json:"rtmp,omitempty"`
	RTMPS string `json:"rtmps,omitempty"` // RTMP inside TLS
	SRT   string `json:"srt,omitempty"`
	HTTP  string `json:"http,omitempty"`
	// TLS: the HTTP port serves TLS (https).
	TLS bool `json:"tls,omitempty"`
}

// HTTPScheme is the scheme the node's HTTP port speaks: https with TLS, else http.
func (a Addresses) HTTPScheme() string {
	if a.TLS {
		return "https"
	}
	return "http"
}

// HTTPURL is the base URL of the node's HTTP port (http:// or https://host:port), "" without one.
func (a Addresses) HTTPURL() string {
	if a.HTTP == "" {
		return ""
	}
	return a.HTTPScheme() + "://" + a.HTTP
}

// Load is a node's load at the time of a report: the figures routing and the autoscaler use.
type Load struct {
	Connections int `json:"connections"` // publishers + subscribers
	Publishers  int `json:"publishers"`
	Subscribers int `json:"subscribers"`
	// Streams counts the streams the node carries: published on an origin, pulled by an edge or relay.
	Streams           int     `json:"streamCount,omitempty"`
	BytesIn           uint64  `json:"bytesIn"`
	BytesOut          uint64  `json:"bytesOut"`
	CPUPercent        float64 `json:"cpuPercent"`
	MemoryBytes       uint64  `json:"memoryBytes"`
	MemoryUsedPercent float64 `json:"memoryUsedPercent"` // of the machine's (or cgroup's) memory, 0..100
	UptimeSeconds     float64 `json:"uptimeSeconds,omitempty"`
	// Overloaded says why the node cannot keep up with what it carries (its transcoding falls behind
	// real time); "" when it can. An overloaded node takes nothing new and counts as full for scaling.
	Overloaded string `json:"overloaded,omitempty"`
}

// StreamLoad describes one stream on a node. The fields after BytesIn are what the operator console shows;
// a node leaves empty what it does not know (older nodes send none of them).
type StreamLoad struct {
	Name        string `json:"name"` // <app>/<stream>
	Protocol    string `json:"protocol"`
	Subscribers int    `json:"subscribers"`
	BytesIn     uint64 `json:"bytesIn"`
	// Codecs are the stream's RFC 6381 codecs, comma-separated ("avc1.64001f,mp4a.40.2").
	Codecs string `json:"codecs,omitempty"`
	// Width and Height are the video's picture size.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Bitrate is what the stream brings in, in bit/s, since the node's previous report.
	Bitrate int64 `json:"bitrate,omitempty"`
	// HLSViewers and WebRTCViewers split Subscribers by protocol.
	HLSViewers    int `json:"hlsViewers,omitempty"`
	WebRTCViewers int `json:"webrtcViewers,omitempty"`
	// Recording: the live publication is being recorded (origins).
	Recording bool `json:"recording,omitempty"`
	// Renditions name the streams of the source's adaptive ladder made on this origin (<app>/<stream>_<rung>).
	Renditions []string `json:"renditions,omitempty"`
}

// StreamMatches reports whether stream name ("app/stream") is selected by pattern: "app/stream",
// "app/*" or "*", the patterns of every streams setting (the nodes' push.streams, record.streams,
// transcode.streams, the manager's transcodeStreams).
func StreamMatches(pattern, name string) bool {
	app, _, _ := strings.Cut(name, "/")
	return pattern == "*" || pattern == name || pattern == app+"/*"
}
