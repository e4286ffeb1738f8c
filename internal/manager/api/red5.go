package api

// The Red5 Pro Stream Manager 3.1 API's own JSON shapes, and their conversion from and to the store's
// records. The calls are in the file of each resource (policies.go, launchconfigs.go, groups.go …).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// flexInt is an integer that Red5 clients send as a JSON number (1) or as a numeric string ("1").
// Anything else — "abc", 1.5, true, or a value outside 32 bits (Red5 is Java, its counts are ints) — is
// refused with an error that names the field.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // like a missing field
	}
	text, desc := string(b), ""
	switch b[0] {
	case '"':
		if err := json.Unmarshal(b, &text); err != nil {
			return err
		}
		desc = "string " + strconv.Quote(clip(text))
	case 't', 'f':
		desc = "bool"
	case '{':
		desc = "object"
	case '[':
		desc = "array"
	default:
		desc = "number " + clip(text)
	}
	v, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			desc += " (out of the 32-bit integer range)"
		}
		// the decoder fills in the field's path ("policy.targets.target.maxLimit")
		return &json.UnmarshalTypeError{Value: desc, Type: reflect.TypeFor[int]()}
	}
	*n = flexInt(v)
	return nil
}

// ---- scale policies ----

// red5Policy is a scale policy as Red5 clients send it: targets either as targets.target[] or, per
// region, as targets.region[].target[].
type red5Policy struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Type        string `json:"type"`
	Version     string `json:"version"`
	Targets     struct {
		Target []red5PolicyTarget `json:"target"`
		Region []struct {
			Name   string             `json:"name"`
			Target []red5PolicyTarget `json:"target"`
		} `json:"region"`
	} `json:"targets"`
}

type red5PolicyTarget struct {
	Role                nodemodel.Role `json:"role"`
	MinLimit            flexInt        `json:"minLimit"`
	MaxLimit            flexInt        `json:"maxLimit"`
	ScaleAdjustment     flexInt        `json:"scaleAdjustment"`
	EstimatedWarmUpTime flexInt        `json:"estimatedWarmUpTime"`
	CoolDownPeriod      flexInt        `json:"coolDownPeriod"`
}

// model turns the Red5 form into nagare's policy. nagare's limits are per role, not per region, so
// regions that disagree about a role are refused rather than silently merged. Warm-up and cool-down are
// per policy in nagare: the longest given for any role applies.
func (p *red5Policy) model() (store.ScalePolicy, error) {
	out := store.ScalePolicy{Name: p.Name, Description: p.Description, Type: p.Type, Version: p.Version}
	type source struct {
		region  string
		targets []red5PolicyTarget
	}
	sources := []source{{"", p.Targets.Target}}
	for _, r := range p.Targets.Region {
		sources = append(sources, source{r.Name, r.Target})
	}
	where := func(region string) string {
		if region == "" {
			return "targets.target"
		}
		return fmt.Sprintf("region %q", clip(region))
	}
	from := map[nodemodel.Role]string{} // role → where its limits were first given
	var warm, cool flexInt
	for _, src := range sources {
		inThis := map[nodemodel.Role]bool{}
		for _, t := range src.targets {
			l := store.RoleLimits{Role: t.Role, MinLimit: int(t.MinLimit), MaxLimit: int(t.MaxLimit), ScaleAdjustment: int(t.ScaleAdjustment)}
			if t.EstimatedWarmUpTime < 0 || t.CoolDownPeriod < 0 {
				return out, invalid("scale policy %q: %s estimatedWarmUpTime and coolDownPeriod must not be negative", clip(p.Name), clip(t.Role))
			}
			warm, cool = max(warm, t.EstimatedWarmUpTime), max(cool, t.CoolDownPeriod)
			if inThis[t.Role] {
				return out, invalid("scale policy %q: role %s appears twice in %s", clip(p.Name), clip(t.Role), where(src.region))
			}
			inThis[t.Role] = true
			if prev, ok := out.Limits(t.Role); ok {
				if prev != l {
					return out, invalid("scale policy %q: %s limits differ between %s (min %d, max %d, step %d) and %s (min %d, max %d, step %d); "+
						"nagare's limits are per role, so every region must give the same", clip(p.Name), t.Role,
						from[t.Role], prev.MinLimit, prev.MaxLimit, prev.ScaleAdjustment, where(src.region), l.MinLimit, l.MaxLimit, l.ScaleAdjustment)
				}
				continue
			}
			from[t.Role] = where(src.region)
			out.Targets = append(out.Targets, l)
		}
	}
	out.WarmUp, out.CoolDown = msDuration(int(warm)), msDuration(int(cool))
	return out, nil
}

