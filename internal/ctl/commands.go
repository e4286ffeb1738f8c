package ctl

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
)

// p builds an API path, escaping each name.
func p(prefix string, names ...string) string {
	for _, n := range names {
		prefix += "/" + url.PathEscape(n)
	}
	return prefix
}

// remove deletes an object and says so.
func remove(e *env, kind, path, name string) error {
	if err := e.client.do(e.ctx, http.MethodDelete, path, nil, nil); err != nil {
		return err
	}
	if !e.json {
		fmt.Fprintf(e.stdout, "%s %q deleted\n", kind, name)
	}
	return nil
}

// ---- scale policies ----

func policyCreate(e *env, args []string) error {
	fs := e.flags()
	var b apitypes.ScalePolicy
	var targets policyTargets
	fs.StringVar(&b.Name, "name", "", "policy `name` (required)")
	fs.StringVar(&b.Description, "description", "", "free text")
	fs.Var(&targets, "target", "`ROLE:MIN:MAX[:STEP]`: keep MIN to MAX nodes of ROLE, adding STEP at a time (repeatable, required)")
	warm := fs.Duration("warmup", 0, "how long a new node may take to enter service (e.g. 150s)")
	cool := fs.Duration("cooldown", 0, "how long load must stay low before a scale-in (e.g. 3m)")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(e.cmd.name, [2]string{"name", b.Name}); err != nil {
		return err
	}
	if len(targets) == 0 {
		return usagef("%s: at least one --target ROLE:MIN:MAX[:STEP] is required", e.cmd.name)
	}
	if *warm < 0 || *cool < 0 {
		return usagef("%s: --warmup and --cooldown must not be negative", e.cmd.name)
	}
	b.Targets, b.WarmUpMS, b.CoolDownMS = targets, warm.Milliseconds(), cool.Milliseconds()
	return show(e, http.MethodPost, "/api/v1/scalepolicies", b, func(w io.Writer, v apitypes.ScalePolicy) error {
		_, err := fmt.Fprintf(w, "scale policy %q created\n", v.Name)
		return err
	})
}

func policyList(e *env, args []string) error {
	if _, err := e.parse(e.flags(), args); err != nil {
		return err
	}
	return show(e, http.MethodGet, "/api/v1/scalepolicies", nil, func(w io.Writer, ps []apitypes.ScalePolicy) error {
		t := newTable(w, "NAME", "TARGETS", "WARMUP", "COOLDOWN", "DESCRIPTION")
		for _, x := range ps {
			t.row(x.Name, policyTargetsText(x.Targets), ms(x.WarmUpMS), ms(x.CoolDownMS), x.Description)
		}
		return t.flush()
	})
}

func policyTargetsText(ts []apitypes.RoleLimits) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = fmt.Sprintf("%s %d-%d (+%d)", t.Role, t.MinLimit, t.MaxLimit, t.ScaleAdjustment)
	}
	return strings.Join(s, ", ")
}

func ms(n int64) string {
	if n == 0 {
		return "-"
	}
	return (time.Duration(n) * time.Millisecond).String()
}

func policyGet(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME")
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, p("/api/v1/scalepolicies", pos[0]), nil, func(w io.Writer, x apitypes.ScalePolicy) error {
		if err := fields(w, "Name", x.Name, "Description", orDash(x.Description), "Warm-up", ms(x.WarmUpMS),
			"Cool-down", ms(x.CoolDownMS), "Created", stamp(x.CreatedAt), "Updated", stamp(x.UpdatedAt)).flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		t := newTable(w, "ROLE", "MIN", "MAX", "STEP")
		for _, r := range x.Targets {
			t.row(r.Role, r.MinLimit, r.MaxLimit, r.ScaleAdjustment)
		}
		return t.flush()
	})
}

func policyDelete(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME")
	if err != nil {
		return err
	}
	return remove(e, "scale policy", p("/api/v1/scalepolicies", pos[0]), pos[0])
}

// ---- launch configurations ----

