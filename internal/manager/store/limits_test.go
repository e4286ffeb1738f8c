package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// limited is one stored string field: write stores v in it, with key naming whatever else the write
// creates so that the cases can share a store.
type limited struct {
	name  string
	field string // as the *FieldError names it
	limit int
	write func(t *testing.T, s *store.SQL, key, v string) error
}

func limitedFields() []limited {
	ctx := context.Background()
	config := func(mutate func(c *store.LaunchConfig, v string)) func(*testing.T, *store.SQL, string, string) error {
		return func(_ *testing.T, s *store.SQL, key, v string) error {
			c := launchConfig("lc-" + key)
			mutate(&c, v)
			_, err := s.CreateLaunchConfig(ctx, c)
			return err
		}
	}
	pol := func(mutate func(p *store.ScalePolicy, v string)) func(*testing.T, *store.SQL, string, string) error {
		return func(_ *testing.T, s *store.SQL, key, v string) error {
			p := policy("p-" + key)
			mutate(&p, v)
			_, err := s.CreatePolicy(ctx, p)
			return err
		}
	}
	node := func(mutate func(n *store.Node, v string)) func(*testing.T, *store.SQL, string, string) error {
		return func(_ *testing.T, s *store.SQL, key, v string) error {
			n := store.Node{ID: "n-" + key, Role: nodemodel.RoleOrigin}
			mutate(&n, v)
			_, err := s.CreateNode(ctx, n, "registered")
			return err
		}
	}
	return []limited{
		{"launch config name", "name", store.MaxName, config(func(c *store.LaunchConfig, v string) { c.Name = v })},
		{"launch config version", "version", store.MaxVersion, config(func(c *store.LaunchConfig, v string) { c.Version = v })},
		{"launch config image", "image", store.MaxImage, config(func(c *store.LaunchConfig, v string) { c.Image = v })},
		{"launch config description", "description", store.MaxDescription, config(func(c *store.LaunchConfig, v string) { c.Description = v })},
		{"instance type", "targets.instanceType", store.MaxInstanceType, config(func(c *store.LaunchConfig, v string) { c.Targets[0].InstanceType = v })},
		{"property key", "properties.key", store.MaxPropertyKey, config(func(c *store.LaunchConfig, v string) { c.Properties = []store.KV{{Key: v, Value: "x"}} })},
		{"property value", "properties.value", store.MaxPropertyValue, config(func(c *store.LaunchConfig, v string) { c.Properties = []store.KV{{Key: "k", Value: v}} })},
		{"metadata key", "metadata.key", store.MaxPropertyKey, config(func(c *store.LaunchConfig, v string) { c.Metadata = []store.KV{{Key: v, Value: "x"}} })},
		{"metadata value", "metadata.value", store.MaxPropertyValue, config(func(c *store.LaunchConfig, v string) { c.Metadata = []store.KV{{Key: "k", Value: v}} })},
		{"policy name", "name", store.MaxName, pol(func(p *store.ScalePolicy, v string) { p.Name = v })},
		{"policy description", "description", store.MaxDescription, pol(func(p *store.ScalePolicy, v string) { p.Description = v })},
		{"policy version", "version", store.MaxVersion, pol(func(p *store.ScalePolicy, v string) { p.Version = v })},
		{"policy type", "type", store.MaxPolicyType, pol(func(p *store.ScalePolicy, v string) { p.Type = v })},
		{"group region", "regions", store.MaxRegion, func(t *testing.T, s *store.SQL, key, v string) error {
			_, err := s.CreatePolicy(ctx, policy("p-"+key))
			require.NoError(t, err)
			_, err = s.CreateLaunchConfig(ctx, launchConfig("lc-"+key))
			require.NoError(t, err)
			_, err = s.CreateGroup(ctx, store.NodeGroup{Name: "g-" + key, Regions: []string{v}, LaunchConfig: "lc-" + key, ScalePolicy: "p-" + key})
			return err
		}},
		{"node id", "id", store.MaxNodeID, node(func(n *store.Node, v string) { n.ID = v })},
		{"node group", "group", store.MaxName, node(func(n *store.Node, v string) { n.Group = v })},
		{"node region", "region", store.MaxRegion, node(func(n *store.Node, v string) { n.Region = v })},
		{"node zone", "zone", store.MaxZone, node(func(n *store.Node, v string) { n.Zone = v })},
		{"node version", "version", store.MaxVersion, node(func(n *store.Node, v string) { n.Version = v })},
		{"node parent", "parent", store.MaxParent, node(func(n *store.Node, v string) { n.Parent = v })},
		{"registered region", "region", store.MaxRegion, func(t *testing.T, s *store.SQL, key, v string) error {
			_, err := s.CreateNode(ctx, store.Node{ID: "n-" + key, Role: nodemodel.RoleOrigin}, "registered")
			require.NoError(t, err)
			return s.UpdateNodeInfo(ctx, store.Node{ID: "n-" + key, Region: v})
		}},
		{"transition cause", "cause", store.MaxCause, func(t *testing.T, s *store.SQL, key, v string) error {
			_, err := s.CreateNode(ctx, store.Node{ID: "n-" + key, Role: nodemodel.RoleOrigin}, "registered")
			require.NoError(t, err)
			_, err = s.Transition(ctx, "n-"+key, nodemodel.StateRunning, v)
			return err
		}},
		{"stream node", "nodeId", store.MaxNodeID, func(_ *testing.T, s *store.SQL, key, v string) error {
			return s.PutStream(ctx, store.StreamRecord{Name: "live/" + key, NodeID: v, Protocol: "rtmp"})
		}},
		{"stream protocol", "protocol", store.MaxProtocol, func(_ *testing.T, s *store.SQL, key, v string) error {
			return s.PutStream(ctx, store.StreamRecord{Name: "live/" + key, NodeID: "n1", Protocol: v})
		}},
		{"stream name", "name", store.MaxStreamName, func(_ *testing.T, s *store.SQL, _, v string) error {
			return s.PutStream(ctx, store.StreamRecord{Name: v, NodeID: "n1", Protocol: "rtmp"})
		}},
		{"lease holder", "holder", store.MaxHolder, func(_ *testing.T, s *store.SQL, key, v string) error {
			_, err := s.AcquireLease(ctx, "autoscaler/"+key, v, time.Minute)
			return err
		}},
		{"lease name", "lease", store.MaxLeaseName, func(_ *testing.T, s *store.SQL, _, v string) error {
			_, err := s.AcquireLease(ctx, v, "m", time.Minute)
			return err
		}},
		{"scale event reason", "reason", store.MaxReason, func(_ *testing.T, s *store.SQL, key, v string) error {
			_, err := s.AddScaleEvent(ctx, store.ScaleEvent{Group: "g-" + key, Role: "edge", Action: "drain", Reason: v})
			return err
		}},
		{"scale event manager", "manager", store.MaxHolder, func(_ *testing.T, s *store.SQL, key, v string) error {
			_, err := s.AddScaleEvent(ctx, store.ScaleEvent{Group: "g-" + key, Role: "edge", Action: "drain", Manager: v})
			return err
		}},
	}
}

