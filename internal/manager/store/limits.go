package store

// The longest value, in bytes, the store keeps in each string field. They are the one statement of these
// limits: the store checks them before it writes (so SQLite and MySQL refuse the same values, with a
// *FieldError, instead of MySQL failing with "Data too long"), the MySQL columns are at least this wide
// (migrations/mysql; a test compares them), and the API validates against them. A limit counts bytes, which
// are never fewer than the characters a VARCHAR counts.
const (
	// MaxName bounds the names of scale policies, launch configurations and node groups, and a node's group.
	MaxName = 128
	// MaxNodeID bounds a node's id, as the node API accepts it.
	MaxNodeID = 128
	// MaxVersion bounds the version of a launch configuration, a scale policy or a node.
	MaxVersion = 128
	// MaxImage bounds a launch configuration's image (a registry reference with a digest fits).
	MaxImage = 1024
	// MaxDescription bounds the description of a scale policy or a launch configuration.
	MaxDescription = maxText
	// MaxPolicyType bounds a scale policy's type.
	MaxPolicyType = 255
	// MaxRegion and MaxZone bound a node's region and zone and the regions of a node group.
	MaxRegion = 128
	MaxZone   = 128
	// MaxInstanceType bounds a launch target's instance type.
	MaxInstanceType = 128
	// MaxPropertyKey and MaxPropertyValue bound each property and metadata entry of a launch configuration.
	MaxPropertyKey   = 255
	MaxPropertyValue = maxText
	// MaxRole and MaxState bound a role and a lifecycle state (nodemodel's names are far shorter).
	MaxRole  = 32
	MaxState = 32
	// MaxParent bounds the parent a node was assigned.
	MaxParent = 255
	// MaxCause bounds the cause of a node's lifecycle event; MaxReason the reason of a scaling event.
	MaxCause  = maxText
	MaxReason = maxText
	// MaxStreamName bounds "<app>/<stream>" (two names of up to 128 bytes and the slash fit).
	MaxStreamName = 300
	// MaxProtocol bounds the protocol a stream arrived by.
	MaxProtocol = 32
	// MaxLeaseName bounds a lease's name (an indexed column); MaxHolder the manager holding it or logging a
	// scaling event (host, address and process id).
	MaxLeaseName = 190
	MaxHolder    = 512
	// MaxAction bounds a scaling event's action.
	MaxAction = 32
	// MaxJSON bounds a value the store keeps encoded as JSON or as a list: targets, properties, metadata,
	// regions, a node's addresses and load report, the nodes of a scaling event.
	MaxJSON = 4 << 20
)

// maxText is what a MySQL TEXT column holds.
const maxText = 1<<16 - 1

// field is one value to check against its limit before a write.
type field struct {
	name  string
	value string
	limit int
}

// checkFields returns a *FieldError for the first value longer than its limit.
func checkFields(fs ...field) error {
	for _, f := range fs {
		if len(f.value) > f.limit {
			return &FieldError{Field: f.name, Limit: f.limit, Len: len(f.value)}
		}
	}
	return nil
}

func checkPolicy(p ScalePolicy, targets string) error {
	fs := []field{
		{"name", p.Name, MaxName}, {"description", p.Description, MaxDescription},
		{"type", p.Type, MaxPolicyType}, {"version", p.Version, MaxVersion}, {"targets", targets, MaxJSON},
	}
	for _, t := range p.Targets {
		fs = append(fs, field{"targets.role", string(t.Role), MaxRole})
	}
	return checkFields(fs...)
}

func checkConfig(c LaunchConfig, targets, props, meta string) error {
	fs := []field{
		{"name", c.Name, MaxName}, {"description", c.Description, MaxDescription}, {"image", c.Image, MaxImage},
		{"version", c.Version, MaxVersion}, {"targets", targets, MaxJSON}, {"properties", props, MaxJSON},
		{"metadata", meta, MaxJSON},
	}
	for _, t := range c.Targets {
		fs = append(fs, field{"targets.role", string(t.Role), MaxRole}, field{"targets.instanceType", t.InstanceType, MaxInstanceType})
	}
	for _, kv := range c.Properties {
		fs = append(fs, field{"properties.key", kv.Key, MaxPropertyKey}, field{"properties.value", kv.Value, MaxPropertyValue})
	}
	for _, kv := range c.Metadata {
		fs = append(fs, field{"metadata.key", kv.Key, MaxPropertyKey}, field{"metadata.value", kv.Value, MaxPropertyValue})
	}
	return checkFields(fs...)
}

func checkGroup(g NodeGroup, regions string) error {
	fs := []field{
		{"name", g.Name, MaxName}, {"launchConfig", g.LaunchConfig, MaxName}, {"scalePolicy", g.ScalePolicy, MaxName},
		{"regions", regions, MaxJSON},
	}
	for _, r := range g.Regions {
		fs = append(fs, field{"regions", r, MaxRegion})
	}
	return checkFields(fs...)
}

func checkNode(n Node, addrs, stats string) error {
	return checkFields(
		field{"id", n.ID, MaxNodeID}, field{"group", n.Group, MaxName}, field{"role", string(n.Role), MaxRole},
		field{"state", string(n.State), MaxState}, field{"region", n.Region, MaxRegion}, field{"zone", n.Zone, MaxZone},
		field{"version", n.Version, MaxVersion}, field{"addresses", addrs, MaxJSON}, field{"parent", n.Parent, MaxParent},
		field{"stats", stats, MaxJSON},
	)
}

// clip shortens a value for an error message: a refused value may be far too long to repeat.
func clip(s string) string {
	const most = 40
	if len(s) <= most {
		return s
	}
	return s[:most] + "…"
}
