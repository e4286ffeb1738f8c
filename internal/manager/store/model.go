package store

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

// ScalePolicy says how many nodes of each role a group keeps.
type ScalePolicy struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Type        string       `json:"type,omitempty"`
	Version     string       `json:"version,omitempty"`
	Targets     []RoleLimits `json:"targets"`
	// WarmUp is how long a new node may take to enter service; CoolDown how long load must stay low
	// before a scale-in.
	WarmUp    time.Duration `json:"-"`
	CoolDown  time.Duration `json:"-"`
	CreatedAt time.Time     `json:"createdAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
}

// Limits returns the rule for role and whether there is one.
func (p *ScalePolicy) Limits(role nodemodel.Role) (RoleLimits, bool) {
	for _, t := range p.Targets {
		if t.Role == role {
			return t, true
		}
	}
	return RoleLimits{}, false
}

// LaunchTarget is a launch configuration's settings for one role.
type LaunchTarget struct {
	Role               nodemodel.Role `json:"role"`
	InstanceType       string         `json:"instanceType"`
	ConnectionCapacity int            `json:"connectionCapacity"`
}

// KV is a property or metadata entry.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// LaunchConfig says how to start nodes: the image and, per role, the instance type and capacity.
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

// Target returns the settings for role and whether there are any.
func (c *LaunchConfig) Target(role nodemodel.Role) (LaunchTarget, bool) {
	for _, t := range c.Targets {
		if t.Role == role {
			return t, true
		}
	}
	return LaunchTarget{}, false
}

// NodeGroup is a set of nodes made from one launch configuration and one scale policy.
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

// NodeStats is the last load report of a node, with the names of the streams it carried.
type NodeStats struct {
	nodemodel.Load
	Streams []string `json:"streams"`
	// Loads are the streams as the node described them in the report: an origin's publications, the
	// streams an edge's viewers watch (kept in the store so that every manager sharing it sees them).
	Loads []nodemodel.StreamLoad `json:"loads,omitempty"`
}

// Node is one media server instance.
type Node struct {
	ID         string              `json:"id"`
	Group      string              `json:"group"`
	Role       nodemodel.Role      `json:"role"`
	State      nodemodel.State     `json:"state"`
	Region     string              `json:"region"`
	Zone       string              `json:"zone"`
	Version    string              `json:"version"`
	Capacity   int                 `json:"capacity"`
	Addresses  nodemodel.Addresses `json:"addresses"`
	Parent     string              `json:"parent,omitempty"`
	Stats      NodeStats           `json:"stats"`
	LastReport time.Time           `json:"lastReport"`
	CreatedAt  time.Time           `json:"createdAt"`
	UpdatedAt  time.Time           `json:"updatedAt"`
}

// NodeEvent records one lifecycle transition.
type NodeEvent struct {
	ID     int64           `json:"id"`
	NodeID string          `json:"nodeId"`
	From   nodemodel.State `json:"from"`
	To     nodemodel.State `json:"to"`
	Cause  string          `json:"cause"`
	At     time.Time       `json:"at"`
}

// StreamRecord says which origin carries a live stream.
type StreamRecord struct {
	Name      string    `json:"name"` // <app>/<stream>
	NodeID    string    `json:"nodeId"`
	Protocol  string    `json:"protocol"`
	StartedAt time.Time `json:"startedAt"`
}

// AlarmThreshold is the load percentage at which a role scales out.
type AlarmThreshold struct {
	Role      nodemodel.Role `json:"role"`
	Threshold int            `json:"threshold"`
}

// DefaultAlarmThreshold applies to roles without a threshold of their own.
const DefaultAlarmThreshold = 60

// Ladder is the adaptive ladder provisioned for a stream: the renditions its origin makes below the
// source, named <stream>_<rung name> (Red5 names them <stream>_<level>).
type Ladder struct {
	Stream       string       `json:"stream"` // <app>/<stream>
	Rungs        []LadderRung `json:"rungs"`
	AudioBitrate int          `json:"audioBitrate,omitempty"` // 0: the origin's
	UpdatedAt    time.Time    `json:"updatedAt"`
}

// LadderRung is one rendition of a Ladder. Level is Red5's (1 the highest; 0 when provisioned
// natively); Width is kept as given, the origin follows the source's aspect ratio from Height.
type LadderRung struct {
	Name         string  `json:"name"`
	Level        int     `json:"level,omitempty"`
	Width        int     `json:"width,omitempty"`
	Height       int     `json:"height"`
	VideoBitrate int     `json:"videoBitrate"`
	MaxRate      int     `json:"maxRate,omitempty"`
	FrameRate    float64 `json:"frameRate,omitempty"` // a cap; 0: the source's
}
