// Package cloud is the contract between the stream manager's autoscaler and the places nodes run: a
// Controller launches, lists and terminates nodes on one provider (local processes, Docker, Kubernetes,
// AWS EC2, or a simulation). Controllers register themselves by name from their own package's init, and
// the manager picks one by configuration:
//
//	import _ "github.com/nagare-video/nagare/internal/cloud/process"
//	c, err := cloud.New("process", settings, cloud.Options{Log: logger})
package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Instance states are the first and last lifecycle states of a node (nodemodel.StatePending, nodemodel.StateRunning,
// nodemodel.StateTerminating, nodemodel.StateTerminated), onto which every controller maps its provider's states; "inservice"
// and "draining" are the manager's to decide. pending: asked for, not running yet (booting, image pull,
// scheduling); running: the instance runs, the node in it may not have registered yet; terminating: being
// stopped; terminated: gone (stopped, failed, deleted, or unknown to the provider).

// Errors every controller wraps.
var (
	// ErrNotFound: the provider does not know the instance (terminating it again is not an error).
	ErrNotFound = errors.New("instance not found")
	// ErrInvalidSpec: the spec lacks something the controller needs (image, role, node id …).
	ErrInvalidSpec = errors.New("invalid launch spec")
	// ErrUnknownController: no controller is registered under that name.
	ErrUnknownController = errors.New("unknown cloud controller")
	// ErrSettings: the controller's settings are wrong or incomplete.
	ErrSettings = errors.New("invalid cloud controller settings")
)

// Spec is one node to launch.
type Spec struct {
	// NodeID is the identity the manager gave the node; the node registers with it. Controllers tag,
	// label or name the instance with it so that List can map instances back to nodes.
	NodeID string
	Group  string
	Role   nodemodel.Role
	Region string
	Zone   string
	// Image is the launch configuration's image (an AMI id, a container image; unused by process).
	Image string
	// InstanceType is the launch configuration's type for the role (an EC2 type, a resource class).
	InstanceType string
	// Env is the node's settings as NAGARE_* environment variables (manager URL, cluster secret, role,
	// node id, group …): what every provider can hand to a process. It holds the cluster secret: a
	// controller never logs it.
	Env map[string]string
	// Properties are the launch configuration's free-form properties (provider options).
	Properties map[string]string
}

// Validate checks the fields every controller needs.
func (s Spec) Validate() error {
	switch {
	case s.NodeID == "":
		return fmt.Errorf("%w: no node id", ErrInvalidSpec)
	case s.Role == "":
		return fmt.Errorf("%w: no role", ErrInvalidSpec)
	}
	return nil
}

// EnvList returns Env as sorted KEY=VALUE strings.
func (s Spec) EnvList() []string {
	out := make([]string, 0, len(s.Env))
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		out = append(out, k+"="+s.Env[k])
	}
	return out
}

// Instance is what a provider says about one node it runs.
type Instance struct {
	// ID is the provider's identifier (pid, container id, pod name, EC2 instance id).
	ID     string          `json:"id"`
	NodeID string          `json:"nodeId"`
	Group  string          `json:"group"`
	Role   nodemodel.Role  `json:"role"`
	State  nodemodel.State `json:"state"` // pending, running, terminating or terminated
	// Address is the host the node is reachable at, when the provider knows it (private IP, pod IP).
	Address    string    `json:"address,omitempty"`
	LaunchedAt time.Time `json:"launchedAt"`
	// Reason says why the instance is in its state when the provider says ("exit status 1", "OOMKilled").
	Reason string `json:"reason,omitempty"`
	// Image is what the instance was made from, where the provider says (container image, AMI id): a
	// launch configuration's new image makes the instances of the old one outdated (a rolling upgrade).
	Image string `json:"image,omitempty"`
}

// Controller launches and terminates nodes on one provider. Implementations are safe for concurrent use.
type Controller interface {
	// Name is the registered name ("process", "aws" …).
	Name() string
	// Launch starts one node and returns at once (the instance is usually pending).
	Launch(ctx context.Context, spec Spec) (Instance, error)
	// Terminate stops the node's instance: gracefully first where the provider can, then for good.
	// Terminating an instance that is already gone returns nil.
	Terminate(ctx context.Context, nodeID string) error
	// List returns the instances this controller manages, terminated ones it still knows included.
	List(ctx context.Context) ([]Instance, error)
}