// red5PolicyOut is a scale policy as Red5 answers it: targets.target[] with numbers as numbers.
type red5PolicyOut struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Type        string `json:"type"`
	Version     string `json:"version"`
	Targets     struct {
		Target []red5PolicyTargetOut `json:"target"`
	} `json:"targets"`
}

type red5PolicyTargetOut struct {
	Role                nodemodel.Role `json:"role"`
	MinLimit            int            `json:"minLimit"`
	MaxLimit            int            `json:"maxLimit"`
	ScaleAdjustment     int            `json:"scaleAdjustment"`
	EstimatedWarmUpTime int64          `json:"estimatedWarmUpTime,omitempty"`
	CoolDownPeriod      int64          `json:"coolDownPeriod,omitempty"`
}

func red5PolicyOf(p store.ScalePolicy) red5PolicyOut {
	out := red5PolicyOut{Name: p.Name, Description: p.Description, Type: p.Type, Version: p.Version}
	out.Targets.Target = make([]red5PolicyTargetOut, len(p.Targets))
	for i, t := range p.Targets {
		out.Targets.Target[i] = red5PolicyTargetOut{Role: t.Role, MinLimit: t.MinLimit, MaxLimit: t.MaxLimit,
			ScaleAdjustment: t.ScaleAdjustment, EstimatedWarmUpTime: p.WarmUp.Milliseconds(), CoolDownPeriod: p.CoolDown.Milliseconds()}
	}
	return out
}

// ---- launch configurations ----

type red5LaunchConfig struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Image       string `json:"image"`
	Version     string `json:"version"`
	Targets     struct {
		Target []red5LaunchTarget `json:"target"`
	} `json:"targets"`
	Properties struct {
		Property []red5KV `json:"property"`
	} `json:"properties"`
	Metadata struct {
		Meta []red5KV `json:"meta"`
	} `json:"metadata"`
}

type red5LaunchTarget struct {
	Role               nodemodel.Role `json:"role"`
	InstanceType       string         `json:"instanceType"`
	ConnectionCapacity flexInt        `json:"connectionCapacity"`
}

// red5KV is a property ({"name","value"} in Red5's documentation, {"key","value"} in some clients) or a
// metadata entry ({"key","value"}).
type red5KV struct {
	Name  string `json:"name,omitempty"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value"`
}

func kvs(config, list string, in []red5KV) ([]store.KV, error) {
	out := make([]store.KV, 0, len(in))
	for i, kv := range in {
		k := kv.Key
		switch {
		case kv.Name != "" && kv.Key != "" && kv.Name != kv.Key:
			return nil, invalid("launch config %q: %s[%d] has both name %q and key %q", clip(config), list, i, clip(kv.Name), clip(kv.Key))
		case kv.Name != "":
			k = kv.Name
		case k == "":
			return nil, invalid("launch config %q: %s[%d] has no name", clip(config), list, i)
		}
		out = append(out, store.KV{Key: k, Value: kv.Value})
	}
	return out, nil
}

func (c *red5LaunchConfig) model() (store.LaunchConfig, error) {
	out := store.LaunchConfig{Name: c.Name, Description: c.Description, Image: c.Image, Version: c.Version}
	for _, t := range c.Targets.Target {
		out.Targets = append(out.Targets, store.LaunchTarget{Role: t.Role, InstanceType: t.InstanceType, ConnectionCapacity: int(t.ConnectionCapacity)})
	}
	var err error
	if out.Properties, err = kvs(c.Name, "properties.property", c.Properties.Property); err != nil {
		return out, err
	}
	out.Metadata, err = kvs(c.Name, "metadata.meta", c.Metadata.Meta)
	return out, err
}

type red5LaunchConfigOut struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Image       string `json:"image"`
	Version     string `json:"version"`
	Targets     struct {
		Target []red5LaunchTargetOut `json:"target"`
	} `json:"targets"`
	Properties struct {
		Property []red5Property `json:"property"`
	} `json:"properties"`
	Metadata struct {
		Meta []red5Meta `json:"meta"`
	} `json:"metadata"`
}

type red5Meta struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type red5LaunchTargetOut struct {
	Role               nodemodel.Role `json:"role"`
	InstanceType       string         `json:"instanceType"`
	ConnectionCapacity int            `json:"connectionCapacity"`
}

