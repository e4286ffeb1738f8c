package node

import (
	"net/http"
	"time"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/netaddr"
	"github.com/nagare-video/nagare/internal/nodeagent"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/version"
)

// newAgent connects the node to its stream manager.
func (n *Node) newAgent(cfg config.Config) *nodeagent.Agent {
	a := &nodeagent.Agent{
		Client: &nodeapi.Client{BaseURL: cfg.Cluster.ManagerURL, Secret: cfg.Cluster.Secret, HTTP: &http.Client{Timeout: 10 * time.Second}},
		Register: nodeapi.RegisterRequest{
			ID: cfg.Cluster.NodeID, Role: nodemodel.Role(cfg.Node.Role), Version: version.Version, Group: cfg.Cluster.Group,
			Region: cfg.Cluster.Region, Zone: cfg.Cluster.Zone,
			Addresses: nodemodel.Addresses{
				RTMP: advertise(cfg.Cluster.AdvertiseRTMP, n.RTMPAddr()),
				SRT:  advertise(cfg.Cluster.AdvertiseSRT, n.SRTAddr()),
				HTTP: advertise(cfg.Cluster.AdvertiseHTTP, n.HTTPAddr()),
			},
		},
		Stats: n.agentStats,
		OnAssignment: func(as nodeapi.Assignment) {
			if n.edge != nil && cfg.Node.Parent == "" && as.Parent != "" {
				n.SetParent(as.Parent)
			}
		},
		Log: n.log.With("component", "nodeagent"),
	}
	n.registry.AddListener(agentListener{a})
	return a
}

// advertise returns the configured address, or the bound one with a wildcard host replaced by loopback.
func advertise(configured, bound string) string {
	if configured != "" || bound == "" {
		return configured
	}
	return netaddr.Loopback(bound)
}

func (n *Node) agentStats() (nodemodel.Load, []nodemodel.StreamLoad) {
	st := n.Stats()
	out := nodemodel.Load{
		Connections: st.Connections, Publishers: st.Publishers, Subscribers: st.Subscribers,
		BytesIn: st.BytesIn, BytesOut: st.BytesOut, CPUPercent: st.CPUPercent, MemoryBytes: st.MemoryBytes,
		UptimeSeconds: st.UptimeSeconds,
	}
	streams := make([]nodemodel.StreamLoad, len(st.Streams))
	for i, s := range st.Streams {
		streams[i] = nodemodel.StreamLoad{Name: s.Name, Protocol: s.Protocol, Subscribers: s.Subscribers, BytesIn: s.BytesIn}
	}
	return out, streams
}

// agentListener tells the manager of publishes and unpublishes as they happen.
type agentListener struct{ a *nodeagent.Agent }

func (l agentListener) StreamStarted(s *stream.Stream) {
	l.a.StreamStarted(s.Path.String(), s.Protocol)
}
func (l agentListener) StreamEnded(s *stream.Stream) { l.a.StreamEnded(s.Path.String(), s.Protocol) }
