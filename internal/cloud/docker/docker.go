// Package docker is the cloud controller that runs each node as a container on one Docker Engine.
package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Name is the controller's registered name.
const Name = "docker"

// settingKeys are the settings New understands; any other is a mistake worth an error.
var settingKeys = []string{"host", "network", "publishPorts", "hostIP", "stopTimeout", "labelPrefix", "portBase"}

// hostNetwork is the network setting that puts containers in the host's network namespace.
const hostNetwork = "host"

// portsPerNode is the size of the block of host ports a node gets on the host network: RTMP, HTTP, SRT
// and WebRTC (UDP and ICE-TCP on one number) take the first four (setHostPorts), the rest is room to grow.
const portsPerNode = 10

func init() {
	cloud.Register(Name, func(s cloud.Settings, o cloud.Options) (cloud.Controller, error) {
		return New(s, o.Log)
	})
}

var (
	_ cloud.Controller = (*Controller)(nil)
	_ cloud.Closer     = (*Controller)(nil)
)

// Controller launches nodes as containers. It keeps no state: the containers' labels are the record, so a
// restarted manager lists the nodes an earlier one launched.
type Controller struct {
	client      *client.Client
	network     string     // "" = Docker's default bridge; "host" = the host's network namespace
	publish     bool       // publish the node's ports on random host ports (not on the host network)
	hostIP      netip.Addr // they are bound to; on the host network, the address the nodes listen on
	portBase    int        // on the host network, the first port of the blocks handed to nodes
	stopTimeout time.Duration
	prefix      string // of the label keys, "nagare.video/"
	log         *slog.Logger

	launching sync.Mutex // one Launch at a time picks a free block of host ports
}

// New makes a controller from its settings, with a client for the host setting (default: $DOCKER_HOST,
// else the local socket; $DOCKER_API_VERSION, $DOCKER_CERT_PATH and $DOCKER_TLS_VERIFY apply as for the
// docker CLI). The API version is negotiated with the daemon on the first call. It logs through log, scoped
// with cloud.Logger (nil: nowhere).
func New(s cloud.Settings, log *slog.Logger) (*Controller, error) {
	opts := []client.Opt{client.FromEnv}
	if host := s.Get("host", ""); host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: docker client: %w", cloud.ErrSettings, err)
	}
	c, err := NewWithClient(cli, s, log)
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	return c, nil
}

// NewWithClient makes a controller that talks to the daemon through cli; the host setting is ignored. It
// logs through log, scoped with cloud.Logger (nil: nowhere).
func NewWithClient(cli *client.Client, s cloud.Settings, log *slog.Logger) (*Controller, error) {
	if err := s.Only(settingKeys...); err != nil {
		return nil, err
	}
	c := &Controller{
		client:  cli,
		network: s.Get("network", ""),
		prefix:  s.Get("labelPrefix", "nagare.video/"),
		log:     cloud.Logger(log, Name),
	}
	var err error
	if c.publish, err = strconv.ParseBool(s.Get("publishPorts", "true")); err != nil {
		return nil, fmt.Errorf("%w: publishPorts=%q is not true or false", cloud.ErrSettings, s["publishPorts"])
	}
	if c.hostIP, err = netip.ParseAddr(s.Get("hostIP", "127.0.0.1")); err != nil {
		return nil, fmt.Errorf("%w: hostIP=%q is not an IP address", cloud.ErrSettings, s["hostIP"])
	}
	if c.stopTimeout, err = s.Duration("stopTimeout", 15*time.Second); err != nil {
		return nil, err
	}
	if c.portBase, err = strconv.Atoi(s.Get("portBase", "20000")); err != nil || c.portBase < 1024 || c.portBase > 65535-portsPerNode {
		return nil, fmt.Errorf("%w: portBase=%q is not a port between 1024 and %d", cloud.ErrSettings, s["portBase"], 65535-portsPerNode)
	}
	return c, nil
}

// Name implements cloud.Controller.
func (c *Controller) Name() string { return Name }

// Close releases the client's connections; the containers go on running. It implements cloud.Closer.
func (c *Controller) Close(context.Context) error { return c.client.Close() }

