package api

import (
	"time"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// The native API's wire types (apitypes) and the store's records are converted here, field by field,
// so that neither can change the other by accident. Lists are never null on the wire.

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// convertAll converts every element of in.
func convertAll[In, Out any](in []In, conv func(In) Out) []Out {
	out := make([]Out, len(in))
	for i, x := range in {
		out[i] = conv(x)
	}
	return out
}

func msDuration[N int | int64](ms N) time.Duration { return time.Duration(ms) * time.Millisecond }

// ---- scale policies ----

func policyFromAPI(p apitypes.ScalePolicy) store.ScalePolicy {
	return store.ScalePolicy{Name: p.Name, Description: p.Description,
		Targets: convertAll(p.Targets, func(t apitypes.RoleLimits) store.RoleLimits {
			return store.RoleLimits{Role: t.Role, MinLimit: t.MinLimit, MaxLimit: t.MaxLimit, ScaleAdjustment: t.ScaleAdjustment}
		}),
		WarmUp: msDuration(p.WarmUpMS), CoolDown: msDuration(p.CoolDownMS)}
}

func policyToAPI(p store.ScalePolicy) apitypes.ScalePolicy {
	return apitypes.ScalePolicy{Name: p.Name, Description: p.Description,
		Targets: convertAll(p.Targets, func(t store.RoleLimits) apitypes.RoleLimits {
			return apitypes.RoleLimits{Role: t.Role, MinLimit: t.MinLimit, MaxLimit: t.MaxLimit, ScaleAdjustment: t.ScaleAdjustment}
		}),
		WarmUpMS: p.WarmUp.Milliseconds(), CoolDownMS: p.CoolDown.Milliseconds(), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// ---- launch configurations ----

func kvFromAPI(kv apitypes.KV) store.KV { return store.KV{Key: kv.Key, Value: kv.Value} }
func kvToAPI(kv store.KV) apitypes.KV   { return apitypes.KV{Key: kv.Key, Value: kv.Value} }

func launchConfigFromAPI(c apitypes.LaunchConfig) store.LaunchConfig {
	return store.LaunchConfig{Name: c.Name, Description: c.Description, Image: c.Image, Version: c.Version,
		Targets: convertAll(c.Targets, func(t apitypes.LaunchTarget) store.LaunchTarget {
			return store.LaunchTarget{Role: t.Role, InstanceType: t.InstanceType, ConnectionCapacity: t.ConnectionCapacity}
		}),
		Properties: convertAll(c.Properties, kvFromAPI), Metadata: convertAll(c.Metadata, kvFromAPI)}
}

func launchConfigToAPI(c store.LaunchConfig) apitypes.LaunchConfig {
	return apitypes.LaunchConfig{Name: c.Name, Description: c.Description, Image: c.Image, Version: c.Version,
		Targets: convertAll(c.Targets, func(t store.LaunchTarget) apitypes.LaunchTarget {
			return apitypes.LaunchTarget{Role: t.Role, InstanceType: t.InstanceType, ConnectionCapacity: t.ConnectionCapacity}
		}),
		Properties: convertAll(c.Properties, kvToAPI), Metadata: convertAll(c.Metadata, kvToAPI),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// ---- node groups and nodes ----

func newGroupFromAPI(g apitypes.NewNodeGroup) store.NodeGroup {
	return store.NodeGroup{Name: g.Name, Regions: g.Regions, LaunchConfig: g.LaunchConfig, ScalePolicy: g.ScalePolicy}
}

func groupToAPI(g store.NodeGroup) apitypes.NodeGroup {
	return apitypes.NodeGroup{ID: g.ID, Name: g.Name, Regions: nonNil(g.Regions), LaunchConfig: g.LaunchConfig,
		ScalePolicy: g.ScalePolicy, CreatedAt: g.CreatedAt, Deleting: g.Deleting}
}

func addressesToAPI(a nodemodel.Addresses) apitypes.Addresses {
	return apitypes.Addresses{RTMP: a.RTMP, RTMPS: a.RTMPS, SRT: a.SRT, HTTP: a.HTTP, TLS: a.TLS}
}

func nodeToAPI(n store.Node) apitypes.Node {
	st := n.Stats
	return apitypes.Node{ID: n.ID, Group: n.Group, Role: n.Role, State: n.State, Region: n.Region, Zone: n.Zone,
		Version: n.Version, Capacity: n.Capacity, Addresses: addressesToAPI(n.Addresses), Parent: n.Parent,
		Stats: apitypes.NodeStats{Connections: st.Connections, Publishers: st.Publishers, Subscribers: st.Subscribers,
			StreamCount: st.Load.Streams, BytesIn: st.BytesIn, BytesOut: st.BytesOut, CPUPercent: st.CPUPercent,
			MemoryBytes: st.MemoryBytes, MemoryUsedPercent: st.MemoryUsedPercent, UptimeSeconds: st.UptimeSeconds,
			Overloaded: st.Overloaded, Streams: nonNil(st.Streams)},
		LastReport: n.LastReport, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt}
}

func nodeEventToAPI(e store.NodeEvent) apitypes.NodeEvent {
	return apitypes.NodeEvent{ID: e.ID, NodeID: e.NodeID, From: e.From, To: e.To, Cause: e.Cause, At: e.At}
}

func instanceToAPI(in cloud.Instance) apitypes.Instance {
	return apitypes.Instance{ID: in.ID, NodeID: in.NodeID, Group: in.Group, Role: in.Role, State: in.State,
		Address: in.Address, LaunchedAt: in.LaunchedAt, Reason: in.Reason}
}

// ---- streams, alarms, scale events ----

func streamToAPI(s store.StreamRecord) apitypes.Stream {
	return apitypes.Stream{Name: s.Name, NodeID: s.NodeID, Protocol: s.Protocol, StartedAt: s.StartedAt}
}

func thresholdToAPI(t store.AlarmThreshold) apitypes.AlarmThreshold {
	return apitypes.AlarmThreshold{Role: t.Role, Threshold: t.Threshold}
}

func scaleEventToAPI(e store.ScaleEvent) apitypes.ScaleEvent {
	return apitypes.ScaleEvent{ID: e.ID, Group: e.Group, Role: e.Role, Action: e.Action, Reason: e.Reason,
		Load: e.Load, Predicted: e.Predicted, Nodes: nonNil(e.Nodes), Manager: e.Manager, At: e.At}
}