type red5Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func red5LaunchConfigOf(c store.LaunchConfig) red5LaunchConfigOut {
	out := red5LaunchConfigOut{Name: c.Name, Description: c.Description, Image: c.Image, Version: c.Version}
	out.Targets.Target = make([]red5LaunchTargetOut, len(c.Targets))
	for i, t := range c.Targets {
		out.Targets.Target[i] = red5LaunchTargetOut{Role: t.Role, InstanceType: t.InstanceType, ConnectionCapacity: t.ConnectionCapacity}
	}
	out.Properties.Property = convertAll(c.Properties, func(p store.KV) red5Property { return red5Property{Name: p.Key, Value: p.Value} })
	out.Metadata.Meta = convertAll(c.Metadata, func(m store.KV) red5Meta { return red5Meta{Key: m.Key, Value: m.Value} })
	return out
}

// ---- node groups and nodes ----

type red5GroupIn struct {
	Name         string   `json:"name"`
	Regions      []string `json:"regions"`
	LaunchConfig string   `json:"launchConfig"`
	ScalePolicy  string   `json:"scalePolicy"`
}

type red5Group struct {
	ID                int64    `json:"id"`
	Name              string   `json:"name"`
	OriginConnections int      `json:"originConnections"`
	Regions           []string `json:"regions"`
	LaunchConfig      string   `json:"launchConfig"`
	ScalePolicy       string   `json:"scalePolicy"`
	Timestamp         int64    `json:"timestamp"`
}

func red5GroupOf(g store.NodeGroup) red5Group {
	regions := g.Regions
	if regions == nil {
		regions = []string{}
	}
	return red5Group{ID: g.ID, Name: g.Name, Regions: regions, LaunchConfig: g.LaunchConfig, ScalePolicy: g.ScalePolicy,
		Timestamp: g.CreatedAt.UnixMilli()}
}

// red5Node is a node as Red5 lists it, plus nagare's group, region and client addresses.
type red5Node struct {
	Identifier       string             `json:"identifier"`
	Role             nodemodel.Role     `json:"role"`
	AvailabilityZone string             `json:"availabilityZone"`
	Address          string             `json:"address"`
	Hostname         string             `json:"hostname"`
	State            nodemodel.State    `json:"state"`
	LaunchConfig     string             `json:"launchConfig"`
	Capacity         int                `json:"capacity"`
	Group            string             `json:"group"`
	Region           string             `json:"region"`
	Addresses        apitypes.Addresses `json:"addresses"`
}

func red5NodeOf(n store.Node, g store.NodeGroup) red5Node {
	zone := n.Zone
	if zone == "" {
		zone = n.Region
	}
	host := ""
	for _, a := range []string{n.Addresses.RTMP, n.Addresses.HTTP, n.Addresses.SRT} {
		if a != "" {
			host = hostOf(a)
			break
		}
	}
	return red5Node{Identifier: n.ID, Role: n.Role, AvailabilityZone: zone, Address: host, Hostname: host, State: n.State,
		LaunchConfig: g.LaunchConfig, Capacity: n.Capacity, Group: n.Group, Region: n.Region, Addresses: addressesToAPI(n.Addresses)}
}

// ---- stream events ----

// red5Event is the answer of /event/<scope>/<stream>: Red5's four fields, then nagare's port and URLs.
type red5Event struct {
	Name          string `json:"name"`
	Scope         string `json:"scope"`
	ServerAddress string `json:"serverAddress"`
	Region        string `json:"region"`
	Port          int    `json:"port,omitempty"`
	NodeID        string `json:"nodeId"`
	RTMPURL       string `json:"rtmpUrl,omitempty"`
	RTMPSURL      string `json:"rtmpsUrl,omitempty"`
	SRTURL        string `json:"srtUrl,omitempty"`
	HLSURL        string `json:"hlsUrl,omitempty"`
	WHIPURL       string `json:"whipUrl,omitempty"`
	WHEPURL       string `json:"whepUrl,omitempty"`
}

// serverOf returns the host and port of the first non-empty address.
func serverOf(addrs ...string) (string, int) {
	for _, a := range addrs {
		if a == "" {
			continue
		}
		h, p, err := net.SplitHostPort(a)
		if err != nil {
			return a, 0
		}
		port, _ := strconv.Atoi(p)
		return h, port
	}
	return "", 0
}