func configCreate(e *env, args []string) error {
	fs := e.flags()
	var c apitypes.LaunchConfig
	var targets launchTargets
	var meta keyValues
	fs.StringVar(&c.Name, "name", "", "launch configuration `name` (required)")
	fs.StringVar(&c.Image, "image", "", "the `image` nodes start from (required)")
	fs.StringVar(&c.Version, "version", "", "free-form version")
	fs.StringVar(&c.Description, "description", "", "free text")
	fs.Var(&targets, "target", "`ROLE:INSTANCETYPE:CAPACITY`: how to start nodes of ROLE and how many connections each takes (repeatable, required)")
	fs.Var(&meta, "meta", "metadata `key=value` (repeatable)")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(e.cmd.name, [2]string{"name", c.Name}, [2]string{"image", c.Image}); err != nil {
		return err
	}
	if len(targets) == 0 {
		return usagef("%s: at least one --target ROLE:INSTANCETYPE:CAPACITY is required", e.cmd.name)
	}
	c.Targets, c.Metadata = targets, meta
	return show(e, http.MethodPost, "/api/v1/launchconfigs", c, func(w io.Writer, v apitypes.LaunchConfig) error {
		_, err := fmt.Fprintf(w, "launch config %q created\n", v.Name)
		return err
	})
}

func configList(e *env, args []string) error {
	if _, err := e.parse(e.flags(), args); err != nil {
		return err
	}
	return show(e, http.MethodGet, "/api/v1/launchconfigs", nil, func(w io.Writer, cs []apitypes.LaunchConfig) error {
		t := newTable(w, "NAME", "IMAGE", "VERSION", "TARGETS", "CREATED")
		for _, c := range cs {
			ts := make([]string, len(c.Targets))
			for i, x := range c.Targets {
				ts[i] = fmt.Sprintf("%s %s ×%d", x.Role, x.InstanceType, x.ConnectionCapacity)
			}
			t.row(c.Name, c.Image, c.Version, strings.Join(ts, ", "), stamp(c.CreatedAt))
		}
		return t.flush()
	})
}

func configGet(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME")
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, p("/api/v1/launchconfigs", pos[0]), nil, func(w io.Writer, c apitypes.LaunchConfig) error {
		if err := fields(w, "Name", c.Name, "Description", orDash(c.Description), "Image", c.Image,
			"Version", orDash(c.Version), "Metadata", kvText(c.Metadata), "Properties", kvText(c.Properties),
			"Created", stamp(c.CreatedAt), "Updated", stamp(c.UpdatedAt)).flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		t := newTable(w, "ROLE", "INSTANCE TYPE", "CAPACITY")
		for _, x := range c.Targets {
			t.row(x.Role, x.InstanceType, x.ConnectionCapacity)
		}
		return t.flush()
	})
}

func kvText(kvs []apitypes.KV) string {
	s := make([]string, len(kvs))
	for i, kv := range kvs {
		s[i] = kv.Key + "=" + kv.Value
	}
	return orDash(strings.Join(s, ", "))
}

func configDelete(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME")
	if err != nil {
		return err
	}
	return remove(e, "launch config", p("/api/v1/launchconfigs", pos[0]), pos[0])
}

// ---- node groups ----

func groupCreate(e *env, args []string) error {
	fs := e.flags()
	var g apitypes.NewNodeGroup
	var regions stringList
	fs.StringVar(&g.Name, "name", "", "group `name` (default: one the manager makes up)")
	fs.StringVar(&g.LaunchConfig, "config", "", "launch configuration `name` (required)")
	fs.StringVar(&g.ScalePolicy, "policy", "", "scale policy `name` (required)")
	fs.Var(&regions, "region", "a `region` the group runs in (repeatable)")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(e.cmd.name, [2]string{"config", g.LaunchConfig}, [2]string{"policy", g.ScalePolicy}); err != nil {
		return err
	}
	g.Regions = append([]string{}, regions...)
	return show(e, http.MethodPost, "/api/v1/nodegroups", g, func(w io.Writer, v apitypes.NodeGroup) error {
		_, err := fmt.Fprintf(w, "node group %q created\n", v.Name)
		return err
	})
}

