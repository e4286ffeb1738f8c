package store

import "time"

// Roles of a node.
const (
	RoleOrigin     = "origin"
	RoleRelay      = "relay"
	RoleEdge       = "edge"
	RoleTranscoder = "transcoder"
)

// Roles lists every role in a stable order.
var Roles = []string{RoleOrigin, RoleRelay, RoleEdge, RoleTranscoder}

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// Node lifecycle states.
const (
	StatePending     = "pending"
	StateRunning     = "running"
	StateInService   = "inservice"
	StateDraining    = "draining"
	StateTerminating = "terminating"
	StateTerminated  = "terminated"
)

// States lists every lifecycle state in order.
var States = []string{StatePending, StateRunning, StateInService, StateDraining, StateTerminating, StateTerminated}

// RoleLimits is a scale policy's rule for one role.
type RoleLimits struct {
	Role            string `json:"role"`
	MinLimit        int    `json:"minLimit"`
	MaxLimit        int    `json:"maxLimit"`
	ScaleAdjustment int    `json:"scaleAdjustment"`
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
func (p *ScalePolicy) Limits(role string) (RoleLimits, bool) {
	for _, t := range p.Targets {
		if t.Role == role {
			return t, true
		}
	}
	return RoleLimits{}, false
}

// LaunchTarget is a launch configuration's settings for one role.
type LaunchTarget struct {
	Role               string `json:"role"`
	InstanceType       string `json:"instanceType"`
	ConnectionCapacity int    `json:"connectionCapacity"`
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
func (c *LaunchConfig) Target(role string) (LaunchTarget, bool) {
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

// Addresses are where clients reach a node.
type Addresses struct {
	RTMP string `json:"rtmp,omitempty"`
	SRT  string `json:"srt,omitempty"`
	HTTP string `json:"http,omitempty"`
}

// NodeStats is the last load report of a node.
type NodeStats struct {
	Connections       int      `json:"connections"`
	Publishers        int      `json:"publishers"`
	Subscribers       int      `json:"subscribers"`
	BytesIn           uint64   `json:"bytesIn"`
	BytesOut          uint64   `json:"bytesOut"`
	CPUPercent        float64  `json:"cpuPercent"`
	MemoryBytes       uint64   `json:"memoryBytes"`
	MemoryUsedPercent float64  `json:"memoryUsedPercent"`
	Streams           []string `json:"streams"`
}

// Node is one media server instance.
type Node struct {
	ID         string    `json:"id"`
	Group      string    `json:"group"`
	Role       string    `json:"role"`
	State      string    `json:"state"`
	Region     string    `json:"region"`
	Zone       string    `json:"zone"`
	Version    string    `json:"version"`
	Capacity   int       `json:"capacity"`
	Addresses  Addresses `json:"addresses"`
	Parent     string    `json:"parent,omitempty"`
	Stats      NodeStats `json:"stats"`
	LastReport time.Time `json:"lastReport"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// NodeEvent records one lifecycle transition.
type NodeEvent struct {
	ID     int64     `json:"id"`
	NodeID string    `json:"nodeId"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Cause  string    `json:"cause"`
	At     time.Time `json:"at"`
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
	Role      string `json:"role"`
	Threshold int    `json:"threshold"`
}

// DefaultAlarmThreshold applies to roles without a threshold of their own.
const DefaultAlarmThreshold = 60
