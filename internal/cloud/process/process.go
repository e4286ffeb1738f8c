// Package process is the cloud controller that runs nodes as `nagare node` child processes on this machine.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Name is the controller's registered name.
const Name = "process"

// keepTerminated is how many terminated instances List keeps reporting before the oldest are forgotten.
const keepTerminated = 1000

func init() {
	cloud.Register(Name, func(s cloud.Settings, o cloud.Options) (cloud.Controller, error) {
		return New(s, o.Log)
	})
}

var (
	_ cloud.Controller = (*Controller)(nil)
	_ cloud.Closer     = (*Controller)(nil)
)

// Controller launches nodes as child processes. The children outlive the controller: nothing stops them
// unless Terminate or Close is called, so the manager decides what happens to them when it shuts down.
type Controller struct {
	binary      string
	logDir      string
	workDir     string
	stopTimeout time.Duration
	// httpPort, when set, gives every node its own loopback address (127.0.0.2, 127.0.0.3 …) with HTTP on
	// this one port: players can then be moved between edges by content steering, which changes the host
	// of their URLs and keeps the port.
	httpPort int
	lastHost int // the last loopback address given out (its last byte)
	log      *slog.Logger

	mu    sync.Mutex
	procs map[string]*proc // by node id
	// gone lists terminated instances, oldest first, so that the oldest are forgotten past keep.
	gone []*proc
	keep int
}

// proc is one launched child. Its fields after done are guarded by Controller.mu.
type proc struct {
	cmd  *exec.Cmd
	inst cloud.Instance
	done chan struct{} // closed once the child has exited and been reaped
	kill *time.Timer   // SIGKILL escalation, armed by the first Terminate
}

// BinaryProperty is the launch configuration property naming the program a node runs, in place of the
// controller's binary: a new one (with a new nagare.version) rolls the group over to it.
const BinaryProperty = "process.binary"

// New makes a controller from its settings: binary, logDir, stopTimeout, workDir and httpPort. It logs through log,
// scoped with cloud.Logger (nil: nowhere).
func New(s cloud.Settings, log *slog.Logger) (*Controller, error) {
	log = cloud.Logger(log, Name)
	self, err := os.Executable()
	if err != nil {
		self = ""
	}
	binary := s.Get("binary", self)
	if binary == "" {
		return nil, fmt.Errorf("%w: binary is unset and the running executable is unknown", cloud.ErrSettings)
	}
	if binary, err = exec.LookPath(binary); err != nil {
		return nil, fmt.Errorf("%w: binary: %w", cloud.ErrSettings, err)
	}
	c := &Controller{
		binary:  binary,
		logDir:  s.Get("logDir", filepath.Join(os.TempDir(), "nagare-nodes")),
		workDir: s.Get("workDir", ""),
		log:     log,
		procs:   map[string]*proc{},
		keep:    keepTerminated,
	}
	if c.stopTimeout, err = s.Duration("stopTimeout", 15*time.Second); err != nil {
		return nil, err
	}
	if v := s.Get("httpPort", ""); v != "" {
		if c.httpPort, err = strconv.Atoi(v); err != nil || c.httpPort < 1 || c.httpPort > 65535 {
			return nil, fmt.Errorf("%w: httpPort %q is not a port", cloud.ErrSettings, v)
		}
	}
	if err := os.MkdirAll(c.logDir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: logDir: %w", cloud.ErrSettings, err)
	}
	if c.workDir != "" {
		if fi, err := os.Stat(c.workDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%w: workDir %q is not a directory", cloud.ErrSettings, c.workDir)
		}
	}
	return c, nil
}

// Name implements cloud.Controller.
func (c *Controller) Name() string { return Name }

// LogFile is where the node's stdout and stderr go.
func (c *Controller) LogFile(nodeID string) string { return filepath.Join(c.logDir, nodeID+".log") }