func groupList(e *env, args []string) error {
	if _, err := e.parse(e.flags(), args); err != nil {
		return err
	}
	return show(e, http.MethodGet, "/api/v1/nodegroups", nil, func(w io.Writer, gs []apitypes.NodeGroup) error {
		t := newTable(w, "NAME", "CONFIG", "POLICY", "REGIONS", "CREATED")
		for _, g := range gs {
			t.row(g.Name, g.LaunchConfig, g.ScalePolicy, strings.Join(g.Regions, ","), stamp(g.CreatedAt))
		}
		return t.flush()
	})
}

func groupGet(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME")
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, p("/api/v1/nodegroups", pos[0]), nil, func(w io.Writer, g apitypes.NodeGroup) error {
		return fields(w, "Name", g.Name, "ID", strconv.FormatInt(g.ID, 10), "Launch config", g.LaunchConfig,
			"Scale policy", g.ScalePolicy, "Regions", orDash(strings.Join(g.Regions, ", ")), "Created", stamp(g.CreatedAt)).flush()
	})
}

func groupDelete(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME")
	if err != nil {
		return err
	}
	return remove(e, "node group", p("/api/v1/nodegroups", pos[0]), pos[0])
}

func groupNodes(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME")
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, p("/api/v1/nodegroups", pos[0], "nodes"), nil, nodeTable)
}

// groupUpgrade changes the group's launch configuration (its nagare.version property, its image, the
// rollout's surge): the autoscaler then replaces the nodes that no longer match, one step at a time.
func groupUpgrade(e *env, args []string) error {
	fs := e.flags()
	version := fs.String("version", "", "the nagare `version` the nodes must run")
	image := fs.String("image", "", "the `image` new nodes start from")
	surge := fs.Int("max-surge", 0, "how many `nodes` of a role to launch ahead at once (default: unchanged, 1 when never set)")
	pos, err := e.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	if *version == "" && *image == "" {
		return usagef("%s: give --version, --image or both", e.cmd.name)
	}
	var g apitypes.NodeGroup
	if err := e.client.do(e.ctx, http.MethodGet, p("/api/v1/nodegroups", pos[0]), nil, &g); err != nil {
		return err
	}
	var c apitypes.LaunchConfig
	if err := e.client.do(e.ctx, http.MethodGet, p("/api/v1/launchconfigs", g.LaunchConfig), nil, &c); err != nil {
		return err
	}
	set := func(key, value string) {
		for i, kv := range c.Properties {
			if kv.Key == key {
				c.Properties[i].Value = value
				return
			}
		}
		c.Properties = append(c.Properties, apitypes.KV{Key: key, Value: value})
	}
	if *version != "" {
		set(apitypes.VersionProperty, *version)
	}
	if *surge > 0 {
		set(apitypes.MaxSurgeProperty, strconv.Itoa(*surge))
	}
	if *image != "" {
		c.Image = *image
	}
	if err := e.client.do(e.ctx, http.MethodPut, p("/api/v1/launchconfigs", c.Name), c, nil); err != nil {
		return err
	}
	if !e.json {
		fmt.Fprintf(e.stdout, "launch config %q updated: group %q rolls over (nagare ctl group rollout %s)\n", c.Name, g.Name, g.Name)
	}
	return nil
}

func groupRollout(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME")
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, p("/api/v1/nodegroups", pos[0], "rollout"), nil, func(w io.Writer, r apitypes.Rollout) error {
		state := "in progress"
		if r.Done {
			state = "done"
		}
		if err := fields(w, "Group", r.Group, "Launch config", r.LaunchConfig, "Version", orDash(r.Version),
			"Image", orDash(r.Image), "Rollout", state).flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		t := newTable(w, "ROLE", "CURRENT", "OUTDATED", "LAUNCHING", "DRAINING", "OUTDATED NODES")
		for _, x := range r.Roles {
			t.row(x.Role, x.Current, x.Outdated, x.Launching, x.Draining, orDash(strings.Join(x.Nodes, ", ")))
		}
		if err := t.flush(); err != nil {
			return err
		}
		if len(r.Events) > 0 {
			fmt.Fprintln(w)
			t = newTable(w, "AT", "ROLE", "STEP")
			for _, ev := range r.Events {
				t.row(stamp(ev.At), ev.Role, ev.Reason)
			}
			return t.flush()
		}
		return nil
	})
}