// Settings are a controller's options from configuration (cloud.settings in YAML).
type Settings map[string]string

// Only returns an ErrSettings error naming the first setting that is not among known: a misspelt key is
// a mistake worth an error, not a silent default.
func (s Settings) Only(known ...string) error {
	for k := range s {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%w: unknown setting %q (known: %s)", ErrSettings, k, strings.Join(known, ", "))
		}
	}
	return nil
}

// Get returns the setting or def when it is unset or empty.
func (s Settings) Get(key, def string) string {
	if v, ok := s[key]; ok && v != "" {
		return v
	}
	return def
}

// Duration reads a Go duration setting.
func (s Settings) Duration(key string, def time.Duration) (time.Duration, error) {
	v, ok := s[key]
	if !ok || v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: %s=%q is not a duration like 5s", ErrSettings, key, v)
	}
	return d, nil
}

// Options are what the manager hands every controller besides its settings.
type Options struct {
	// Log is the manager's logger (its format and level); the controller scopes it with Logger. Nil
	// discards the controller's logs.
	Log *slog.Logger
}

// Logger returns log scoped to the controller registered as name (component=cloud, controller=name), or a
// logger that discards when log is nil. Controllers call it on the logger they are given.
func Logger(log *slog.Logger, name string) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log.With("component", "cloud", "controller", name)
}

// Closer is implemented by a controller that holds something to give back when the manager shuts down
// (after its autoscaler has stopped): local node processes that would outlive the manager, a client's
// connections. Instances of a real cloud are left running: they are the cluster, and the next manager
// finds them through List. The manager calls Close once, with a deadline.
type Closer interface {
	Close(ctx context.Context) error
}

// Factory makes a controller from its settings and options.
type Factory func(s Settings, o Options) (Controller, error)

var (
	regMu     sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a controller available under name; controllers call it from init. It panics on a
// duplicate name, a programming error.
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := factories[name]; dup {
		panic("cloud: controller " + name + " registered twice")
	}
	factories[name] = f
}

// Names lists the registered controllers.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := slices.Collect(maps.Keys(factories))
	sort.Strings(out)
	return out
}

// New makes the controller registered under name from its settings, with o (see Options). When the
// controller implements Closer, the caller closes it when done.
func New(name string, s Settings, o Options) (Controller, error) {
	regMu.RLock()
	f := factories[name]
	regMu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownController, name, strings.Join(Names(), ", "))
	}
	c, err := f(s, o)
	if err != nil {
		return nil, fmt.Errorf("cloud controller %s: %w", name, err)
	}
	return c, nil
}

// Env names of the node settings a controller hands to the node (see config.EnvName).
const (
	EnvRole          = "NAGARE_NODE_ROLE"
	EnvManagerURL    = "NAGARE_CLUSTER_MANAGER_URL"
	EnvClusterSecret = "NAGARE_CLUSTER_SECRET"
	EnvNodeID        = "NAGARE_CLUSTER_NODE_ID"
	EnvGroup         = "NAGARE_CLUSTER_GROUP"
	EnvRegion        = "NAGARE_CLUSTER_REGION"
	EnvZone          = "NAGARE_CLUSTER_ZONE"
	EnvRTMPAddress   = "NAGARE_RTMP_ADDRESS"
	EnvSRTAddress    = "NAGARE_SRT_ADDRESS"
	EnvHTTPAddress   = "NAGARE_HTTP_ADDRESS"
	EnvWebRTCAddress = "NAGARE_WEBRTC_ADDRESS"
)

// ContainerEnv is the environment of a node in a container or a machine of its own: it listens on the
// standard ports and knows its identity from the spec; the spec's own variables win.
func (s Spec) ContainerEnv() map[string]string {
	env := map[string]string{
		EnvRTMPAddress: ":1935", EnvSRTAddress: ":8890", EnvHTTPAddress: ":8080", EnvWebRTCAddress: ":8189",
		EnvRole: string(s.Role), EnvNodeID: s.NodeID, EnvGroup: s.Group, EnvRegion: s.Region, EnvZone: s.Zone,
	}
	maps.DeleteFunc(env, func(_, v string) bool { return v == "" })
	maps.Copy(env, s.Env)
	return env
}