// Launch creates and starts the node's container and returns it running. The image must already be on the
// Docker host: the controller does not pull (a pull can take minutes, and which registry credentials to
// use is the operator's business: `docker pull` it, or build it there).
func (c *Controller) Launch(ctx context.Context, spec cloud.Spec) (cloud.Instance, error) {
	if err := spec.Validate(); err != nil {
		return cloud.Instance{}, err
	}
	if spec.Image == "" {
		return cloud.Instance{}, fmt.Errorf("%w: no image", cloud.ErrInvalidSpec)
	}
	env := spec.ContainerEnv()
	block := -1
	if c.network == hostNetwork {
		// one network namespace for every node: the controller gives each a block of ports of its own
		c.launching.Lock()
		defer c.launching.Unlock()
		var err error
		if block, err = c.freeBlock(ctx); err != nil {
			return cloud.Instance{}, err
		}
		c.setHostPorts(env, spec, block)
	}
	ports := []network.Port{
		portOf(env[cloud.EnvRTMPAddress], 1935, network.TCP),
		portOf(env[cloud.EnvSRTAddress], 8890, network.UDP),
		portOf(env[cloud.EnvHTTPAddress], 8080, network.TCP),
		portOf(env[cloud.EnvWebRTCAddress], 8189, network.UDP),
		portOf(env[cloud.EnvWebRTCAddress], 8189, network.TCP),
	}
	stopSecs := int(math.Ceil(c.stopTimeout.Seconds()))
	cfg := &container.Config{
		Image:        spec.Image,
		Cmd:          []string{"node"},
		Env:          envList(env),
		Labels:       c.labels(spec),
		ExposedPorts: network.PortSet{},
		StopTimeout:  &stopSecs,
	}
	host := &container.HostConfig{
		// The autoscaler replaces a dead node under a new id; a restarted one would come back as a node
		// the manager has already written off.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	for _, p := range ports {
		cfg.ExposedPorts[p] = struct{}{}
	}
	if block >= 0 {
		cfg.Labels[c.prefix+"port-block"] = strconv.Itoa(block)
	}
	if c.publish && c.network != hostNetwork {
		host.PortBindings = network.PortMap{}
		for _, p := range ports {
			host.PortBindings[p] = []network.PortBinding{{HostIP: c.hostIP}} // no HostPort: a random one
		}
	}
	var netCfg *network.NetworkingConfig
	if c.network == hostNetwork {
		host.NetworkMode = hostNetwork
	} else if c.network != "" {
		host.NetworkMode = container.NetworkMode(c.network)
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{c.network: {}}}
	}
	name := containerName(spec.NodeID)
	created, err := c.client.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name, Config: cfg, HostConfig: host, NetworkingConfig: netCfg,
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return cloud.Instance{}, fmt.Errorf("creating container %s for node %s: image %s is not on the Docker host "+
				"(the docker controller does not pull images): %w", name, spec.NodeID, spec.Image, err)
		}
		return cloud.Instance{}, fmt.Errorf("creating container %s for node %s: %w", name, spec.NodeID, err)
	}
	if _, err := c.client.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		// a container that never started would otherwise linger under the node's name
		if _, rmErr := c.client.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true}); rmErr != nil {
			c.log.Warn("removing a container that did not start", "node", spec.NodeID, "container", created.ID, "err", rmErr)
		}
		return cloud.Instance{}, fmt.Errorf("starting container %s for node %s: %w", name, spec.NodeID, err)
	}
	c.log.Info("node launched", "node", spec.NodeID, "container", name, "id", shortID(created.ID), "role", spec.Role,
		"group", spec.Group, "image", spec.Image)
	return cloud.Instance{
		ID: created.ID, NodeID: spec.NodeID, Group: spec.Group, Role: spec.Role,
		State: nodemodel.StateRunning, LaunchedAt: time.Now(),
	}, nil
}

func (c *Controller) labels(spec cloud.Spec) map[string]string {
	return map[string]string{
		c.prefix + "node-id":     spec.NodeID,
		c.prefix + "group":       spec.Group,
		c.prefix + "role":        string(spec.Role),
		"app.kubernetes.io/name": "nagare",
	}
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// portOf is the container port of a listen address like ":8080", or def when it names none.
func portOf(addr string, def uint16, proto network.IPProtocol) network.Port {
	num := def
	if _, p, err := net.SplitHostPort(addr); err == nil {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil && n != 0 {
			num = uint16(n)
		}
	}
	port, _ := network.PortFrom(num, proto)
	return port
}

// containerName is "nagare-<node id>" with what Docker refuses in a name replaced; an id that had to be
// changed gets a hash of the original appended, so that two ids never share a name.
func containerName(nodeID string) string {
	want := "nagare-" + nodeID
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, want)
	if name == want {
		return name
	}
	sum := sha256.Sum256([]byte(want))
	return name + "-" + hex.EncodeToString(sum[:4])
}

func shortID(id string) string { return id[:min(len(id), 12)] }