// groupLaunch asks the autoscaler for one more node now. At the role's maxLimit the manager answers with
// a launch still on its way into service, if there is one, rather than launching past the limit.
func groupLaunch(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "NAME", "ROLE")
	if err != nil {
		return err
	}
	return show(e, http.MethodPost, p("/api/v1/nodegroups", pos[0], "nodes", pos[1]), nil, func(w io.Writer, n apitypes.Node) error {
		return nodeTable(w, []apitypes.Node{n})
	})
}

// ---- nodes ----

func nodesList(e *env, args []string) error {
	fs := e.flags()
	grp := fs.String("group", "", "only the nodes of this `group`")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	path := "/api/v1/nodes"
	if *grp != "" {
		path += "?" + url.Values{"group": {*grp}}.Encode()
	}
	return show(e, http.MethodGet, path, nil, nodeTable)
}

func nodeTable(w io.Writer, ns []apitypes.Node) error {
	now := time.Now()
	t := newTable(w, "ID", "ROLE", "STATE", "GROUP", "REGION", "CONNECTIONS", "SUBSCRIBERS", "CAPACITY", "LOAD%", "LAST REPORT")
	for _, n := range ns {
		last := age(n.LastReport, now)
		if !n.LastReport.IsZero() {
			last += " ago"
		}
		t.row(n.ID, n.Role, n.State, n.Group, n.Region, n.Stats.Connections, n.Stats.Subscribers, n.Capacity, load(n), last)
	}
	return t.flush()
}

// load is connections as a share of capacity ("-" when the capacity is unknown).
func load(n apitypes.Node) string {
	if n.Capacity <= 0 {
		return "-"
	}
	return fmt.Sprintf("%d%%", n.Stats.Connections*100/n.Capacity)
}

func nodeGet(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "ID")
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, p("/api/v1/nodes", pos[0]), nil, func(w io.Writer, n apitypes.Node) error {
		st := n.Stats
		last := age(n.LastReport, time.Now())
		if !n.LastReport.IsZero() {
			last += " ago (" + stamp(n.LastReport) + ")"
		}
		return fields(w,
			"ID", n.ID, "Role", string(n.Role), "State", string(n.State), "Group", orDash(n.Group),
			"Region", orDash(n.Region), "Zone", orDash(n.Zone), "Version", orDash(n.Version),
			"RTMP", orDash(n.Addresses.RTMP), "SRT", orDash(n.Addresses.SRT), "HTTP", orDash(n.Addresses.HTTP),
			"Parent", orDash(n.Parent), "Capacity", strconv.Itoa(n.Capacity), "Load", load(n),
			"Connections", fmt.Sprintf("%d (%d publishers, %d subscribers)", st.Connections, st.Publishers, st.Subscribers),
			"CPU", fmt.Sprintf("%.1f%%", st.CPUPercent),
			"Memory", fmt.Sprintf("%s (%.1f%%)", bytesIEC(st.MemoryBytes), st.MemoryUsedPercent),
			"Traffic", fmt.Sprintf("%s in, %s out", bytesIEC(st.BytesIn), bytesIEC(st.BytesOut)),
			"Streams", orDash(strings.Join(st.Streams, ", ")),
			"Last report", last, "Created", stamp(n.CreatedAt),
		).flush()
	})
}

func nodeEvents(e *env, args []string) error {
	fs := e.flags()
	limit := limitFlag(fs)
	pos, err := e.parse(fs, args, "ID")
	if err != nil {
		return err
	}
	path, err := withLimit(e, p("/api/v1/nodes", pos[0], "events"), *limit)
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, path, nil, eventTable)
}

func nodeDrain(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "ID")
	if err != nil {
		return err
	}
	return show(e, http.MethodPost, p("/api/v1/nodes", pos[0], "drain"), nil, func(w io.Writer, n apitypes.Node) error {
		_, err := fmt.Fprintf(w, "node %s is %s\n", n.ID, n.State)
		return err
	})
}