// Launch starts `<binary> node` and returns once the process exists, in state running. A node id whose
// previous process has terminated may be launched again; its log file is appended to.
func (c *Controller) Launch(ctx context.Context, spec cloud.Spec) (cloud.Instance, error) {
	if err := ctx.Err(); err != nil {
		return cloud.Instance{}, err
	}
	if err := spec.Validate(); err != nil {
		return cloud.Instance{}, err
	}
	// the node id names the log file
	if strings.ContainsAny(spec.NodeID, `/\`+"\x00") || spec.NodeID == "." || spec.NodeID == ".." {
		return cloud.Instance{}, fmt.Errorf("%w: node id %q cannot name a log file", cloud.ErrInvalidSpec, spec.NodeID)
	}

	binary := c.binary
	if b := spec.Properties[BinaryProperty]; b != "" {
		var err error
		if binary, err = exec.LookPath(b); err != nil {
			return cloud.Instance{}, fmt.Errorf("%w: %s: %w", cloud.ErrInvalidSpec, BinaryProperty, err)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.procs[spec.NodeID]; ok && old.inst.State != nodemodel.StateTerminated {
		return cloud.Instance{}, fmt.Errorf("%w: node %s already runs as pid %s", cloud.ErrInvalidSpec, spec.NodeID, old.inst.ID)
	}
	host := "127.0.0.1"
	if c.httpPort != 0 {
		var err error
		if host, err = c.freeHost(); err != nil {
			return cloud.Instance{}, fmt.Errorf("launching node %s: %w", spec.NodeID, err)
		}
	}
	logFile, err := os.OpenFile(c.LogFile(spec.NodeID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return cloud.Instance{}, fmt.Errorf("opening the node's log: %w", err)
	}
	// the child holds its own descriptor once started
	defer logFile.Close()

	var cmd *exec.Cmd
	for attempt := 1; ; attempt++ {
		cmd = exec.Command(binary, "node")
		cmd.Dir = c.workDir
		cmd.Env = nodeEnv(os.Environ(), spec, host, c.httpPort)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		// Its own process group: a Ctrl-C at the terminal reaches the manager only, which then decides
		// whether to stop its nodes, and SIGKILL can take down whatever the node started.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err = cmd.Start()
		if err == nil {
			break
		}
		// "text file busy": the binary is open for writing somewhere — being replaced by a deploy, or a
		// descriptor of it inherited for a moment by a process forking meanwhile. It passes.
		if !errors.Is(err, syscall.ETXTBSY) || attempt == 5 {
			return cloud.Instance{}, fmt.Errorf("starting node %s: %w", spec.NodeID, err)
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
	p := &proc{
		cmd: cmd,
		inst: cloud.Instance{
			ID: strconv.Itoa(cmd.Process.Pid), NodeID: spec.NodeID, Group: spec.Group, Role: spec.Role,
			State: nodemodel.StateRunning, Address: host, LaunchedAt: time.Now(),
		},
		done: make(chan struct{}),
	}
	if old, ok := c.procs[spec.NodeID]; ok {
		c.gone = slices.DeleteFunc(c.gone, func(g *proc) bool { return g == old })
	}
	c.procs[spec.NodeID] = p
	c.log.Info("node launched", "node", spec.NodeID, "pid", cmd.Process.Pid, "role", spec.Role, "group", spec.Group,
		"log", c.LogFile(spec.NodeID))
	go c.wait(p)
	return p.inst, nil
}

// freeHost returns the next loopback address, from 127.0.0.2 to 127.0.0.254 in turn, that no running child
// holds and whose HTTP port is free (a node of an earlier manager may still hold one). In turn, so that an
// address is not given to a new node while players of the one that had it may still try it. The caller
// holds c.mu.
func (c *Controller) freeHost() (string, error) {
	held := map[string]bool{}
	for _, p := range c.procs {
		if p.inst.State != nodemodel.StateTerminated {
			held[p.inst.Address] = true
		}
	}
	for n := 0; n < 253; n++ {
		i := 2 + (max(c.lastHost-2+1, 0)+n)%253
		host := "127.0.0." + strconv.Itoa(i)
		if held[host] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(c.httpPort)))
		if err != nil {
			continue
		}
		ln.Close()
		c.lastHost = i
		return host, nil
	}
	return "", fmt.Errorf("no loopback address from 127.0.0.2 to 127.0.0.254 has port %d free", c.httpPort)
}

// nodeEnv is the child's environment: ours, then the defaults a local node needs, then the spec's own
// variables, which win (exec uses the last value of a duplicated key). The node listens on host; on port 0
// (several nodes share this machine, each advertises the ports it bound to the manager) except for HTTP
// when httpPort is set.
func nodeEnv(base []string, spec cloud.Spec, host string, httpPort int) []string {
	port0 := net.JoinHostPort(host, "0")
	defaults := map[string]string{
		"NAGARE_RTMP_ADDRESS":  port0,
		"NAGARE_SRT_ADDRESS":   port0,
		"NAGARE_HTTP_ADDRESS":  net.JoinHostPort(host, strconv.Itoa(httpPort)),
		cloud.EnvWebRTCAddress: port0,
		cloud.EnvRole:          string(spec.Role),
		cloud.EnvNodeID:        spec.NodeID,
		cloud.EnvGroup:         spec.Group,
		cloud.EnvRegion:        spec.Region,
		cloud.EnvZone:          spec.Zone,
	}
	env := slices.Clip(base)
	for _, k := range slices.Sorted(maps.Keys(defaults)) {
		if _, set := spec.Env[k]; !set && defaults[k] != "" {
			env = append(env, k+"="+defaults[k])
		}
	}
	return append(env, spec.EnvList()...)
}

// wait reaps the child and records how it ended.
func (c *Controller) wait(p *proc) {
	_ = p.cmd.Wait() // the ProcessState says it all
	reason := p.cmd.ProcessState.String()
	c.mu.Lock()
	if p.kill != nil {
		p.kill.Stop()
	}
	p.inst.State, p.inst.Reason = nodemodel.StateTerminated, reason
	c.gone = append(c.gone, p)
	for len(c.gone) > c.keep {
		if old := c.gone[0]; c.procs[old.inst.NodeID] == old {
			delete(c.procs, old.inst.NodeID)
		}
		c.gone = c.gone[1:]
	}
	c.mu.Unlock()
	close(p.done)
	c.log.Info("node exited", "node", p.inst.NodeID, "pid", p.inst.ID, "role", p.inst.Role, "reason", reason)
}

// Terminate sends the node SIGTERM and waits for it to exit; a node still running stopTimeout later gets
// SIGKILL, even when ctx ends first (Terminate then returns ctx's error and the node stays terminating).
// An unknown or exited node is not an error.
func (c *Controller) Terminate(ctx context.Context, nodeID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	p, ok := c.procs[nodeID]
	if !ok || p.inst.State == nodemodel.StateTerminated {
		c.mu.Unlock()
		return nil
	}
	if p.kill == nil {
		p.inst.State = nodemodel.StateTerminating
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			c.log.Warn("signalling node", "node", nodeID, "pid", p.inst.ID, "signal", "SIGTERM", "err", err)
		}
		p.kill = time.AfterFunc(c.stopTimeout, func() { c.forceKill(p) })
		c.log.Info("node terminating", "node", nodeID, "pid", p.inst.ID, "role", p.inst.Role, "stopTimeout", c.stopTimeout)
	}
	c.mu.Unlock()

	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for node %s (pid %s) to exit: %w", nodeID, p.inst.ID, ctx.Err())
	}
}

// forceKill ends a node that outlived its stop timeout, with the processes it started.
func (c *Controller) forceKill(p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	c.log.Warn("node ignored SIGTERM, killing it", "node", p.inst.NodeID, "pid", p.inst.ID, "role", p.inst.Role,
		"stopTimeout", c.stopTimeout)
	// The whole group (its id is the pid), so that what the node started dies with it. done is still
	// open, so the child was at most just reaped: its pid cannot have become another group's yet.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.log.Warn("signalling node", "node", p.inst.NodeID, "pid", p.inst.ID, "signal", "SIGKILL", "err", err)
	}
}

// Close terminates every running node, all at once, and waits for them (see Terminate): the manager calls
// it when it shuts down, so that no node outlives the `nagare all` that started it. It implements
// cloud.Closer.
func (c *Controller) Close(ctx context.Context) error {
	c.mu.Lock()
	var ids []string
	for id, p := range c.procs {
		if p.inst.State != nodemodel.StateTerminated {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = c.Terminate(ctx, id) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// List returns every node launched and not yet forgotten, by node id.
func (c *Controller) List(ctx context.Context) ([]cloud.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	out := make([]cloud.Instance, 0, len(c.procs))
	for _, p := range c.procs {
		out = append(out, p.inst)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b cloud.Instance) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out, nil
}