// Terminate stops the node's container (SIGTERM, then SIGKILL after stopTimeout) and removes it.
func (c *Controller) Terminate(ctx context.Context, nodeID string) error {
	res, err := c.client.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", c.prefix+"node-id="+nodeID),
	})
	if err != nil {
		return fmt.Errorf("finding the container of node %s: %w", nodeID, err)
	}
	timeout := int(math.Ceil(c.stopTimeout.Seconds()))
	for _, ctr := range res.Items {
		if ctr.Labels[c.prefix+"node-id"] != nodeID {
			continue // the daemon filtered already; this is belt and braces
		}
		c.log.Info("node terminating", "node", nodeID, "id", shortID(ctr.ID), "stopTimeout", c.stopTimeout)
		_, err := c.client.ContainerStop(ctx, ctr.ID, client.ContainerStopOptions{Timeout: &timeout})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stopping container %s of node %s: %w", shortID(ctr.ID), nodeID, err)
		}
		_, err = c.client.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		// Conflict: another removal is in progress, which ends the same way.
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			return fmt.Errorf("removing container %s of node %s: %w", shortID(ctr.ID), nodeID, err)
		}
	}
	return nil
}

// List returns the containers labelled with a node id, by node id; exited ones stay until removed.
func (c *Controller) List(ctx context.Context) ([]cloud.Instance, error) {
	res, err := c.client.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", c.prefix+"node-id"),
	})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	out := make([]cloud.Instance, 0, len(res.Items))
	for _, ctr := range res.Items {
		inst := cloud.Instance{
			ID:         ctr.ID,
			NodeID:     ctr.Labels[c.prefix+"node-id"],
			Group:      ctr.Labels[c.prefix+"group"],
			Role:       nodemodel.Role(ctr.Labels[c.prefix+"role"]),
			State:      state(ctr.State),
			Address:    c.address(ctr),
			LaunchedAt: time.Unix(ctr.Created, 0),
			Image:      ctr.Image,
		}
		if inst.State == nodemodel.StateTerminated {
			inst.Reason = ctr.Status // "Exited (137) 5 seconds ago"
		}
		out = append(out, inst)
	}
	slices.SortFunc(out, func(a, b cloud.Instance) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out, nil
}

func state(s container.ContainerState) nodemodel.State {
	switch s {
	case container.StateRunning, container.StateRestarting, container.StatePaused:
		return nodemodel.StateRunning
	case container.StateRemoving:
		return nodemodel.StateTerminating
	case container.StateExited, container.StateDead:
		return nodemodel.StateTerminated
	default: // created, or a state this client does not know yet
		return nodemodel.StatePending
	}
}

// address is the container's IP on the configured network, else on the first network it has one on; on
// the host network, the address the nodes listen on.
func (c *Controller) address(ctr container.Summary) string {
	if c.network == hostNetwork {
		return c.hostIP.String()
	}
	if ctr.NetworkSettings == nil {
		return ""
	}
	nets := ctr.NetworkSettings.Networks
	if ep := nets[c.network]; ep != nil && ep.IPAddress.IsValid() {
		return ep.IPAddress.String()
	}
	for _, name := range slices.Sorted(maps.Keys(nets)) {
		if ep := nets[name]; ep != nil && ep.IPAddress.IsValid() {
			return ep.IPAddress.String()
		}
	}
	return ""
}

// freeBlock is the lowest block of host ports that no container of this controller holds (exited ones
// included, until they are removed: their node may still be written off with its ports in the registry).
func (c *Controller) freeBlock(ctx context.Context) (int, error) {
	res, err := c.client.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", c.prefix+"port-block"),
	})
	if err != nil {
		return 0, fmt.Errorf("listing containers for a free block of ports: %w", err)
	}
	used := map[int]bool{}
	for _, ctr := range res.Items {
		if n, err := strconv.Atoi(ctr.Labels[c.prefix+"port-block"]); err == nil {
			used[n] = true
		}
	}
	for b := 0; c.portBase+(b+1)*portsPerNode <= 65535; b++ {
		if !used[b] {
			return b, nil
		}
	}
	return 0, fmt.Errorf("every block of %d host ports from portBase %d is taken", portsPerNode, c.portBase)
}

// setHostPorts sets the node's listen addresses in env to hostIP and the ports of block, except those the
// launch configuration set itself.
func (c *Controller) setHostPorts(env map[string]string, spec cloud.Spec, block int) {
	first := c.portBase + block*portsPerNode
	addrs := map[string]int{
		cloud.EnvRTMPAddress: first, cloud.EnvHTTPAddress: first + 1, cloud.EnvSRTAddress: first + 2,
		cloud.EnvWebRTCAddress: first + 3,
	}
	for k, port := range addrs {
		if _, set := spec.Env[k]; !set {
			env[k] = net.JoinHostPort(c.hostIP.String(), strconv.Itoa(port))
		}
	}
}