func instancesList(e *env, args []string) error {
	if _, err := e.parse(e.flags(), args); err != nil {
		return err
	}
	return show(e, http.MethodGet, "/api/v1/instances", nil, func(w io.Writer, is []apitypes.Instance) error {
		t := newTable(w, "ID", "NODE", "GROUP", "ROLE", "STATE", "ADDRESS", "LAUNCHED", "REASON")
		for _, in := range is {
			t.row(in.ID, in.NodeID, in.Group, in.Role, in.State, in.Address, stamp(in.LaunchedAt), in.Reason)
		}
		return t.flush()
	})
}

// ---- events, streams, alarms ----

func eventsList(e *env, args []string) error {
	fs := e.flags()
	limit := limitFlag(fs)
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	path, err := withLimit(e, "/api/v1/events", *limit)
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, path, nil, eventTable)
}

func scaleEvents(e *env, args []string) error {
	fs := e.flags()
	grp := fs.String("group", "", "only the decisions on this `group`")
	limit := limitFlag(fs)
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	path := "/api/v1/scaleevents"
	if *grp != "" {
		path += "?" + url.Values{"group": {*grp}}.Encode()
	}
	path, err := withLimit(e, path, *limit)
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, path, nil, scaleEventTable)
}

func scaleEventTable(w io.Writer, evs []apitypes.ScaleEvent) error {
	t := newTable(w, "AT", "GROUP", "ROLE", "ACTION", "LOAD%", "PREDICTED%", "NODES", "REASON")
	for _, ev := range evs {
		ld, pr := loadPct(ev.Load), loadPct(ev.Predicted)
		if !measuredActions[ev.Action] && ev.Load == 0 && ev.Predicted == 0 {
			ld, pr = "-", "-"
		}
		t.row(stamp(ev.At), ev.Group, ev.Role, ev.Action, ld, pr, strings.Join(ev.Nodes, ","), ev.Reason)
	}
	return t.flush()
}

// measuredActions are the scale actions that come from a load measurement; the others (a launch through the API,
// a drain finished, a launch given up …) store no load, and a 0 % there would mislead.
var measuredActions = map[string]bool{"minimum": true, "scale-out": true, "scale-in": true, "replace": true}

// loadPct formats a scale event's load, a percentage. The manager stores load that has no node to land on
// (viewers waiting while the role has no node in service) as a huge finite number.
func loadPct(f float64) string {
	if f >= apitypes.InfiniteLoad {
		return "∞"
	}
	return fmt.Sprintf("%.0f%%", f)
}

func limitFlag(fs *flag.FlagSet) *int {
	return fs.Int("limit", 0, "show only the latest N events, 1–1000 (default: the manager's, 100)")
}