// TestValuesAtTheLimitAreKept: a value as long as the store accepts is kept on both engines. Before the
// MySQL columns were widened, a 128-byte node id, version or region or a 1024-byte image failed there with
// "Data too long" while SQLite kept it.
func TestValuesAtTheLimitAreKept(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		for i, c := range limitedFields() {
			t.Run(c.name, func(t *testing.T) {
				require.NoError(t, c.write(t, s, fmt.Sprint(i), strings.Repeat("a", c.limit)))
			})
		}
		cs, err := s.ListLaunchConfigs(context.Background())
		require.NoError(t, err)
		for _, c := range cs {
			if c.Name == "lc-2" {
				require.Len(t, c.Image, store.MaxImage, "kept whole")
			}
		}
		n, err := s.GetNode(context.Background(), strings.Repeat("a", store.MaxNodeID))
		require.NoError(t, err, "a node with the longest id is found again")
		require.Len(t, n.ID, store.MaxNodeID)
	})
}

// TestValuesOverTheLimitAreInvalid: one byte more is refused before the write, alike on both engines, with
// a *FieldError that names the field and its limit and wraps ErrInvalid. Before, SQLite kept the value and
// MySQL failed with an error the API could only answer 500 to.
func TestValuesOverTheLimitAreInvalid(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		for i, c := range limitedFields() {
			t.Run(c.name, func(t *testing.T) {
				err := c.write(t, s, fmt.Sprint(i), strings.Repeat("a", c.limit+1))
				require.ErrorIs(t, err, store.ErrInvalid)
				var fe *store.FieldError
				require.ErrorAs(t, err, &fe)
				require.Equal(t, store.FieldError{Field: c.field, Limit: c.limit, Len: c.limit + 1}, *fe)
				require.Contains(t, err.Error(), c.field)
				require.Less(t, len(err.Error()), 300, "the refused value is not repeated whole")
			})
		}
	})
}

// TestIssueTenValues: the values of the hardening report, which the API accepted and MySQL refused with a
// 500, are kept on both engines (a 65-byte version, a 100-byte node id, a 300-byte image, a 100-byte
// region) or refused on both with ErrInvalid (a 70,000-byte description).
func TestIssueTenValues(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		c := launchConfig("issue10")
		c.Version, c.Image = strings.Repeat("v", 65), strings.Repeat("i", 300)
		_, err := s.CreateLaunchConfig(ctx, c)
		require.NoError(t, err)
		_, err = s.CreateNode(ctx, store.Node{ID: strings.Repeat("n", 100), Role: nodemodel.RoleEdge,
			Region: strings.Repeat("r", 100)}, "registered")
		require.NoError(t, err)

		c = launchConfig("issue10-description")
		c.Description = strings.Repeat("d", 70000)
		_, err = s.CreateLaunchConfig(ctx, c)
		var fe *store.FieldError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, "description", fe.Field)
		_, err = s.GetLaunchConfig(ctx, "issue10-description")
		require.ErrorIs(t, err, store.ErrNotFound, "nothing was written")
	})
}