func withLimit(e *env, path string, limit int) (string, error) {
	switch {
	case limit == 0:
		return path, nil
	case limit < 1 || limit > 1000:
		return "", usagef("%s: --limit must be between 1 and 1000, not %d", e.cmd.name, limit)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "limit=" + strconv.Itoa(limit), nil
}

func eventTable(w io.Writer, evs []apitypes.NodeEvent) error {
	t := newTable(w, "AT", "NODE", "FROM → TO", "CAUSE")
	for _, ev := range evs {
		from := ev.From
		if from == "" {
			from = "(new)"
		}
		t.row(stamp(ev.At), ev.NodeID, from+" → "+ev.To, ev.Cause)
	}
	return t.flush()
}

func streamsList(e *env, args []string) error {
	if _, err := e.parse(e.flags(), args); err != nil {
		return err
	}
	return show(e, http.MethodGet, "/api/v1/streams", nil, func(w io.Writer, ss []apitypes.Stream) error {
		now := time.Now()
		t := newTable(w, "STREAM", "NODE", "PROTOCOL", "SINCE")
		for _, s := range ss {
			t.row(s.Name, s.NodeID, s.Protocol, fmt.Sprintf("%s (%s)", stamp(s.StartedAt), age(s.StartedAt, now)))
		}
		return t.flush()
	})
}

func alarmsList(e *env, args []string) error {
	if _, err := e.parse(e.flags(), args); err != nil {
		return err
	}
	return show(e, http.MethodGet, "/api/v1/alarms", nil, func(w io.Writer, as []apitypes.AlarmThreshold) error {
		t := newTable(w, "ROLE", "THRESHOLD")
		for _, a := range as {
			t.row(a.Role, strconv.Itoa(a.Threshold)+"%")
		}
		return t.flush()
	})
}

func alarmSet(e *env, args []string) error {
	fs := e.flags()
	role := fs.String("role", "", "the node `role` (required)")
	var pct percent
	fs.Var(&pct, "threshold", "scale out when load reaches this `percent` of capacity, 1–100 (required)")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(e.cmd.name, [2]string{"role", *role}); err != nil {
		return err
	}
	if pct == 0 {
		return usagef("%s: --threshold is required", e.cmd.name)
	}
	body := apitypes.SetThreshold{Threshold: int(pct)}
	return show(e, http.MethodPut, p("/api/v1/alarms", *role), body, func(w io.Writer, a apitypes.AlarmThreshold) error {
		_, err := fmt.Fprintf(w, "%s nodes scale out at %d%% load\n", a.Role, a.Threshold)
		return err
	})
}

// streamStop has the origin of a live stream close its publisher's connection.
func streamStop(e *env, args []string) error {
	pos, err := e.parse(e.flags(), args, "APP/STREAM")
	if err != nil {
		return err
	}
	app, name, err := streamArg(e, pos[0])
	if err != nil {
		return err
	}
	if err := e.client.do(e.ctx, http.MethodDelete, p("/api/v1/streams", app, name, "publisher"), nil, nil); err != nil {
		return err
	}
	if !e.json {
		fmt.Fprintf(e.stdout, "the publisher of %s was stopped (it may publish again with its credentials)\n", pos[0])
	}
	return nil
}

// ---- provisioned ladders ----

// streamArg splits APP/STREAM.
func streamArg(e *env, s string) (app, name string, err error) {
	app, name, ok := strings.Cut(s, "/")
	if !ok || app == "" || name == "" || strings.Contains(name, "/") {
		return "", "", usagef("%s: the stream must be APP/STREAM, not %q", e.cmd.name, s)
	}
	return app, name, nil
}

func ladderTable(w io.Writer, l apitypes.Ladder) error {
	t := newTable(w, "RENDITION", "HEIGHT", "BITRATE", "MAXRATE")
	_, name, _ := strings.Cut(l.Stream, "/")
	for _, r := range l.Rungs {
		maxRate := "1.5×"
		if r.MaxRate > 0 {
			maxRate = strconv.Itoa(r.MaxRate)
		}
		t.row(name+"_"+r.Name, strconv.Itoa(r.Height), strconv.Itoa(r.VideoBitrate), maxRate)
	}
	return t.flush()
}

func ladderSet(e *env, args []string) error {
	fs := e.flags()
	var spec apitypes.LadderSpec
	var rungs ladderRungs
	fs.Var(&rungs, "rung", "`NAME:HEIGHT:BITRATE[:MAXRATE]`: a rendition APP/STREAM_NAME of that picture height and video bit rate in bit/s (repeatable, required)")
	fs.IntVar(&spec.AudioBitrate, "audio-bitrate", 0, "AAC bit rate when the source's audio is not AAC (0: the origin's)")
	pos, err := e.parse(fs, args, "APP/STREAM")
	if err != nil {
		return err
	}
	app, name, err := streamArg(e, pos[0])
	if err != nil {
		return err
	}
	if len(rungs) == 0 {
		return usagef("%s: at least one --rung NAME:HEIGHT:BITRATE is required", e.cmd.name)
	}
	spec.Rungs = rungs
	return show(e, http.MethodPut, p("/api/v1/streams", app, name, "ladder"), spec, ladderTable)
}

// ladderOf parses the APP/STREAM of a command without flags and returns the API path of its ladder.
func ladderOf(e *env, args []string) (path, stream string, err error) {
	pos, err := e.parse(e.flags(), args, "APP/STREAM")
	if err != nil {
		return "", "", err
	}
	app, name, err := streamArg(e, pos[0])
	if err != nil {
		return "", "", err
	}
	return p("/api/v1/streams", app, name, "ladder"), pos[0], nil
}

func ladderGet(e *env, args []string) error {
	path, _, err := ladderOf(e, args)
	if err != nil {
		return err
	}
	return show(e, http.MethodGet, path, nil, ladderTable)
}

func ladderRemove(e *env, args []string) error {
	path, name, err := ladderOf(e, args)
	if err != nil {
		return err
	}
	return remove(e, "ladder of", path, name)
}

func laddersList(e *env, args []string) error {
	if _, err := e.parse(e.flags(), args); err != nil {
		return err
	}
	return show(e, http.MethodGet, "/api/v1/ladders", nil, func(w io.Writer, ls []apitypes.Ladder) error {
		t := newTable(w, "STREAM", "RENDITIONS", "UPDATED")
		for _, l := range ls {
			_, name, _ := strings.Cut(l.Stream, "/")
			var rs []string
			for _, r := range l.Rungs {
				rs = append(rs, fmt.Sprintf("%s_%s (%dp %d)", name, r.Name, r.Height, r.VideoBitrate))
			}
			t.row(l.Stream, strings.Join(rs, ", "), stamp(l.UpdatedAt))
		}
		return t.flush()
	})
}

// ---- routing ----

func routePublish(e *env, args []string) error {
	fs := e.flags()
	grp := fs.String("group", "", "pick an origin of this `group`")
	pos, err := e.parse(fs, args, "APP/STREAM")
	if err != nil {
		return err
	}
	return routeCmd(e, "publish", pos[0], url.Values{"group": {*grp}})
}

func routePlay(e *env, args []string) error {
	fs := e.flags()
	grp := fs.String("group", "", "pick an edge of this `group`")
	region := fs.String("region", "", "prefer an edge in this `region`")
	pos, err := e.parse(fs, args, "APP/STREAM")
	if err != nil {
		return err
	}
	return routeCmd(e, "play", pos[0], url.Values{"group": {*grp}, "region": {*region}})
}

// routeCmd asks the public routing API where a publisher or viewer of stream should go.
func routeCmd(e *env, kind, stream string, q url.Values) error {
	app, name, ok := strings.Cut(stream, "/")
	if !ok || app == "" || name == "" || strings.Contains(name, "/") {
		return usagef("%s: want APP/STREAM, e.g. live/cam1, not %q", e.cmd.name, stream)
	}
	for k, v := range q {
		if v[0] == "" {
			delete(q, k)
		}
	}
	path := p("/api/v1/route/"+kind, app, name)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return show(e, http.MethodGet, path, nil, routeText)
}

func routeText(w io.Writer, r apitypes.Route) error {
	kv := []string{"Stream", r.Stream, "Node", r.NodeID, "Role", string(r.Role), "Region", orDash(r.Region)}
	for _, u := range [][2]string{{"RTMP", r.RTMPURL}, {"SRT", r.SRTURL}, {"WHIP", r.WHIPURL}, {"HLS", r.HLSURL}, {"WHEP", r.WHEPURL}} {
		if u[1] != "" {
			kv = append(kv, u[0], u[1])
		}
	}
	return fields(w, kv...).flush()
}

func recordCmd(e *env, args []string) error {
	fs := e.flags()
	stop := fs.Bool("stop", false, "stop recording the stream (its live publication's recording is stored at once)")
	pos, err := e.parse(fs, args, "APP/STREAM")
	if err != nil {
		return err
	}
	app, name, err := streamArg(e, pos[0])
	if err != nil {
		return err
	}
	method := http.MethodPut
	if *stop {
		method = http.MethodDelete
	}
	return show(e, method, p("/api/v1/streams", app, name, "recording"), nil, func(w io.Writer, a apitypes.Recording) error {
		verb := "recorded (a live publication from its next segment, the next ones whole)"
		if !a.Recording {
			verb = "no longer recorded"
		}
		_, err := fmt.Fprintf(w, "%s is %s by %s\n", a.Stream, verb, strings.Join(a.Nodes, ", "))
		return err
	})
}
